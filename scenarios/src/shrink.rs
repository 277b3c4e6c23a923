//! Shrinking a failing run's fault schedule to its essence.
//!
//! The failing run's scenario is made concrete (a named scenario is built from its seed), then
//! its fault schedule is reduced while the run — replayed deterministically with the same seed
//! and bugs — still fails with the same anomaly kind:
//! 1. delta debugging (Zeller's ddmin) drops faults, in chunks then one by one;
//! 2. each remaining fault's duration is halved while the failure stays;
//! 3. each remaining fault is moved later (halfway to the end of the fault phase) while the
//!    failure stays;
//! 4. each remaining protocol-aware fault (`when`) loses its event filter (`on`) and gets its
//!    delay bound (`within_ms`) halved while the failure stays: the smallest window around the
//!    cluster event that still fails is the clearest statement of the race.
//!
//! Every candidate is a full deterministic replay, so the result is a scenario (written as TOML)
//! that reproduces the failure with the same seed. The number of replays is bounded.

use crate::report::{FindingKind, RunReport};
use crate::spec::{Scenario, TimedFault};
use crate::{RunError, RunRequest};

/// Most replays one shrink may spend.
pub const SHRINK_RUNS_MAX: u64 = 400;
/// Most halvings of one fault's duration.
const HALVINGS_MAX: u32 = 6;
/// Most moves of one fault later.
const MOVES_MAX: u32 = 4;

#[derive(Debug, Clone)]
pub struct ShrinkOutcome {
    /// The anomaly kind the shrunk scenario still fails with.
    pub kind: FindingKind,
    pub original: Scenario,
    pub minimal: Scenario,
    /// Replays spent.
    pub runs: u64,
    /// The report of the minimal scenario's run.
    pub report: RunReport,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Run(#[from] RunError),
    #[error("seed {seed} of {scenario} does not fail: nothing to shrink")]
    DoesNotFail { scenario: String, seed: u64 },
}

struct Shrinker<'a> {
    request: &'a RunRequest,
    kind: FindingKind,
    runs: u64,
    progress: &'a mut dyn FnMut(&str),
}

