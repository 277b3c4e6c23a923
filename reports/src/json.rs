//! The JSON report of one run: one pretty-printed object with every serialized field of
//! [`RunReport`] (verdict, anomalies with their proving lines, counts, repro command, trace hash,
//! times, coverage, fault log, the oracle's totals) and the scenario that ran as `spec`.
//!
//! The history is not in it: it is `history.jsonl`, next to it. Field order is fixed (the
//! report's declaration order, then `spec`), whatever serde_json's features. The report's
//! `wall_time_ms` is the one value that differs between two runs of the same seed.

use scenarios::report::RunReport;
use scenarios::spec::Scenario;
use serde::Serialize;

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a RunReport,
    spec: &'a Scenario,
}

/// The report as one pretty-printed JSON object, ending with a newline.
pub fn render(report: &RunReport) -> String {
    let document = JsonReport {
        report,
        spec: &report.spec,
    };
    let mut text = match serde_json::to_string_pretty(&document) {
        Ok(text) => text,
        // Unreachable for these types (strings, integers, maps with string keys, floats that
        // serde_json writes as null when not finite); still, a report must never panic.
        Err(error) => serde_json::json!({
            "error": format!("the report could not be serialized: {error}"),
            "scenario": report.scenario,
            "seed": report.seed,
        })
        .to_string(),
    };
    text.push('\n');
    text
}
