//! The facts the Markdown and HTML reports share, computed once from a [`RunReport`]: anomalies
//! grouped by kind, the events leading up to the first anomaly, the fault schedule in words, and
//! how times and long history lines are shown.

use scenarios::report::{Anomaly, FindingKind, RunReport, Verdict};
use scenarios::spec::TimedFault;
use serde_json::Value;
use std::borrow::Cow;

/// Anomalies of one kind whose proving lines are quoted; the further listed ones get one line each.
pub(crate) const ANOMALIES_QUOTED_PER_KIND_MAX: usize = 5;
/// Anomalies of one kind shown at all (quoted or on one line); the rest are only counted.
pub(crate) const ANOMALIES_SHOWN_PER_KIND_MAX: usize = 25;
/// History events shown before (and including) the first anomaly's last proving line.
pub(crate) const CONTEXT_EVENTS: u64 = 25;
/// A proving line longer than this (a poll of thousands of records) is cut, saying by how much.
pub(crate) const PROVING_LINE_CHARS_MAX: usize = 1_000;
/// Once the Markdown's quoted proving lines reach this many bytes, further anomalies get one
/// line each, so that the report fits an issue (GitHub takes 65,536 characters).
pub(crate) const MARKDOWN_QUOTES_BYTES_MAX: usize = 32_000;
/// A context line longer than this is cut, saying by how much.
pub(crate) const CONTEXT_LINE_CHARS_MAX: usize = 400;

/// The anomalies of one kind.
pub(crate) struct AnomalyGroup<'a> {
    pub kind: FindingKind,
    /// Exact number found (the report's `counts`; never below the number listed).
    pub count: u64,
    /// The listed anomalies of this kind with their index in `report.anomalies`.
    pub anomalies: Vec<(usize, &'a Anomaly)>,
}

/// Anomalies grouped by kind, kinds in the order of their first listed anomaly (run and setup
/// failures come first, then the oracle's kinds), then kinds only counted, by name.
pub(crate) fn anomaly_groups(report: &RunReport) -> Vec<AnomalyGroup<'_>> {
    let mut groups: Vec<AnomalyGroup<'_>> = Vec::new();
    for (index, anomaly) in report.anomalies.iter().enumerate() {
        match groups.iter_mut().find(|group| group.kind == anomaly.kind) {
            Some(group) => group.anomalies.push((index, anomaly)),
            None => groups.push(AnomalyGroup {
                kind: anomaly.kind,
                count: 0,
                anomalies: vec![(index, anomaly)],
            }),
        }
    }
    for kind in report.counts.keys() {
        if !groups.iter().any(|group| group.kind == *kind) {
            groups.push(AnomalyGroup {
                kind: *kind,
                count: 0,
                anomalies: Vec::new(),
            });
        }
    }
    for group in &mut groups {
        let counted = report.counts.get(&group.kind).copied().unwrap_or(0);
        group.count = counted.max(group.anomalies.len() as u64);
    }
    groups
}

/// Total anomalies found (exact counts, or the listed ones where a kind has no count).
pub(crate) fn anomalies_total(groups: &[AnomalyGroup<'_>]) -> u64 {
    groups.iter().map(|group| group.count).sum()
}

/// History line `line` (1-based), if the history has it.
pub(crate) fn history_line(report: &RunReport, line: u64) -> Option<String> {
    report.history_line(line)
}

/// The history lines an explanation names itself, as inclusive ranges: `line N`, `lines A, B and
/// C`, `lines A..=B` (every line of the range), `lines A–B`. The oracle's explanations name their
/// lines this way (`... (line 3627)`, `... without progress (lines 40..=57)`).
pub(crate) fn lines_named(explanation: &str) -> Vec<(u64, u64)> {
    let bytes = explanation.as_bytes();
    let mut named = Vec::new();
    let mut at = 0;
    while let Some(found) = explanation[at..].find("line") {
        let start = at + found;
        at = start + "line".len();
        // A word of its own: not `deadline`, `pipeline`, `inline`.
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let list = explanation[at..].starts_with("s ");
        let mut rest = &explanation[at + usize::from(list)..];
        let Some(after_space) = rest.strip_prefix(' ') else {
            continue;
        };
        rest = after_space;
        while let Some((first, after)) = leading_number(rest) {
            rest = after;
            let mut last = first;
            if list {
                for (separator, inclusive) in [("..=", true), ("–", true), ("..", false)] {
                    if let Some((end, after)) =
                        rest.strip_prefix(separator).and_then(leading_number)
                    {
                        last = if inclusive {
                            end
                        } else {
                            end.saturating_sub(1)
                        };
                        rest = after;
                        break;
                    }
                }
            }
            if first <= last {
                named.push((first, last));
            }
            if !list {
                break;
            }
            let next = [", and ", ", ", " and "]
                .into_iter()
                .find_map(|separator| rest.strip_prefix(separator))
                .filter(|next| next.starts_with(|c: char| c.is_ascii_digit()));
            match next {
                Some(next) => rest = next,
                None => break,
            }
        }
        at = explanation.len() - rest.len();
    }
    named
}

/// The decimal number `text` starts with, and the text after it.
fn leading_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let number = text[..digits].parse().ok()?;
    Some((number, &text[digits..]))
}

