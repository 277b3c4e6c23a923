//! The verdict on a history: [`CheckResult`], its `--json` shape (docs/history-format.md) and its terminal rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The anomaly names of docs/history-format.md's table, in the table's order (which is also the order of the report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AnomalyKind {
    #[serde(rename = "lost-write")]
    LostWrite,
    #[serde(rename = "unseen")]
    Unseen,
    #[serde(rename = "duplicate")]
    Duplicate,
    #[serde(rename = "inconsistent-offsets")]
    InconsistentOffsets,
    #[serde(rename = "G1a")]
    G1a,
    #[serde(rename = "nonmonotonic-poll")]
    NonmonotonicPoll,
    #[serde(rename = "poll-skip")]
    PollSkip,
    #[serde(rename = "duplicate-delivery")]
    DuplicateDelivery,
    #[serde(rename = "commit-regressed")]
    CommitRegressed,
    #[serde(rename = "nonmonotonic-send")]
    NonmonotonicSend,
    #[serde(rename = "internal-error")]
    InternalError,
    #[serde(rename = "wrong-next-available")]
    WrongNextAvailable,
    #[serde(rename = "spinloop")]
    Spinloop,
    #[serde(rename = "stale-partitions")]
    StalePartitions,
    #[serde(rename = "producer-stalled")]
    ProducerStalled,
    #[serde(rename = "reported-data-loss")]
    ReportedDataLoss,
    #[serde(rename = "spurious-out-of-range")]
    SpuriousOutOfRange,
    #[serde(rename = "read-above-high-watermark")]
    ReadAboveHighWatermark,
    #[serde(rename = "double-assignment")]
    DoubleAssignment,
    #[serde(rename = "unowned-commit")]
    UnownedCommit,
    #[serde(rename = "fenced-commit-accepted")]
    FencedCommitAccepted,
    #[serde(rename = "offsets-expired-early")]
    OffsetsExpiredEarly,
}

impl AnomalyKind {
    /// Every kind, in docs/history-format.md's order.
    pub const ALL: [AnomalyKind; 22] = [
        AnomalyKind::LostWrite,
        AnomalyKind::Unseen,
        AnomalyKind::Duplicate,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::G1a,
        AnomalyKind::NonmonotonicPoll,
        AnomalyKind::PollSkip,
        AnomalyKind::DuplicateDelivery,
        AnomalyKind::CommitRegressed,
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::InternalError,
        AnomalyKind::WrongNextAvailable,
        AnomalyKind::Spinloop,
        AnomalyKind::StalePartitions,
        AnomalyKind::ProducerStalled,
        AnomalyKind::ReportedDataLoss,
        AnomalyKind::SpuriousOutOfRange,
        AnomalyKind::ReadAboveHighWatermark,
        AnomalyKind::DoubleAssignment,
        AnomalyKind::UnownedCommit,
        AnomalyKind::FencedCommitAccepted,
        AnomalyKind::OffsetsExpiredEarly,
    ];

