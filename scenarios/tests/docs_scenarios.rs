//! `docs/scenarios.md` shows every named scenario's seed-1 file: each must be exactly what
//! `streamsim show --scenario NAME --seed 1` prints (the CLI prints `RunRequest::scenario()`'s
//! `to_toml()`, which this test calls). A drift fails with a line diff.

use scenarios::named::NAMED;
use scenarios::spec::Scenario;
use scenarios::RunRequest;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/scenarios.md");

/// What `streamsim show --scenario NAME --seed SEED` prints.
fn show(name: &str, seed: u64) -> String {
    RunRequest::named(name, seed)
        .scenario()
        .unwrap_or_else(|error| panic!("{name}: {error}"))
        .to_toml()
}

/// One `### `NAME`` section of the doc: its first paragraph and its ```toml block.
struct Section {
    name: String,
    heading_line: usize,
    paragraph: String,
    toml: Option<(usize, String)>,
}

fn sections(doc: &str) -> Vec<Section> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut sections = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = lines[i]
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        else {
            i += 1;
            continue;
        };
        let heading_line = i + 1;
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].starts_with("#"))
            .unwrap_or(lines.len());
        let body = &lines[i + 1..end];
        let paragraph = body
            .iter()
            .skip_while(|line| line.trim().is_empty())
            .take_while(|line| !line.trim().is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let toml = body.iter().position(|line| *line == "```toml").map(|open| {
            let close = body[open + 1..]
                .iter()
                .position(|line| *line == "```")
                .map(|at| open + 1 + at)
                .unwrap_or_else(|| panic!("{name}: the ```toml block is never closed"));
            let mut text = body[open + 1..close].join("\n");
            text.push('\n');
            (i + 1 + open + 2, text)
        });
        sections.push(Section {
            name: name.to_string(),
            heading_line,
            paragraph,
            toml,
        });
        i = end;
    }
    sections
}

/// A line diff (longest common subsequence), `-` for the doc, `+` for `show`, with line
/// numbers in the doc; only the changed lines and one line of context around them.
fn diff(doc: &str, doc_first_line: usize, shown: &str) -> String {
    let a: Vec<&str> = doc.lines().collect();
    let b: Vec<&str> = shown.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        ops[k.saturating_sub(1)..(k + 2).min(ops.len())]
            .iter()
            .any(|(op, _, _)| *op != ' ')
    };
    let mut out = String::new();
    for (k, (op, at, line)) in ops.iter().enumerate() {
        if near_change(k) {
            let number = if *op == '+' {
                String::new()
            } else {
                (doc_first_line + at).to_string()
            };
            out.push_str(&format!("{op} {number:>4} | {line}\n"));
        }
    }
    out
}

#[test]
fn every_named_scenario_has_its_seed_1_file_in_the_doc_and_it_is_what_show_prints() {
    let doc = std::fs::read_to_string(DOC_PATH).expect("read docs/scenarios.md");
    let sections = sections(&doc);
    let mut problems = Vec::new();
    for named in NAMED {
        let Some(section) = sections.iter().find(|s| s.name == named.name) else {
            problems.push(format!(
                "docs/scenarios.md has no \"### `{}`\" section",
                named.name
            ));
            continue;
        };
        let scenario = RunRequest::named(named.name, 1).scenario().unwrap();
        let sentence = format!("{}.", scenario.description);
        if section.paragraph != sentence {
            problems.push(format!(
                "docs/scenarios.md line {}: `{}` is introduced as\n  {:?}\nbut its description is\n  {:?}",
                section.heading_line, named.name, section.paragraph, sentence
            ));
        }
        let shown = show(named.name, 1);
        match &section.toml {
            None => problems.push(format!(
                "docs/scenarios.md line {}: `{}` has no ```toml block",
                section.heading_line, named.name
            )),
            Some((first_line, text)) if *text != shown => problems.push(format!(
                "docs/scenarios.md line {first_line}: the seed-1 file of `{}` differs from \
                 `streamsim show --scenario {} --seed 1` (- doc, + show):\n{}",
                named.name,
                named.name,
                diff(text, *first_line, &shown)
            )),
            Some(_) => {}
        }
    }
    for section in &sections {
        if !NAMED.iter().any(|named| named.name == section.name) {
            problems.push(format!(
                "docs/scenarios.md line {}: `{}` is not a named scenario",
                section.heading_line, section.name
            ));
        }
    }
    if !problems.is_empty() && std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(DOC_PATH, updated(&doc)).expect("write docs/scenarios.md");
        eprintln!("rewrote docs/scenarios.md:\n\n{}", problems.join("\n\n"));
        return;
    }
    assert!(
        problems.is_empty(),
        "docs/scenarios.md drifted from the named scenarios (UPDATE_DOCS=1 cargo test -p \
         scenarios --release --test docs_scenarios rewrites its seed-1 files and their \
         sentences):\n\n{}",
        problems.join("\n\n")
    );
}