/// What a one-line anomaly entry appends to its explanation: the proving lines the explanation
/// does not already name, in order and once each — `" (line 7)"`, `" (lines 7, 9)"`, or, after an
/// explanation that names some of its lines itself, `" (also line 7)"` — and nothing when the
/// explanation names them all (or there are none).
pub(crate) fn unnamed_lines_suffix(explanation: &str, events: &[u64]) -> String {
    let named = lines_named(explanation);
    let mut rest: Vec<u64> = events
        .iter()
        .copied()
        .filter(|line| !named.iter().any(|&(low, high)| (low..=high).contains(line)))
        .collect();
    rest.sort_unstable();
    rest.dedup();
    let also = if named.is_empty() { "" } else { "also " };
    match rest.as_slice() {
        [] => String::new(),
        [line] => format!(" ({also}line {line})"),
        lines => {
            let lines: Vec<String> = lines.iter().map(u64::to_string).collect();
            format!(" ({also}lines {})", lines.join(", "))
        }
    }
}

/// The events leading up to the first anomaly.
pub(crate) struct Context<'a> {
    /// Index of the anomaly in `report.anomalies`.
    pub anomaly_index: usize,
    pub anomaly: &'a Anomaly,
    /// The window of history lines, both ends included (1-based).
    pub first_line: u64,
    pub last_line: u64,
}

/// The first anomaly is the one proven earliest: the smallest last proving line (the first listed
/// one among equals). The window is the [`CONTEXT_EVENTS`] history lines that end with that line.
/// None when no anomaly names a line of the history.
pub(crate) fn context(report: &RunReport) -> Option<Context<'_>> {
    let history_lines = report.history.len() as u64;
    let (anomaly_index, anomaly, last_line) = report
        .anomalies
        .iter()
        .enumerate()
        .filter_map(|(index, anomaly)| {
            let last = anomaly.events.iter().copied().max()?;
            (1..=history_lines)
                .contains(&last)
                .then_some((index, anomaly, last))
        })
        .min_by_key(|&(index, _, last)| (last, index))?;
    Some(Context {
        anomaly_index,
        anomaly,
        first_line: last_line.saturating_sub(CONTEXT_EVENTS - 1).max(1),
        last_line,
    })
}

/// `text` cut to at most `chars_max` characters, saying how many bytes were left out.
pub(crate) fn shorten(text: &str, chars_max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(chars_max) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{} … [{} more bytes]",
            &text[..cut],
            text.len() - cut
        )),
    }
}

/// Milliseconds as seconds with millisecond precision: `1.094 s`.
pub(crate) fn seconds_from_ms(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1_000, ms % 1_000)
}

/// Nanoseconds as seconds with millisecond precision (truncated): `1.534 s`.
pub(crate) fn seconds_from_ns(ns: u64) -> String {
    seconds_from_ms(ns / 1_000_000)
}

/// The verdict's word.
pub(crate) fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    }
}

/// The title of a report: `FAIL: offset-commit, seed 1, bug last-record-never-committed`.
pub(crate) fn title(report: &RunReport) -> String {
    let mut title = format!(
        "{}: {}, seed {}",
        verdict_word(report.verdict),
        report.scenario,
        report.seed
    );
    match report.bugs.len() {
        0 => {}
        1 => title.push_str(&format!(", bug {}", report.bugs[0])),
        _ => title.push_str(&format!(", bugs {}", report.bugs.join(", "))),
    }
    title
}

