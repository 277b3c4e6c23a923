//! Span-aware error messages: field paths, positions in the file, and their rendering.

use super::toml_form::{fault_keys_problem, fault_kind_names};

/// Why a scenario cannot run: the field at fault, as a path into the file (`fault[2].target`,
/// `cluster.brokers`), and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A part of a field path: `fault[2].target` is `fault`, `[2]`, `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next() {
            if !key.is_empty() {
                steps.push(Step::Key(key.to_string()));
            }
        }
        for index in pieces {
            if let Ok(index) = index.trim_end_matches(']').parse() {
                steps.push(Step::Index(index));
            }
        }
    }
    steps
}

fn path_to_string(steps: &[Step]) -> String {
    let mut text = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

type Node<'i> = toml::Spanned<toml::de::DeValue<'i>>;

/// Where a field is in the file: its value, or — when the file leaves it out — the table that
/// should hold it (a `[[producer]]` header); None when there is nothing to point at.
pub(super) fn locate(root: &toml::de::DeTable<'_>, field: &str) -> Option<std::ops::Range<usize>> {
    let mut table = root;
    let mut found: Option<&Node<'_>> = None;
    let mut steps = parse_path(field).into_iter().peekable();
    while let Some(step) = steps.next() {
        let next = match (&step, found) {
            (Step::Key(key), _) => table.get(key.as_str()),
            (Step::Index(index), Some(node)) => match node.get_ref() {
                toml::de::DeValue::Array(array) => array.get(*index),
                _ => None,
            },
            (Step::Index(_), None) => None,
        };
        let Some(next) = next else {
            // Not in the file: the table that would hold it, if it is one.
            return found
                .map(|node| node.span())
                .filter(|span| !span.is_empty());
        };
        found = Some(next);
        if let toml::de::DeValue::Table(inner) = next.get_ref() {
            table = inner;
        } else if steps
            .peek()
            .is_some_and(|step| matches!(step, Step::Key(_)))
        {
            return Some(next.span());
        }
    }
    found.map(|node| node.span())
}

/// The field at `offset`: the deepest key or value whose span holds it (an array-of-tables
/// element is found by its keys, or by its `[[header]]`).
fn path_at(table: &toml::de::DeTable<'_>, offset: usize, path: &mut Vec<Step>) -> bool {
    for (key, value) in table.iter() {
        path.push(Step::Key(key.get_ref().to_string()));
        if key.span().contains(&offset) || value_at(value, offset, path) {
            return true;
        }
        path.pop();
    }
    false
}

fn value_at(value: &Node<'_>, offset: usize, path: &mut Vec<Step>) -> bool {
    let span = value.span();
    let holds = span.contains(&offset) || (span.is_empty() && span.start == offset);
    match value.get_ref() {
        toml::de::DeValue::Table(inner) => path_at(inner, offset, path) || holds,
        toml::de::DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                path.push(Step::Index(index));
                if value_at(element, offset, path) {
                    return true;
                }
                path.pop();
            }
            holds
        }
        _ => holds,
    }
}

/// A serde error from the file, with the field it is about named before its message.
pub(super) fn render_serde_error(
    text: &str,
    root: &toml::de::DeTable<'_>,
    error: &toml::de::Error,
) -> String {
    // An error about the whole document (a missing top-level key) has an empty span at 0.
    let span = error
        .span()
        .filter(|span| !(span.is_empty() && span.start == 0));
    let mut path = Vec::new();
    let field = match &span {
        Some(span) if path_at(root, span.start, &mut path) => Some(path_to_string(&path)),
        Some(_) => None,
        // `missing field `name``: the field is the missing one.
        None => error
            .message()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(field, _)| field.to_string()),
    };
    render_at(text, span, field.as_deref(), error.message())
}

/// `line L, column C: FIELD: MESSAGE`, then the line with the spot marked (as toml marks its
/// own errors); without a position, `FIELD: MESSAGE`.
pub(super) fn render_at(
    text: &str,
    span: Option<std::ops::Range<usize>>,
    field: Option<&str>,
    message: &str,
) -> String {
    let what = match field {
        Some(field) if !field.is_empty() => format!("{field}: {message}"),
        _ => message.to_string(),
    };
    let Some(span) = span else {
        return what;
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
    let line_number = text[..line_start].matches('\n').count() + 1;
    let content = text[line_start..line_end].trim_end_matches('\r');
    let column = text[line_start..start].chars().count() + 1;
    let width = text[start..span.end.clamp(start, line_end)]
        .chars()
        .count()
        .max(1);
    let gutter = " ".repeat(line_number.to_string().len());
    format!(
        "line {line_number}, column {column}: {what}\n{gutter} |\n{line_number} | {content}\n{gutter} | {}{}",
        " ".repeat(column - 1),
        "^".repeat(width)
    )
}

/// A problem with a `[[fault]]` table's keys, found on the parsed document.
pub(super) struct FaultTableProblem {
    /// Where its `[[fault]]` header starts (to report problems in file order).
    pub(super) table_start: usize,
    pub(super) span: std::ops::Range<usize>,
    pub(super) field: String,
    pub(super) message: String,
}

/// Checks each `[[fault]]` table's `kind` and keys against the kind, pointing at the key at
/// fault (or at the table, for a missing one).
pub(super) fn check_fault_tables(root: &toml::de::DeTable<'_>) -> Option<FaultTableProblem> {
    let toml::de::DeValue::Array(faults) = root.get("fault")?.get_ref() else {
        return None;
    };
    for (i, fault) in faults.iter().enumerate() {
        let toml::de::DeValue::Table(table) = fault.get_ref() else {
            continue;
        };
        let header = fault.span();
        let problem = |span: std::ops::Range<usize>, key: &str, message: String| {
            Some(FaultTableProblem {
                table_start: header.start,
                span,
                field: format!("fault[{i}].{key}"),
                message,
            })
        };
        let Some(kind) = table.get("kind") else {
            return problem(
                header.clone(),
                "kind",
                format!(
                    "missing: every [[fault]] has a kind (one of {})",
                    fault_kind_names()
                ),
            );
        };
        let Some(kind_name) = kind.get_ref().as_str() else {
            continue; // not a string: serde names the type
        };
        // Keys in file order, so the first bad one is reported.
        let mut keys: Vec<(&str, std::ops::Range<usize>)> = table
            .iter()
            .map(|(key, _)| {
                let name: &str = key.get_ref();
                (name, key.span())
            })
            .collect();
        keys.sort_by_key(|(_, span)| span.start);
        let present: Vec<&str> = keys.iter().map(|(key, _)| *key).collect();
        match fault_keys_problem(kind_name, &present) {
            None => {}
            Some((None, message)) => return problem(kind.span(), "kind", message),
            Some((Some(key), message)) => {
                let span = keys
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map_or(header.clone(), |(_, span)| span.clone());
                return problem(span, &key, message);
            }
        }
    }
    None
}
