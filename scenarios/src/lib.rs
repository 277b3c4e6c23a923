//! Scenario model and files, workloads, fault schedules, the named scenarios, swarm and the bug
//! catalog — and running one scenario for one seed into a verdict.
//!
//! - [`spec`] — the scenario model (Rust builder and TOML files);
//! - [`named`] — the named scenarios, one per real bug class, and `swarm`;
//! - [`bugs`] — the bug catalog behind `--bug NAME`;
//! - [`runtime`] — runs a scenario in the simulated world;
//! - [`coverage`] — the marks each scenario exists to reach;
//! - [`campaign`] — many seeds in parallel, shards, summaries and their merge;
//! - [`shrink`] — delta-debugging a failing run's fault schedule;
//! - [`state`] — the state checker: the replicas' logs and the cluster's state at the end;
//! - [`report`] — the result of one run.

pub mod bugs;
pub mod campaign;
pub mod coverage;
pub mod named;
pub mod observer;
pub mod report;
pub mod runtime;
pub mod shrink;
pub mod spec;
pub mod state;

use bugs::BugSelection;
use report::{repro_command, Anomaly, FindingKind, RunReport, Verdict};
use sim::{RunLimits, RunStatus, Seed};
use spec::Scenario;
use std::time::Duration;

/// Where the scenario of a run comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ScenarioSource {
    /// A named scenario: built from the seed.
    Named(String),
    /// A scenario file (or any fixed scenario), with the path it came from for the repro line.
    Fixed {
        scenario: Box<Scenario>,
        path: String,
    },
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    pub source: ScenarioSource,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub limits: RunLimits,
    /// Run the state checker (always, except to measure what it costs).
    pub state_checker: bool,
}

/// Simulated-time limit of a run: far beyond any scenario's phases.
pub const SIM_TIME_LIMIT: Duration = Duration::from_secs(3_600);
/// Wall-clock limit of a run: a seed that takes longer is a hang.
pub const WALL_CLOCK_LIMIT: Duration = Duration::from_secs(300);

impl RunRequest {
    pub fn named(scenario: &str, seed: u64) -> RunRequest {
        RunRequest {
            source: ScenarioSource::Named(scenario.to_string()),
            seed,
            bugs: Vec::new(),
            limits: RunLimits {
                sim_time: SIM_TIME_LIMIT,
                wall_clock: WALL_CLOCK_LIMIT,
            },
            state_checker: true,
        }
    }

    pub fn fixed(scenario: Scenario, path: &str, seed: u64) -> RunRequest {
        RunRequest {
            source: ScenarioSource::Fixed {
                scenario: Box::new(scenario),
                path: path.to_string(),
            },
            ..RunRequest::named("", seed)
        }
    }

    /// Switches these bugs on; a bug named twice is on once (`--bug X --bug X` is `[X]`).
    pub fn with_bugs(mut self, bugs: Vec<String>) -> RunRequest {
        self.bugs = unique_bugs(bugs);
        self
    }

    /// The scenario's name as reports show it.
    pub fn scenario_name(&self) -> String {
        match &self.source {
            ScenarioSource::Named(name) => name.clone(),
            ScenarioSource::Fixed { scenario, .. } => scenario.name.clone(),
        }
    }

    /// The command line that reproduces this run bit for bit.
    pub fn repro(&self) -> String {
        match &self.source {
            ScenarioSource::Named(name) => repro_command(name, self.seed, &self.bugs),
            ScenarioSource::Fixed { path, .. } => {
                let mut command =
                    format!("streamsim run --scenario-file {path} --seed {}", self.seed);
                for bug in &self.bugs {
                    command.push_str(" --bug ");
                    command.push_str(bug);
                }
                command
            }
        }
    }

    /// The concrete scenario of this run.
    pub fn scenario(&self) -> Result<Scenario, RunError> {
        match &self.source {
            ScenarioSource::Named(name) => named::find(name)
                .map(|named| named.build(Seed::new(self.seed)))
                .ok_or_else(|| RunError::UnknownScenario {
                    name: name.clone(),
                    known: named::names().join(", "),
                }),
            ScenarioSource::Fixed { scenario, .. } => Ok((**scenario).clone()),
        }
    }
}

