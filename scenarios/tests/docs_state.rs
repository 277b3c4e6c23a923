//! `docs/state-checker.md` and the state checker (`scenarios::state::StateAnomalyKind`) say the
//! same: the doc's anomaly table lists every state anomaly, in order, with the meaning the code
//! gives it (`streamsim list` prints the same), and the README and ARCHITECTURE.md point to it.

use scenarios::state::StateAnomalyKind;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/state-checker.md");

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("read {path}: {error}"))
}

#[test]
fn the_anomaly_table_is_the_code() {
    let doc = read(DOC_PATH);
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.starts_with("| anomaly | meaning |"))
        .expect("docs/state-checker.md has a table starting `| anomaly | meaning |`");
    let rows: Vec<(String, String)> = lines[start + 2..]
        .iter()
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 2, "a row of two cells: {line}");
            (cells[0].trim_matches('`').to_string(), cells[1].to_string())
        })
        .collect();
    let expected: Vec<(String, String)> = StateAnomalyKind::ALL
        .iter()
        .map(|kind| {
            let meaning = kind
                .meaning()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (kind.as_str().to_string(), meaning)
        })
        .collect();
    assert_eq!(
        rows, expected,
        "docs/state-checker.md's table differs from StateAnomalyKind (names, order, meanings)"
    );
}

#[test]
fn each_anomaly_says_what_proves_it() {
    let doc = read(DOC_PATH);
    let proofs = &doc[doc.find("### What proves each").expect("a proofs section")..];
    for kind in StateAnomalyKind::ALL {
        assert!(
            proofs.contains(&format!("- `{}`:", kind.as_str())),
            "docs/state-checker.md does not say what proves `{kind}`"
        );
    }
}

#[test]
fn the_readme_and_the_architecture_point_to_it() {
    for path in [
        concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"),
        concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md"),
    ] {
        assert!(
            read(path).contains("docs/state-checker.md"),
            "{path} does not link docs/state-checker.md"
        );
    }
}