/// The doc with each named scenario's sentence and seed-1 file replaced by the current ones.
fn updated(doc: &str) -> String {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut current: Option<&str> = None;
    let mut sentence_done = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(name) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            current = NAMED
                .iter()
                .find(|named| named.name == name)
                .map(|named| named.name);
            sentence_done = false;
            out.push(line.to_string());
            i += 1;
            continue;
        }
        if line.starts_with('#') {
            current = None;
        }
        match current {
            Some(name) if !sentence_done && !line.trim().is_empty() => {
                let scenario = RunRequest::named(name, 1).scenario().unwrap();
                out.push(format!("{}.", scenario.description));
                sentence_done = true;
                // Skip the rest of the old paragraph.
                while i + 1 < lines.len() && !lines[i + 1].trim().is_empty() {
                    i += 1;
                }
            }
            Some(name) if line == "```toml" => {
                out.push(line.to_string());
                out.extend(show(name, 1).lines().map(str::to_string));
                while i + 1 < lines.len() && lines[i + 1] != "```" {
                    i += 1;
                }
            }
            _ => out.push(line.to_string()),
        }
        i += 1;
    }
    let mut text = out.join("\n");
    if doc.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[test]
fn the_diff_shows_the_changed_lines_with_their_doc_line_numbers() {
    let shown = diff(
        "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n",
        10,
        "a = 1\nb = 5\nc = 3\nd = 4\ne = 5\n",
    );
    assert_eq!(
        shown,
        "    10 | a = 1\n-   11 | b = 2\n+      | b = 5\n    12 | c = 3\n"
    );
}

#[test]
fn every_named_scenario_reads_back_from_the_file_show_prints() {
    for named in NAMED {
        for seed in 1..=20 {
            let scenario = RunRequest::named(named.name, seed).scenario().unwrap();
            let text = scenario.to_toml();
            let back = Scenario::from_toml(&text)
                .unwrap_or_else(|error| panic!("{} seed {seed}: {error}\n{text}", named.name));
            assert_eq!(back, scenario, "{} seed {seed}", named.name);
        }
    }
}

#[test]
fn the_broken_file_in_the_doc_gets_the_message_the_doc_shows() {
    let doc = std::fs::read_to_string(DOC_PATH).expect("read docs/scenarios.md");
    let file_start = doc
        .find("```toml\n# broken.toml\n")
        .expect("docs/scenarios.md shows broken.toml")
        + "```toml\n".len();
    let file_end = file_start + doc[file_start..].find("```").expect("closed");
    let file = &doc[file_start..file_end];
    let console_start = file_end + doc[file_end..].find("```console\n").expect("its message");
    let console = &doc[console_start + "```console\n".len()..];
    let console = &console[..console.find("```").expect("closed")];
    let shown = console
        .split_once('\n')
        .map(|(_, rest)| rest.trim_end())
        .expect("a command line, then the message");
    let message = shown
        .strip_prefix("streamsim: broken.toml: ")
        .unwrap_or_else(|| panic!("the message starts with the file's name: {shown}"));
    let error = Scenario::from_toml(file).expect_err("broken.toml is broken");
    assert_eq!(
        message, error,
        "docs/scenarios.md shows another message than from_toml gives"
    );
}