/// The oracle's totals in words, or None when the run did not complete.
pub(crate) fn stats_sentence(report: &RunReport) -> Option<String> {
    report.stats.as_ref().map(|stats| {
        let mut sentence = format!(
            "{} sends acknowledged, {} records read, {} evicted by retention, {} events ignored",
            stats.sends_ok, stats.records_read, stats.evicted, stats.ignored_events
        );
        if stats.acks1_lost > 0 {
            sentence.push_str(&format!(
                ", {} acknowledged with acks=1 and lost with their leader (acks=1 does not promise \
                 they survive it)",
                stats.acks1_lost
            ));
        }
        sentence
    })
}

/// A fault log entry in words: the runtime's `repair of fault N` names the fault repaired.
pub(crate) fn fired_fault(report: &RunReport, description: &str) -> String {
    let repaired = description
        .strip_prefix("repair of fault ")
        .and_then(|index| index.parse::<usize>().ok())
        .and_then(|index| report.spec.faults.get(index));
    match repaired {
        Some(timed) => format!("{description} ({})", describe_fault(&timed.fault)),
        None => description.to_string(),
    }
}

/// One scheduled fault in words.
pub(crate) struct ScheduledFault {
    pub index: usize,
    pub at: String,
    /// How long until it is repaired: a duration, or `until the heal`.
    pub duration: String,
    pub description: String,
}

/// The scenario's fault schedule in words, in schedule order.
pub(crate) fn fault_schedule(report: &RunReport) -> Vec<ScheduledFault> {
    report
        .spec
        .faults
        .iter()
        .enumerate()
        .map(|(index, timed)| scheduled(index, timed))
        .collect()
}

fn scheduled(index: usize, timed: &TimedFault) -> ScheduledFault {
    ScheduledFault {
        index,
        at: seconds_from_ms(timed.at_ms),
        duration: match timed.for_ms {
            Some(for_ms) => seconds_from_ms(for_ms),
            None => "until the heal".to_string(),
        },
        description: describe_fault(&timed.fault),
    }
}

/// A fault in words: its kind, its target(s), then its other fields as `name=value`, e.g.
/// `crash broker-1`, `clog from=broker-2 to=producer-1`,
/// `retention broker-1 topic=orders partition=0 offset=100 min_age_ms=12000`.
///
/// Built from the fault's serialized form, so a fault kind added later is described too.
pub(crate) fn describe_fault(fault: &scenarios::spec::Fault) -> String {
    let value = serde_json::to_value(fault).unwrap_or(Value::Null);
    let Value::Object(fields) = value else {
        return fault.kind().to_string();
    };
    let kind = fields
        .get("kind")
        .and_then(Value::as_str)
        .map_or_else(|| fault.kind().to_string(), str::to_string);
    // Sorted here, not by the map: serde_json's map order depends on a cargo feature.
    let mut rest: Vec<(&String, &Value)> =
        fields.iter().filter(|(name, _)| *name != "kind").collect();
    rest.sort_by_key(|(name, _)| (field_rank(name), name.as_str()));
    let mut words = vec![kind];
    for (name, value) in rest {
        match name.as_str() {
            "target" => words.push(describe_target(value)),
            "side" | "from" | "to" => words.push(format!("{name}={}", describe_target(value))),
            _ => words.push(format!("{name}={}", describe_value(value))),
        }
    }
    words.join(" ")
}

fn field_rank(name: &str) -> u8 {
    match name {
        "target" => 0,
        "side" => 1,
        "from" => 2,
        "to" => 3,
        "topic" => 4,
        "partition" => 5,
        _ => 6,
    }
}

