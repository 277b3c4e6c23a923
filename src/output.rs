//! Files a campaign writes, through the `reports` crate.

use anyhow::{Context, Result};
use reports::junit::{JunitCase, JunitFailure};
use scenarios::campaign::CampaignSummary;
use scenarios::report::{RunReport, Verdict};
use std::path::Path;

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    reports::write_atomic(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Whether a file can be written at `path` (its folder exists and takes a new file), checked
/// before long work whose result goes there. Writes and removes a probe file beside it.
pub fn check_file_writable(path: &Path) -> std::result::Result<(), String> {
    if path.is_dir() {
        return Err("is a folder; give a file name".to_string());
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(format!("the folder {} does not exist", folder.display()));
    }
    let probe = folder.join(format!(".streamsim-write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"probe")
        .map_err(|error| format!("cannot write in {}: {error}", folder.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

pub fn write_seed_dir(dir: &Path, report: &RunReport) -> Result<()> {
    reports::write_seed_dir(dir, report).with_context(|| format!("writing {}", dir.display()))
}

/// JUnit XML of a campaign: one test case per scenario (failing when any seed failed or its
/// defining coverage was not reached) and one per failing seed.
pub fn junit(summary: &CampaignSummary) -> String {
    let mut cases = Vec::new();
    for (scenario, totals) in &summary.totals {
        let missing = &totals.missing_coverage;
        let failure = if totals.failures > 0 || !missing.is_empty() {
            let mut message = format!("{} of {} seeds failed", totals.failures, totals.seeds);
            if !missing.is_empty() {
                message.push_str(&format!("; coverage never reached: {}", missing.join(", ")));
            }
            Some(JunitFailure {
                message,
                kind: totals
                    .failures_by_kind
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "missing-coverage".to_string()),
                body: totals
                    .failures_by_kind
                    .iter()
                    .map(|(kind, seeds)| format!("{kind}: {seeds} seeds"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        } else {
            None
        };
        cases.push(JunitCase {
            name: format!("{scenario} ({} seeds)", totals.seeds),
            classname: format!("streamsim.{scenario}"),
            failure,
            time_ms: totals.wall_time_ms,
        });
    }
    for run in summary
        .runs
        .iter()
        .filter(|run| run.verdict == Verdict::Fail)
    {
        let kinds: Vec<String> = run
            .anomalies
            .iter()
            .map(|(kind, count)| format!("{kind} x{count}"))
            .collect();
        cases.push(JunitCase {
            name: format!("{} seed {}", run.scenario, run.seed),
            classname: format!("streamsim.{}.seeds", run.scenario),
            failure: Some(JunitFailure {
                message: format!("{} ({})", kinds.join(", "), run.status),
                kind: run
                    .anomalies
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "failure".to_string()),
                body: format!("reproduce: {}\ntrace hash: {}", run.repro, run.trace_hash),
            }),
            time_ms: run.wall_time_ms,
        });
    }
    // The suite time is the campaign's wall time: the sum of the cases would count each failing
    // seed twice (in its scenario's case and in its own).
    reports::junit::render_with_time("streamsim", &cases, summary.wall_time_ms)
}
