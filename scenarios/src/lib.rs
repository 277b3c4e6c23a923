//! Scenario model and files, workloads, fault schedules, the named scenarios, swarm and the bug
//! catalog.

pub mod report;
pub mod smoke;
pub mod spec;

use report::{repro_command, RunReport, Verdict};
use sim::{RunLimits, RunStatus, Seed};
use std::time::Duration;

/// A named scenario in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioInfo {
    pub name: &'static str,
    pub summary: &'static str,
}

/// Every named scenario, in the order `streamsim list` shows them.
pub fn catalog() -> Vec<ScenarioInfo> {
    vec![ScenarioInfo {
        name: "smoke",
        summary: "the world end to end: nodes exchange pings, a node journals to its disk and is \
                  crashed and restarted, a partition and a heal",
    }]
}

/// A request that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("unknown scenario '{name}' (known: {known})")]
    UnknownScenario { name: String, known: String },
    #[error("unknown bug '{name}' (known: {known})")]
    UnknownBug { name: String, known: String },
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub limits: RunLimits,
}

impl RunRequest {
    pub fn new(scenario: &str, seed: u64) -> RunRequest {
        RunRequest {
            scenario: scenario.to_string(),
            seed,
            bugs: Vec::new(),
            limits: RunLimits {
                sim_time: Duration::from_secs(3600),
                wall_clock: Duration::from_secs(300),
            },
        }
    }
}

/// Checks a request before running it.
pub fn validate(request: &RunRequest) -> Result<(), RunError> {
    let known: Vec<&str> = catalog().iter().map(|info| info.name).collect();
    if !known.contains(&request.scenario.as_str()) {
        return Err(RunError::UnknownScenario {
            name: request.scenario.clone(),
            known: known.join(", "),
        });
    }
    if let Some(bug) = request.bugs.first() {
        return Err(RunError::UnknownBug {
            name: bug.clone(),
            known: "(none yet)".to_string(),
        });
    }
    Ok(())
}

/// Runs one scenario for one seed and reports the verdict.
pub fn run(request: &RunRequest) -> Result<RunReport, RunError> {
    validate(request)?;
    let outcome = sim::run(
        Seed::new(request.seed),
        request.limits,
        |world| async move { smoke::run(world).await },
    );
    let mut anomalies = outcome.value.clone().unwrap_or_default();
    let status = match &outcome.status {
        RunStatus::Completed => "completed".to_string(),
        other => {
            anomalies.push(report::Anomaly::new(
                "run-failed",
                format!("the run did not complete: {}", other.describe()),
            ));
            other.describe()
        }
    };
    let verdict = if anomalies.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Ok(RunReport {
        scenario: request.scenario.clone(),
        seed: request.seed,
        bugs: request.bugs.clone(),
        verdict,
        trace_hash: outcome.trace_hash.to_string(),
        anomalies,
        repro: repro_command(&request.scenario, request.seed, &request.bugs),
        sim_time_ms: outcome.sim_time.as_millis() as u64,
        events: outcome.trace_items,
        status,
        wall_time_ms: outcome.wall_time.as_millis() as u64,
    })
}