impl Shrinker<'_> {
    /// Replays `scenario`; true when it fails with the target kind.
    fn fails(&mut self, scenario: &Scenario) -> bool {
        if self.runs >= SHRINK_RUNS_MAX {
            return false;
        }
        self.runs += 1;
        let request = RunRequest {
            limits: self.request.limits,
            ..RunRequest::fixed(scenario.clone(), "shrinking", self.request.seed)
                .with_bugs(self.request.bugs.clone())
        };
        match crate::run(&request) {
            Ok(report) => report.anomalies.iter().any(|a| a.kind == self.kind),
            Err(_) => false,
        }
    }

    fn with_faults(base: &Scenario, faults: Vec<TimedFault>) -> Scenario {
        Scenario {
            faults,
            ..base.clone()
        }
    }

    /// ddmin over the fault list.
    fn drop_faults(&mut self, base: &Scenario) -> Vec<TimedFault> {
        let mut faults = base.faults.clone();
        let mut chunks = 2usize;
        while faults.len() >= 2 || (faults.len() == 1 && chunks <= 2) {
            let chunk_len = faults.len().div_ceil(chunks).max(1);
            let mut reduced = false;
            for start in (0..faults.len()).step_by(chunk_len) {
                let end = (start + chunk_len).min(faults.len());
                let complement: Vec<TimedFault> = faults[..start]
                    .iter()
                    .chain(&faults[end..])
                    .cloned()
                    .collect();
                let candidate = Self::with_faults(base, complement.clone());
                if self.fails(&candidate) {
                    (self.progress)(&format!(
                        "  {} -> {} faults (run {})",
                        faults.len(),
                        complement.len(),
                        self.runs
                    ));
                    faults = complement;
                    chunks = (chunks - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if chunks >= faults.len() {
                    break;
                }
                chunks = (chunks * 2).min(faults.len());
            }
            if self.runs >= SHRINK_RUNS_MAX {
                break;
            }
        }
        faults
    }

    fn shorten(&mut self, base: &Scenario, mut faults: Vec<TimedFault>) -> Vec<TimedFault> {
        for index in 0..faults.len() {
            for _ in 0..HALVINGS_MAX {
                let Some(for_ms) = faults[index].for_ms else {
                    break;
                };
                if for_ms < 100 {
                    break;
                }
                let mut candidate = faults.clone();
                candidate[index].for_ms = Some(for_ms / 2);
                if self.fails(&Self::with_faults(base, candidate.clone())) {
                    faults = candidate;
                } else {
                    break;
                }
            }
        }
        faults
    }

    fn tighten_triggers(
        &mut self,
        base: &Scenario,
        mut faults: Vec<TimedFault>,
    ) -> Vec<TimedFault> {
        for index in 0..faults.len() {
            if faults[index].when.is_none() {
                continue;
            }
            if faults[index].on.is_some() {
                let mut candidate = faults.clone();
                candidate[index].on = None;
                if self.fails(&Self::with_faults(base, candidate.clone())) {
                    faults = candidate;
                }
            }
            for _ in 0..HALVINGS_MAX {
                let within = faults[index]
                    .within_ms
                    .unwrap_or(crate::spec::WITHIN_MS_DEFAULT);
                if within == 0 {
                    break;
                }
                let mut candidate = faults.clone();
                candidate[index].within_ms = Some(within / 2);
                if self.fails(&Self::with_faults(base, candidate.clone())) {
                    faults = candidate;
                } else {
                    break;
                }
            }
        }
        faults
    }

    fn postpone(&mut self, base: &Scenario, mut faults: Vec<TimedFault>) -> Vec<TimedFault> {
        for index in 0..faults.len() {
            for _ in 0..MOVES_MAX {
                let at_ms = faults[index].at_ms;
                let later = at_ms + (base.fault_phase_ms.saturating_sub(at_ms)) / 2;
                if later <= at_ms + 50 || later >= base.fault_phase_ms {
                    break;
                }
                let mut candidate = faults.clone();
                candidate[index].at_ms = later;
                if self.fails(&Self::with_faults(base, candidate.clone())) {
                    faults = candidate;
                } else {
                    break;
                }
            }
        }
        faults
    }
}

/// Shrinks the fault schedule of a failing run. `progress` receives one line per improvement.
pub fn shrink(
    request: &RunRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<ShrinkOutcome, ShrinkError> {
    let original = request.scenario()?;
    let first = crate::run(request)?;
    let Some(kind) = first.anomalies.first().map(|a| a.kind) else {
        return Err(ShrinkError::DoesNotFail {
            scenario: request.scenario_name(),
            seed: request.seed,
        });
    };
    progress(&format!(
        "{} seed {} fails with {kind}; shrinking its {} faults",
        request.scenario_name(),
        request.seed,
        original.faults.len()
    ));
    let mut shrinker = Shrinker {
        request,
        kind,
        runs: 1,
        progress,
    };
    let faults = shrinker.drop_faults(&original);
    let faults = shrinker.shorten(&original, faults);
    let faults = shrinker.postpone(&original, faults);
    let faults = shrinker.tighten_triggers(&original, faults);
    let mut minimal = Shrinker::with_faults(&original, faults);
    minimal.name = format!("{}-seed-{}-shrunk", request.scenario_name(), request.seed);
    minimal.description = format!(
        "Shrunk by `streamsim shrink` from {} seed {}{}: fails with {kind} when run with the same \
         seed and bugs ({} of {} faults left).",
        request.scenario_name(),
        request.seed,
        if request.bugs.is_empty() {
            String::new()
        } else {
            format!(" with --bug {}", request.bugs.join(" --bug "))
        },
        minimal.faults.len(),
        original.faults.len()
    );
    // The final replay: the minimal scenario's own report (and a last check).
    let final_request = RunRequest {
        limits: request.limits,
        ..RunRequest::fixed(minimal.clone(), "shrunk", request.seed).with_bugs(request.bugs.clone())
    };
    let report = crate::run(&final_request)?;
    Ok(ShrinkOutcome {
        kind,
        original,
        minimal,
        runs: shrinker.runs + 1,
        report,
    })
}
