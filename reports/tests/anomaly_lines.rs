//! Anomalies shown on one line (the 6th to the 25th of a kind) name their proving lines once: the
//! lines the explanation names itself are not appended again, and one line is `(line N)`.

mod common;

use common::{report_with_history, with_anomaly};

/// A report with seven anomalies of one kind, so that the 6th and 7th are one-liners.
fn report_with_one_liners(
    sixth: (&str, &[u64]),
    seventh: (&str, &[u64]),
) -> scenarios::report::RunReport {
    let history: Vec<String> = (0..40)
        .map(|index| {
            format!(
                r#"{{"time":{},"process":"producer-0","type":"ok","f":"send","value":"v{index}","topic":"t","partition":0,"offset":{index}}}"#,
                1_000_000 * (index + 1)
            )
        })
        .collect();
    let history: Vec<&str> = history.iter().map(String::as_str).collect();
    let mut report = report_with_history(&history);
    for number in 1..=5u64 {
        report = with_anomaly(
            report,
            "producer-stalled",
            &format!("quoted {number} (line {number})"),
            &[number],
        );
    }
    report = with_anomaly(report, "producer-stalled", sixth.0, sixth.1);
    with_anomaly(report, "producer-stalled", seventh.0, seventh.1)
}

#[test]
fn one_liners_do_not_repeat_the_lines_their_explanation_names() {
    let report = report_with_one_liners(
        ("the send failed (line 36)", &[36]),
        (
            "invoked after the heal (line 30) on line 31, failed (line 32)",
            &[30, 31, 32],
        ),
    );
    let markdown = reports::markdown::render(&report);
    assert!(
        markdown.contains("- **6.** the send failed (line 36)\n"),
        "{markdown}"
    );
    assert!(
        markdown
            .contains("- **7.** invoked after the heal (line 30) on line 31, failed (line 32)\n"),
        "{markdown}"
    );
    let html = reports::html::render(&report);
    assert!(html.contains(">the send failed (line 36)</li>"), "{html}");
    assert!(html.contains(">invoked after the heal (line 30) on line 31, failed (line 32)</li>"));
    for text in [&markdown, &html] {
        assert!(!text.contains("(lines 36)"));
        assert!(!text.contains("(lines 30, 31, 32)"));
    }
}

#[test]
fn one_liners_append_only_the_lines_not_named_and_say_line_for_one() {
    let report = report_with_one_liners(
        ("the send never completed", &[36]),
        (
            "requests without progress (lines 20..=25), after the heal (line 12)",
            &[12, 20, 22, 25, 33, 35],
        ),
    );
    let markdown = reports::markdown::render(&report);
    assert!(
        markdown.contains("- **6.** the send never completed (line 36)\n"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "- **7.** requests without progress (lines 20..=25), after the heal (line 12) (also lines 33, 35)\n"
        ),
        "{markdown}"
    );
    let html = reports::html::render(&report);
    assert!(
        html.contains(">the send never completed (line 36)</li>"),
        "{html}"
    );
    assert!(html.contains("after the heal (line 12) (also lines 33, 35)</li>"));
    // Never `(lines N)` with a single line.
    for text in [&markdown, &html] {
        for part in text.split("(lines ").skip(1) {
            let list = part.split(')').next().unwrap();
            assert!(list.contains(',') || list.contains(".."), "(lines {list})");
        }
    }
}

/// The line numbers a text gives after `line` or in a `lines` list, in order.
fn line_numbers(text: &str) -> Vec<u64> {
    let mut numbers = Vec::new();
    for rest in text.split("line").skip(1) {
        let list = rest.starts_with('s');
        let rest = rest.trim_start_matches('s');
        let Some(rest) = rest.strip_prefix(' ') else {
            continue;
        };
        for item in rest.split(", ") {
            let digits: String = item.chars().take_while(char::is_ascii_digit).collect();
            match digits.parse() {
                Ok(number) => numbers.push(number),
                Err(_) => break,
            }
            if !list || digits.len() != item.len() {
                break;
            }
        }
    }
    numbers
}

/// The real failing seed: no one-liner gives a line number twice.
#[test]
fn one_liners_of_a_real_run_name_each_line_once() {
    let report = common::failing_run();
    let markdown = reports::markdown::render(&report);
    let one_liners: Vec<&str> = markdown
        .lines()
        .filter(|line| line.starts_with("- **"))
        .collect();
    assert!(
        !one_liners.is_empty(),
        "the seed has more than 5 anomalies of a kind"
    );
    for line in one_liners {
        let named = line_numbers(line);
        assert!(!named.is_empty(), "{line}");
        let mut unique = named.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), named.len(), "a line given twice: {line}");
    }
    assert_eq!(line_numbers("a (line 3627) (lines 3627)"), vec![3627, 3627]);
    assert_eq!(
        line_numbers("from line 1868 on (lines 1868, 3390)"),
        vec![1868, 1868, 3390]
    );
}

/// A state checker's finding has no history lines: its explanation carries the facts, and every
/// rendering shows it with its kind and who found it.
#[test]
fn a_state_finding_renders_in_every_report() {
    let explanation = "t-0: brokers 1 and 2 disagree below both their high watermarks (10 and 9) \
                       at 12.345 s (before fault 3): at offset 4 broker 1 holds \"v4\" (leader \
                       epoch 0) and broker 2 holds \"other\" (leader epoch 1)";
    let report = with_anomaly(
        report_with_history(&[]),
        "replicas-diverge",
        explanation,
        &[],
    );
    let markdown = reports::markdown::render(&report);
    assert!(
        markdown.contains("| `replicas-diverge` | state checker | 1 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("at offset 4 broker 1 holds"),
        "{markdown}"
    );
    let html = reports::html::render(&report);
    assert!(html.contains("<code>replicas-diverge</code></a></td><td>state checker</td>"));
    assert!(html.contains("at offset 4 broker 1 holds"));
    let json: serde_json::Value =
        serde_json::from_str(&reports::json::render(&report)).expect("the JSON report parses");
    assert_eq!(json["anomalies"][0]["kind"], "replicas-diverge");
    assert_eq!(json["counts"]["replicas-diverge"], 1);
    assert!(json["anomalies"][0].get("events").is_none());
}
