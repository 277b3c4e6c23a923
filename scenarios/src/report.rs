//! The result of one run of one scenario for one seed.

use crate::coverage::Coverage;
use crate::spec::Scenario;
use serde::Serialize;
use std::collections::BTreeMap;

/// What a finding is: an anomaly the oracle found in the history, one the state checker found in
/// the cluster's state, or a run that itself went wrong. Ordered, and written, by name
/// (`lost-write`, `replicas-diverge`, `run-failed`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingKind {
    /// An anomaly of the history (docs/history-format.md).
    Oracle(oracle::AnomalyKind),
    /// An anomaly of the cluster's state (docs/state-checker.md).
    State(crate::state::StateAnomalyKind),
    /// The harness could not set the scenario up (a correct build never does this).
    SetupFailed,
    /// The run did not complete: a panic, the simulated-time limit, a hang.
    RunFailed,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Oracle(kind) => kind.as_str(),
            FindingKind::State(kind) => kind.as_str(),
            FindingKind::SetupFailed => "setup-failed",
            FindingKind::RunFailed => "run-failed",
        }
    }

    /// Which checker finds this kind: `oracle` (the history), `state checker` (the cluster's
    /// state) or `runner` (the run itself).
    pub fn checker(self) -> &'static str {
        match self {
            FindingKind::Oracle(_) => "oracle",
            FindingKind::State(_) => "state checker",
            FindingKind::SetupFailed | FindingKind::RunFailed => "runner",
        }
    }

    /// The kind of this name (`lost-write`, `replicas-diverge`, `run-failed`, ...).
    pub fn from_name(name: &str) -> Option<FindingKind> {
        FindingKind::all().find(|kind| kind.as_str() == name)
    }

    /// Every kind: the oracle's, the state checker's, then the run's own.
    pub fn all() -> impl Iterator<Item = FindingKind> {
        oracle::AnomalyKind::ALL
            .into_iter()
            .map(FindingKind::Oracle)
            .chain(
                crate::state::StateAnomalyKind::ALL
                    .into_iter()
                    .map(FindingKind::State),
            )
            .chain([FindingKind::SetupFailed, FindingKind::RunFailed])
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl Ord for FindingKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for FindingKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for FindingKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One finding: its kind, a one-sentence explanation, and the history lines (1-based) that prove
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anomaly {
    pub kind: FindingKind,
    pub explanation: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<u64>,
}

impl Anomaly {
    pub fn new(kind: FindingKind, explanation: String) -> Anomaly {
        Anomaly {
            kind,
            explanation,
            events: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

/// Everything `streamsim run` reports about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub verdict: Verdict,
    /// The trace hash, 16 hex digits.
    pub trace_hash: String,
    /// The anomalies found (the oracle lists at most 100 per kind; `counts` is exact).
    pub anomalies: Vec<Anomaly>,
    /// Exact number of anomalies of each kind.
    pub counts: BTreeMap<FindingKind, u64>,
    /// The command line that reproduces this run bit for bit.
    pub repro: String,
    pub sim_time_ms: u64,
    /// Number of history events.
    pub events: u64,
    /// Messages the simulated network carried.
    pub network_messages: u64,
    /// Timer wakeups of all node shells (what `streamsim bench` gives its baseline).
    pub timer_wakeups: u64,
    /// The simulated nodes: brokers, the controller, producers and consumers (the baseline's node
    /// count).
    pub nodes: u64,
    /// How the run ended: `completed`, or why it did not (panic, time limit, hang).
    pub status: String,
    pub wall_time_ms: u64,
    /// Coverage marks reached, by name.
    pub coverage: Coverage,
    /// The faults as they fired: (ms since the scenario started, description).
    pub fault_log: Vec<(u64, String)>,
    /// The oracle's totals (absent when the run did not complete).
    pub stats: Option<oracle::result::Stats>,
    /// The history, typed; [`RunReport::history_line`] and the history file give its text.
    #[serde(skip)]
    pub history: Vec<oracle::Event<'static>>,
    /// High watermarks over time (sampled), for timelines.
    #[serde(skip)]
    pub high_watermarks: Vec<crate::runtime::HighWatermarkSample>,
    /// The concrete scenario that ran.
    #[serde(skip)]
    pub spec: Scenario,
}

impl RunReport {
    /// History line `line` (1-based) as text, if the history has it.
    pub fn history_line(&self, line: u64) -> Option<String> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        self.history.get(index).map(oracle::Event::to_json_line)
    }

    /// The history as JSON Lines (docs/history-format.md): one line per event, each ending with a
    /// newline.
    pub fn history_jsonl(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.history.len() * 160);
        for event in &self.history {
            event.write_json_line(&mut bytes);
            bytes.push(b'\n');
        }
        bytes
    }
}

/// The command line that reproduces a run of a named scenario.
pub fn repro_command(scenario: &str, seed: u64, bugs: &[String]) -> String {
    let mut command = format!("streamsim run --scenario {scenario} --seed {seed}");
    for bug in bugs {
        command.push_str(" --bug ");
        command.push_str(bug);
    }
    command
}