/// A request that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("unknown scenario '{name}' (known: {known})")]
    UnknownScenario { name: String, known: String },
    #[error("{0}")]
    UnknownBug(String),
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
}

/// Checks a request before running it.
pub fn validate(request: &RunRequest) -> Result<(), RunError> {
    let scenario = request.scenario()?;
    scenario.validate().map_err(RunError::InvalidScenario)?;
    BugSelection::from_names(&request.bugs).map_err(RunError::UnknownBug)?;
    Ok(())
}

/// Runs one scenario for one seed: the simulation, then the oracle over its history.
pub fn run(request: &RunRequest) -> Result<RunReport, RunError> {
    let scenario = request.scenario()?;
    scenario.validate().map_err(RunError::InvalidScenario)?;
    let bugs = BugSelection::from_names(&request.bugs).map_err(RunError::UnknownBug)?;
    let spec = scenario.clone();
    let state_checker = request.state_checker;
    let outcome = sim::run(Seed::new(request.seed), request.limits, move |world| {
        runtime::execute(world, spec, bugs, state_checker)
    });

    let mut anomalies = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    let (history, coverage, fault_log, stats, high_watermarks) = match &outcome.value {
        Some(execution) => {
            for failure in &execution.setup_failures {
                anomalies.push(Anomaly::new(FindingKind::SetupFailed, failure.clone()));
            }
            let events = execution.history.take_events();
            let result = oracle::check_events(&events);
            for anomaly in &result.anomalies {
                anomalies.push(Anomaly {
                    kind: FindingKind::Oracle(anomaly.kind),
                    explanation: anomaly.explanation.clone(),
                    events: anomaly.events.clone(),
                });
            }
            for kind in oracle::AnomalyKind::ALL {
                let count = result.count(kind);
                if count > 0 {
                    counts.insert(FindingKind::Oracle(kind), count);
                }
            }
            for anomaly in &execution.state_anomalies {
                *counts.entry(FindingKind::State(anomaly.kind)).or_insert(0) += 1;
                anomalies.push(Anomaly {
                    kind: FindingKind::State(anomaly.kind),
                    explanation: anomaly.explanation.clone(),
                    events: anomaly.events.clone(),
                });
            }
            (
                events,
                execution.coverage.clone(),
                execution.fault_log.clone(),
                Some(result.stats),
                execution.high_watermarks.clone(),
            )
        }
        None => (Vec::new(), coverage::empty(), Vec::new(), None, Vec::new()),
    };
    let status = match &outcome.status {
        RunStatus::Completed => "completed".to_string(),
        other => {
            let description = other.describe();
            anomalies.push(Anomaly::new(
                FindingKind::RunFailed,
                format!(
                    "seed {}: the run did not complete: {description}",
                    request.seed
                ),
            ));
            *counts.entry(FindingKind::RunFailed).or_insert(0) += 1;
            description
        }
    };
    let setup_failures = anomalies
        .iter()
        .filter(|a| a.kind == FindingKind::SetupFailed)
        .count() as u64;
    if setup_failures > 0 {
        counts.insert(FindingKind::SetupFailed, setup_failures);
    }
    let verdict = if anomalies.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    Ok(RunReport {
        scenario: request.scenario_name(),
        seed: request.seed,
        bugs: request.bugs.clone(),
        verdict,
        trace_hash: outcome.trace_hash.to_string(),
        anomalies,
        counts,
        repro: request.repro(),
        sim_time_ms: outcome.sim_time.as_millis() as u64,
        events: history.len() as u64,
        network_messages: outcome.value.as_ref().map_or(0, |e| e.network_messages),
        timer_wakeups: outcome.value.as_ref().map_or(0, |e| e.timer_wakeups),
        nodes: scenario.node_count(),
        status,
        wall_time_ms: outcome.wall_time.as_millis() as u64,
        coverage,
        fault_log,
        stats,
        history,
        high_watermarks,
        spec: scenario,
    })
}

/// `bugs` without repeats, in the order they were first named.
pub fn unique_bugs(bugs: Vec<String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(bugs.len());
    for bug in bugs {
        if !unique.contains(&bug) {
            unique.push(bug);
        }
    }
    unique
}
