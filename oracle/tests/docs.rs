//! The example history of docs/history-format.md is what the text says it is.

mod common;

use oracle::AnomalyKind;

fn example() -> Vec<String> {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/history-format.md"
    ))
    .unwrap();
    let start = guide
        .find("```json\n")
        .expect("the guide has an example history")
        + "```json\n".len();
    let end = start + guide[start..].find("```").unwrap();
    guide[start..end].lines().map(str::to_string).collect()
}

fn check(lines: &[String]) -> oracle::CheckResult {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    common::check(&common::lines(&refs))
}

#[test]
fn the_example_history_is_valid_with_one_evicted_record() {
    let lines = example();
    assert!(
        lines[8].contains("\"log_start\""),
        "line 9 is the log start: {}",
        lines[8]
    );
    let result = check(&lines);
    common::assert_valid(&result);
    assert_eq!(result.stats.evicted, 1);
    assert_eq!(
        (
            result.stats.events,
            result.stats.sends_ok,
            result.stats.records_read
        ),
        (18, 2, 1)
    );
}

#[test]
fn moving_or_dropping_the_log_start_makes_it_a_lost_write() {
    let mut moved = example();
    let log_start = moved.remove(8);
    let poll = moved
        .iter()
        .position(|line| line.contains("\"records\""))
        .unwrap();
    // Keep time non-decreasing: the log start now happens at the poll's time.
    moved.insert(poll + 1, log_start.replace("\"time\":50", "\"time\":80"));
    common::assert_only(&check(&moved), AnomalyKind::LostWrite, 1);

    let mut dropped = example();
    dropped.remove(8);
    common::assert_only(&check(&dropped), AnomalyKind::LostWrite, 1);
}

/// The lines of the ```json block that follows `heading` in the guide.
fn example_after(heading: &str) -> Vec<String> {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/history-format.md"
    ))
    .unwrap();
    let section = guide.find(heading).expect("the guide has the section");
    let start = section
        + guide[section..]
            .find("```json\n")
            .expect("the section has an example")
        + "```json\n".len();
    let end = start + guide[start..].find("```").unwrap();
    guide[start..end].lines().map(str::to_string).collect()
}

#[test]
fn the_consumer_group_example_is_valid_and_its_variations_are_what_the_text_says() {
    let lines = example_after("### A consumer group");
    assert_eq!(lines.len(), 23);
    for (line, what) in [
        (12, "\"ok\",\"f\":\"commit\""),
        (14, "\"f\":\"revoke\""),
        (15, "\"generation\":2"),
        (
            20,
            "\"process\":\"consumer-1\",\"type\":\"ok\",\"f\":\"assign\"",
        ),
        (23, "\"ok\",\"f\":\"commit\""),
    ] {
        assert!(
            lines[line - 1].contains(what),
            "line {line}: {}",
            lines[line - 1]
        );
    }
    common::assert_valid(&check(&lines));

    // consumer-1 starts at offset 0 of orders/1 and delivers producer-0-0 again.
    let mut again = lines.clone();
    again[19] = again[19].replace("\"offset\":1}", "\"offset\":0}");
    again.insert(
        20,
        r#"{"time":35,"process":"consumer-1","type":"ok","f":"poll","records":[{"topic":"orders","partition":1,"offset":0,"value":"producer-0-0"}]}"#.to_string(),
    );
    let result = check(&again);
    common::assert_only(&result, AnomalyKind::DuplicateDelivery, 1);
    assert_eq!(result.anomalies[0].events, vec![12, 20, 21]);

    // consumer-0 commits orders/1 with generation 1 after it gave it up.
    for (offset, regressed) in [(2, false), (1, true)] {
        let mut stale = lines.clone();
        for phase in ["invoke", "ok"] {
            stale.push(format!(
                r#"{{"time":50,"process":"consumer-0","type":"{phase}","f":"commit","topic":"orders","partition":1,"offset":{offset},"group":"g","generation":1}}"#
            ));
        }
        let result = check(&stale);
        let mut expected = vec![
            AnomalyKind::UnownedCommit,
            AnomalyKind::FencedCommitAccepted,
        ];
        if regressed {
            expected.insert(0, AnomalyKind::CommitRegressed);
        }
        assert_eq!(result.kinds(), expected, "{}", result.render_text());
        let lines_of = |kind| {
            result
                .anomalies
                .iter()
                .find(|anomaly| anomaly.kind == kind)
                .unwrap()
                .events
                .clone()
        };
        assert_eq!(lines_of(AnomalyKind::UnownedCommit), vec![14, 24, 25]);
        assert_eq!(
            lines_of(AnomalyKind::FencedCommitAccepted),
            vec![15, 24, 25]
        );
        if regressed {
            assert_eq!(lines_of(AnomalyKind::CommitRegressed), vec![23, 24, 25]);
        }
    }
}

#[test]
fn the_anomaly_table_names_every_kind_in_order() {
    let guide = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/history-format.md"
    ))
    .unwrap();
    let table = &guide[guide.find("| anomaly | in plain words |").unwrap()..];
    let names: Vec<String> = table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with("| `"))
        .map(|line| line[3..3 + line[3..].find('`').unwrap()].to_string())
        .collect();
    let kinds: Vec<String> = AnomalyKind::ALL
        .iter()
        .map(|kind| kind.as_str().to_string())
        .collect();
    assert_eq!(names, kinds);
}