/// A target as the history names nodes: `broker-1`, `consumer-0`, `controller`,
/// `leader-of orders-0`; a list as `[broker-1, producer-0]`.
fn describe_target(value: &Value) -> String {
    match value {
        Value::String(name) => name.clone(),
        Value::Array(targets) => format!(
            "[{}]",
            targets
                .iter()
                .map(describe_target)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(fields) if fields.len() == 1 => {
            let (name, inner) = fields.iter().next().expect("one field");
            match inner {
                Value::Number(number) => format!("{name}-{number}"),
                Value::Object(place) => match (place.get("topic"), place.get("partition")) {
                    (Some(Value::String(topic)), Some(Value::Number(partition))) => {
                        format!("{name} {topic}-{partition}")
                    }
                    _ => format!("{name} {inner}"),
                },
                _ => format!("{name} {inner}"),
            }
        }
        other => other.to_string(),
    }
}

fn describe_value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenarios::spec::{broker, crash, leader_of, Fault, Target};

    #[test]
    fn shorten_cuts_on_a_character_boundary_and_says_how_much() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdef", 3), "abc … [3 more bytes]");
        // 'é' is two bytes: the cut never splits it.
        assert_eq!(shorten("ééé", 1), "é … [4 more bytes]");
    }

    #[test]
    fn lines_named_by_explanations() {
        assert_eq!(lines_named("x (line 3627)"), vec![(3627, 3627)]);
        assert_eq!(
            lines_named("closed (line 3390), restarted (line 3696): from line 1868 on"),
            vec![(3390, 3390), (3696, 3696), (1868, 1868)]
        );
        assert_eq!(
            lines_named("without progress (lines 40..=57), after the heal (line 12)"),
            vec![(40, 57), (12, 12)]
        );
        assert_eq!(
            lines_named("lines 1, 2 and 5; lines 7, and 9; lines 10..12; lines 3–4"),
            vec![(1, 1), (2, 2), (5, 5), (7, 7), (9, 9), (10, 11), (3, 4)]
        );
        // Not a line number: other words, no number, offsets.
        assert!(lines_named("a deadline 5, a pipeline 6, line x, lines, offsets 3..=9").is_empty());
        assert!(lines_named("").is_empty());
        assert!(lines_named("line 99999999999999999999999").is_empty());
    }

    #[test]
    fn suffix_adds_only_the_lines_not_named() {
        // The explanation names its one line: nothing to add (never `(line 3627) (lines 3627)`).
        assert_eq!(unnamed_lines_suffix("x (line 3627)", &[3627]), "");
        assert_eq!(
            unnamed_lines_suffix("closed (line 3390), restarted (line 3696)", &[3390, 3696]),
            ""
        );
        // Lines within a named range are named.
        assert_eq!(
            unnamed_lines_suffix(
                "requests (lines 40..=57), heal (line 12)",
                &[12, 30, 57, 41, 40]
            ),
            " (also line 30)"
        );
        // One line is `line`, never `lines`.
        assert_eq!(unnamed_lines_suffix("no line named", &[5]), " (line 5)");
        assert_eq!(unnamed_lines_suffix("none", &[9, 5, 9]), " (lines 5, 9)");
        assert_eq!(
            unnamed_lines_suffix("x (line 1)", &[1, 8, 4]),
            " (also lines 4, 8)"
        );
        assert_eq!(unnamed_lines_suffix("run failed", &[]), "");
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(seconds_from_ms(0), "0.000 s");
        assert_eq!(seconds_from_ms(1_094), "1.094 s");
        assert_eq!(seconds_from_ns(1_534_589_819), "1.534 s");
    }

    #[test]
    fn faults_in_words() {
        assert_eq!(describe_fault(&crash(broker(1)).fault), "crash broker-1");
        let clog = Fault::Clog {
            from: broker(2),
            to: Target::Producer(1),
        };
        assert_eq!(describe_fault(&clog), "clog from=broker-2 to=producer-1");
        let retention = Fault::Retention {
            target: leader_of("orders", 0),
            topic: "orders".into(),
            partition: 0,
            offset: 100,
            min_age_ms: 12_000,
        };
        // The target as the scenario file spells it, then the other fields.
        let description = describe_fault(&retention);
        assert!(
            description.starts_with("retention leader-of"),
            "{description}"
        );
        assert!(
            description.ends_with(" topic=orders partition=0 min_age_ms=12000 offset=100"),
            "{description}"
        );
        let partition = Fault::Partition {
            side: vec![Target::Controller, broker(3)],
        };
        assert_eq!(
            describe_fault(&partition),
            "partition side=[controller, broker-3]"
        );
    }

    #[test]
    fn targets_in_words_whatever_their_serialized_shape() {
        use serde_json::json;
        assert_eq!(describe_target(&json!("broker-1")), "broker-1");
        assert_eq!(describe_target(&json!({"broker": 1})), "broker-1");
        assert_eq!(
            describe_target(&json!({"leader-of": {"topic": "t", "partition": 2}})),
            "leader-of t-2"
        );
        assert_eq!(
            describe_target(&json!(["a", {"consumer": 0}])),
            "[a, consumer-0]"
        );
        assert_eq!(describe_target(&json!(7)), "7");
    }
}
