//! Snapshots of what people read (STYLE.md 11): the Markdown and JSON reports of a fixed failing
//! seed, run for real. A change in the simulator's behaviour, the oracle's explanations or the
//! renderers shows up here as a reviewed diff (`cargo insta review`).

mod common;

#[test]
fn markdown_report_of_a_failing_seed() {
    let report = common::failing_run();
    insta::assert_snapshot!(
        "offset_commit_seed_1_markdown",
        reports::markdown::render(&report)
    );
}

#[test]
fn json_report_of_a_failing_seed() {
    let mut report = common::failing_run();
    // The one wall-clock value of a report: it must be there, and is pinned for the snapshot.
    let json = reports::json::render(&report);
    let value: serde_json::Value = serde_json::from_str(&json).expect("the JSON report parses");
    assert!(value["wall_time_ms"].is_u64(), "{json}");
    assert_eq!(value["spec"]["name"], "offset-commit");
    report.wall_time_ms = 0;
    insta::assert_snapshot!("offset_commit_seed_1_json", reports::json::render(&report));
}

/// The SVG timeline of a small hand-made run with a long liveness phase: the broken time axis
/// (ticks on each side, the heal's time at the break, the compression), fault bars, proofs, a
/// consumer line, acknowledgements, all placed on it.
#[test]
fn timeline_with_a_broken_time_axis() {
    let html = reports::html::render(&common::long_liveness_run());
    let start = html.find("<svg").expect("a timeline");
    let end = html.find("</svg>").expect("a timeline") + "</svg>".len();
    insta::assert_snapshot!("long_liveness_timeline_svg", &html[start..end]);
}

/// Two runs of the same seed give the same Markdown and HTML bytes: nothing in them comes from
/// the wall clock or from an iteration order that changes between runs.
#[test]
fn reports_are_deterministic() {
    let first = common::failing_run();
    let second = common::failing_run();
    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(
        reports::markdown::render(&first),
        reports::markdown::render(&second)
    );
    assert_eq!(
        reports::html::render(&first),
        reports::html::render(&second)
    );
}
