//! `docs/bugs.md` and the catalog behind `streamsim list` (`scenarios::bugs::CATALOG`) say the
//! same: each bug's name, source, scenario and caught-as kinds are in the doc's catalog table,
//! its section says the same scenario, kinds and policy values, and its measured row shows those
//! kinds — and the documented first failing seed really fails with them.

use scenarios::bugs::CATALOG;
use scenarios::report::Verdict;
use scenarios::RunRequest;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bugs.md");

fn doc() -> String {
    std::fs::read_to_string(DOC_PATH).expect("read docs/bugs.md")
}

/// The rows of the Markdown table whose header row starts with `header`, as trimmed cells.
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.starts_with(header))
        .unwrap_or_else(|| panic!("docs/bugs.md has no table starting {header:?}"));
    lines[start + 2..]
        .iter()
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// A bug's `### `name` — ...` section, whitespace collapsed.
fn section(doc: &str, name: &str) -> Option<String> {
    let heading = format!("### `{name}`");
    let start = doc.find(&heading)?;
    let rest = &doc[start + heading.len()..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    Some(rest[..end].split_whitespace().collect::<Vec<_>>().join(" "))
}

fn caught_as(anomalies: &[&str]) -> String {
    anomalies.join(" / ")
}

#[test]
fn the_catalog_table_is_the_catalog() {
    let rows = table(&doc(), "| bug | source | scenario | caught as |");
    let expected: Vec<Vec<String>> = CATALOG
        .iter()
        .map(|bug| {
            vec![
                format!("`{}`", bug.name),
                bug.source.to_string(),
                bug.scenario.to_string(),
                caught_as(bug.anomalies),
            ]
        })
        .collect();
    for (row, want) in rows.iter().zip(&expected) {
        assert_eq!(
            row, want,
            "docs/bugs.md's catalog table differs from scenarios/src/bugs.rs"
        );
    }
    assert_eq!(
        rows.len(),
        expected.len(),
        "docs/bugs.md's catalog table has {} rows, the catalog {} bugs",
        rows.len(),
        expected.len()
    );
}

#[test]
fn each_bug_has_a_section_with_its_scenario_kinds_and_policies() {
    let doc = doc();
    for bug in CATALOG {
        let text = section(&doc, bug.name)
            .unwrap_or_else(|| panic!("docs/bugs.md has no section for `{}`", bug.name));
        for setting in bug.overrides {
            let named = format!("`{setting}`");
            assert!(
                text.contains(&named),
                "`{}`'s section does not name the policy value it sets, {named}:\n{text}",
                bug.name
            );
        }
        let scenario = format!("Scenario: `{}`", bug.scenario);
        assert!(
            text.contains(&scenario),
            "`{}`'s section does not say {scenario:?}:\n{text}",
            bug.name
        );
        let kinds: Vec<String> = bug
            .anomalies
            .iter()
            .map(|kind| format!("`{kind}`"))
            .collect();
        let caught = format!("Caught as {}", kinds.join(" / "));
        let at = text
            .find(&caught)
            .unwrap_or_else(|| panic!("`{}`'s section does not say {caught:?}:\n{text}", bug.name));
        assert!(
            !text[at + caught.len()..].starts_with(" /"),
            "`{}`'s section lists more kinds than the catalog's {caught:?}:\n{text}",
            bug.name
        );
    }
}

/// The measured row of each bug: its scenario, first failing seed and kinds with counts.
struct Measured {
    scenario: String,
    first_failing_seed: u64,
    kinds: Vec<(String, u64)>,
}

fn measured(doc: &str, name: &str) -> Measured {
    let rows = table(
        doc,
        "| bug | scenario | seeds | failing | first failing seed | anomalies",
    );
    let row = rows
        .iter()
        .find(|row| row[0] == format!("`{name}`"))
        .unwrap_or_else(|| panic!("docs/bugs.md has no measured row for `{name}`"));
    let kinds = row[5]
        .split(", ")
        .map(|entry| {
            let (kind, count) = entry
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("`{name}`: bad entry {entry:?}"));
            (kind.to_string(), count.parse().expect("a count"))
        })
        .collect();
    Measured {
        scenario: row[1].clone(),
        first_failing_seed: row[4]
            .parse()
            .unwrap_or_else(|_| panic!("`{name}`: first failing seed {:?}", row[4])),
        kinds,
    }
}

#[test]
fn each_bug_is_measured_in_its_scenario_with_its_kinds_the_first_the_usual_one() {
    let doc = doc();
    for bug in CATALOG {
        let row = measured(&doc, bug.name);
        assert_eq!(row.scenario, bug.scenario, "`{}`", bug.name);
        let count = |kind: &str| {
            row.kinds
                .iter()
                .find(|(name, _)| name == kind)
                .map(|(_, count)| *count)
        };
        for kind in bug.anomalies {
            assert!(
                count(kind).is_some(),
                "`{}` is caught as {kind} in the catalog, but its measurements ({:?}) never saw it",
                bug.name,
                row.kinds
            );
        }
        let first = count(bug.anomalies[0]).unwrap_or(0);
        for kind in &bug.anomalies[1..] {
            assert!(
                first >= count(kind).unwrap_or(0),
                "`{}`: {kind} is measured more often than {}, the catalog's usual kind",
                bug.name,
                bug.anomalies[0]
            );
        }
    }
}

#[test]
fn each_bug_fails_its_documented_first_failing_seed_as_the_catalog_says() {
    let doc = doc();
    for bug in CATALOG {
        let row = measured(&doc, bug.name);
        let request = RunRequest::named(bug.scenario, row.first_failing_seed)
            .with_bugs(vec![bug.name.to_string()]);
        let report = scenarios::run(&request).expect("the run starts");
        assert_eq!(
            report.verdict,
            Verdict::Fail,
            "{} passes (docs/bugs.md: first failing seed)",
            report.repro
        );
        assert!(
            bug.anomalies
                .iter()
                .any(|kind| report.counts.keys().any(|found| found.as_str() == *kind)),
            "{} fails with {:?}, none of the catalog's {:?}",
            report.repro,
            report.counts,
            bug.anomalies
        );
    }
}