    /// The contract's name, e.g. `lost-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::Unseen => "unseen",
            AnomalyKind::Duplicate => "duplicate",
            AnomalyKind::InconsistentOffsets => "inconsistent-offsets",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::NonmonotonicPoll => "nonmonotonic-poll",
            AnomalyKind::PollSkip => "poll-skip",
            AnomalyKind::DuplicateDelivery => "duplicate-delivery",
            AnomalyKind::CommitRegressed => "commit-regressed",
            AnomalyKind::NonmonotonicSend => "nonmonotonic-send",
            AnomalyKind::InternalError => "internal-error",
            AnomalyKind::WrongNextAvailable => "wrong-next-available",
            AnomalyKind::Spinloop => "spinloop",
            AnomalyKind::StalePartitions => "stale-partitions",
            AnomalyKind::ProducerStalled => "producer-stalled",
            AnomalyKind::ReportedDataLoss => "reported-data-loss",
            AnomalyKind::SpuriousOutOfRange => "spurious-out-of-range",
            AnomalyKind::ReadAboveHighWatermark => "read-above-high-watermark",
            AnomalyKind::DoubleAssignment => "double-assignment",
            AnomalyKind::UnownedCommit => "unowned-commit",
            AnomalyKind::FencedCommitAccepted => "fenced-commit-accepted",
            AnomalyKind::OffsetsExpiredEarly => "offsets-expired-early",
        }
    }

    /// The kind with this contract name.
    pub fn from_name(name: &str) -> Option<AnomalyKind> {
        AnomalyKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for AnomalyKind {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// One anomaly: what, why (one sentence with the concrete values), and the lines that prove it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub explanation: String,
    /// 1-based line numbers of the history, ascending, without repeats.
    pub events: Vec<u64>,
}

/// Totals over the history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Events in the history (blank lines are not events), ignored ones included.
    pub events: u64,
    /// Client operations: `send`, `poll`, `request`, `commit`, `assign`, `reset`, `init_pid`, `join`,
    /// `assignment`, `revoke` and `leave` events (not lifecycle, cluster or nemesis events, nor ignored ones). A
    /// history without any proves nothing.
    #[serde(default)]
    pub operations: u64,
    /// `send` ok events.
    pub sends_ok: u64,
    /// Distinct values delivered by at least one `poll` ok.
    pub records_read: u64,
    /// Acknowledged, never-read writes classified evicted (the log start passed them before anyone read past them).
    pub evicted: u64,
    /// Events skipped: an unknown `f`, or a known `f` with a `type` its row does not list.
    pub ignored_events: u64,
    /// Writes acknowledged with acks=1 and never read, whose leader was replaced: the acknowledgement did not
    /// promise they survive that (not an anomaly). Written only when not 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub acks1_lost: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// The verdict. `anomalies` lists at most [`ANOMALIES_LISTED_PER_KIND_MAX`] anomalies of each kind (the first ones
/// by their proving lines); `counts` has the exact number of every kind found (kinds with none are absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub valid: bool,
    pub anomalies: Vec<Anomaly>,
    pub counts: BTreeMap<String, u64>,
    pub stats: Stats,
}

/// How many anomalies of one kind are listed; `counts` stays exact beyond it.
pub const ANOMALIES_LISTED_PER_KIND_MAX: usize = 100;

impl CheckResult {
    /// The `--json` object of docs/history-format.md, pretty-printed, keys in the contract's order.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a CheckResult always serializes")
    }

    /// The total number of anomalies found (listed or not).
    pub fn anomaly_count(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The exact count of one kind.
    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.counts.get(kind.as_str()).copied().unwrap_or(0)
    }

    /// The kinds found, in docs/history-format.md's order.
    pub fn kinds(&self) -> Vec<AnomalyKind> {
        AnomalyKind::ALL
            .into_iter()
            .filter(|kind| self.count(*kind) > 0)
            .collect()
    }

    /// The terminal rendering: the stats, a verdict line, the count per kind, then each listed anomaly with its
    /// explanation and lines.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let stats = &self.stats;
        let _ = write!(
            out,
            "history: {} events, {} sends ok, {} records read, {} evicted, {} ignored",
            stats.events, stats.sends_ok, stats.records_read, stats.evicted, stats.ignored_events
        );
        if stats.acks1_lost > 0 {
            let _ = write!(
                out,
                ", {} acknowledged with acks=1 and lost with their leader",
                stats.acks1_lost
            );
        }
        out.push('\n');
        if self.valid {
            let _ = writeln!(out, "valid: no anomalies");
            return out;
        }
        let total = self.anomaly_count();
        let _ = writeln!(
            out,
            "INVALID: {total} {}",
            if total == 1 { "anomaly" } else { "anomalies" }
        );
        let name_width = self
            .kinds()
            .iter()
            .map(|kind| kind.as_str().len())
            .max()
            .unwrap_or(0);
        for kind in self.kinds() {
            let _ = writeln!(
                out,
                "  {:<name_width$}  {}",
                kind.as_str(),
                self.count(kind)
            );
        }
        for kind in self.kinds() {
            let listed: Vec<&Anomaly> = self
                .anomalies
                .iter()
                .filter(|anomaly| anomaly.kind == kind)
                .collect();
            let count = self.count(kind);
            let _ = writeln!(out);
            if (listed.len() as u64) < count {
                let _ = writeln!(out, "{kind} ({count}, the first {} listed):", listed.len());
            } else {
                let _ = writeln!(out, "{kind} ({count}):");
            }
            for anomaly in listed {
                let lines: Vec<String> = anomaly.events.iter().map(u64::to_string).collect();
                let _ = writeln!(out, "  - {}", anomaly.explanation);
                let noun = if lines.len() == 1 { "line" } else { "lines" };
                let _ = writeln!(out, "    {noun} {}", lines.join(", "));
            }
        }
        out
    }
}

impl std::fmt::Display for CheckResult {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.render_text())
    }
}
