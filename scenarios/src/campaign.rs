//! Campaigns: many seeds of one or more scenarios, in parallel, into one summary.
//!
//! Every (scenario, seed) run is independent and deterministic, so a campaign's results do not
//! depend on `--jobs` or on the order runs finish in: the summary lists runs sorted by scenario
//! and seed. A shard `k/n` takes the seeds `s` with `s % n == k - 1`; shards are disjoint, cover
//! the unsharded campaign together, and each is reproducible alone. Summaries of shards merge
//! into the summary of the whole ([`merge`]).

use crate::report::{RunReport, Verdict};
use crate::{named, RunError, RunRequest, ScenarioSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Which seeds a campaign runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedSelection {
    /// Seeds 1..=n.
    Count(u64),
    /// Seeds start..end (end exclusive).
    Range { start: u64, end: u64 },
    /// Seeds 1, 2, 3, ... until the wall-clock budget is spent (runs in progress finish).
    TimeBudget(Duration),
}

impl SeedSelection {
    pub fn describe(&self) -> String {
        match self {
            SeedSelection::Count(n) => format!("seeds 1..={n}"),
            SeedSelection::Range { start, end } => format!("seeds {start}..{end}"),
            SeedSelection::TimeBudget(budget) => format!("seeds from 1 for {} s", budget.as_secs()),
        }
    }

    /// How many seeds a campaign with this selection runs per scenario (within `shard`), or None
    /// for a time budget (unbounded).
    pub fn count(&self, shard: Option<Shard>) -> Option<u64> {
        let (start, end) = self.bounds();
        let end = end?;
        let Some(shard) = shard else {
            return Some(end.saturating_sub(start));
        };
        // Seeds below x with s % n == k - 1.
        let below = |x: u64| x / shard.count + u64::from(x % shard.count > shard.index - 1);
        Some(below(end) - below(start))
    }

    /// The seeds in order, or None for a time budget (unbounded).
    fn bounds(&self) -> (u64, Option<u64>) {
        match self {
            SeedSelection::Count(n) => (1, Some(n.saturating_add(1))),
            SeedSelection::Range { start, end } => (*start, Some(*end)),
            SeedSelection::TimeBudget(_) => (1, None),
        }
    }
}

/// A shard: `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("shard '{text}' is not of the form K/N (e.g. 1/4)"))?;
        let index: u64 = index
            .trim()
            .parse()
            .map_err(|_| format!("shard '{text}': '{index}' is not a positive integer"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| format!("shard '{text}': '{count}' is not a positive integer"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "shard '{text}': K must be in 1..=N and N at least 1"
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn contains(&self, seed: u64) -> bool {
        seed % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// Named scenarios or a fixed one (from a file).
    pub scenarios: Vec<ScenarioSource>,
    pub seeds: SeedSelection,
    pub shard: Option<Shard>,
    pub jobs: usize,
    pub bugs: Vec<String>,
    /// Wall-clock limit of one run (a hang beyond it is a failure of that seed).
    pub seed_wall_clock_limit: Duration,
}

/// One run, as the summary keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    pub verdict: Verdict,
    pub trace_hash: String,
    pub status: String,
    /// Anomalies by kind (exact counts).
    pub anomalies: BTreeMap<String, u64>,
    /// Coverage marks this run reached (count > 0).
    pub coverage: Vec<String>,
    pub sim_time_ms: u64,
    pub wall_time_ms: u64,
    pub repro: String,
}

impl RunSummary {
    pub fn of(report: &RunReport) -> RunSummary {
        RunSummary {
            scenario: report.scenario.clone(),
            seed: report.seed,
            verdict: report.verdict,
            trace_hash: report.trace_hash.clone(),
            status: report.status.clone(),
            anomalies: report
                .counts
                .iter()
                .map(|(kind, count)| (kind.to_string(), *count))
                .collect(),
            coverage: report
                .coverage
                .iter()
                .filter(|(_, count)| **count > 0)
                .map(|(mark, _)| mark.clone())
                .collect(),
            sim_time_ms: report.sim_time_ms,
            wall_time_ms: report.wall_time_ms,
            repro: report.repro.clone(),
        }
    }
}

/// Per-scenario totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioTotals {
    pub seeds: u64,
    pub failures: u64,
    /// Failing seeds per anomaly kind.
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Seeds that reached each coverage mark.
    pub coverage: BTreeMap<String, u64>,
    /// The scenario's defining marks that no seed reached.
    pub missing_coverage: Vec<String>,
    /// The first failing seed (the lowest), if any.
    pub first_failure: Option<u64>,
    pub sim_time_ms: u64,
    /// Wall time of the scenario's runs, summed (runs overlap with --jobs > 1).
    pub wall_time_ms: u64,
}

/// The summary of a campaign (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSummary {
    pub streamsim_version: String,
    pub scenarios: Vec<String>,
    pub bugs: Vec<String>,
    pub seed_selection: String,
    pub shards: Vec<String>,
    pub seeds_run: u64,
    pub failures: u64,
    /// Whether the campaign was interrupted (Ctrl-C) before it finished.
    pub interrupted: bool,
    pub wall_time_ms: u64,
    pub seeds_per_second: f64,
    pub totals: BTreeMap<String, ScenarioTotals>,
    /// Every run, sorted by scenario and seed.
    pub runs: Vec<RunSummary>,
}

impl CampaignSummary {
    /// Builds the summary from runs; totals and coverage are recomputed from them.
    pub fn from_runs(
        mut runs: Vec<RunSummary>,
        bugs: Vec<String>,
        seed_selection: String,
        shards: Vec<String>,
        interrupted: bool,
        wall_time_ms: u64,
    ) -> CampaignSummary {
        runs.sort_by(|a, b| (&a.scenario, a.seed).cmp(&(&b.scenario, b.seed)));
        let mut totals: BTreeMap<String, ScenarioTotals> = BTreeMap::new();
        for run in &runs {
            let totals = totals.entry(run.scenario.clone()).or_default();
            totals.seeds += 1;
            totals.sim_time_ms += run.sim_time_ms;
            totals.wall_time_ms += run.wall_time_ms;
            if run.verdict == Verdict::Fail {
                totals.failures += 1;
                totals.first_failure =
                    Some(totals.first_failure.map_or(run.seed, |s| s.min(run.seed)));
                for kind in run.anomalies.keys() {
                    *totals.failures_by_kind.entry(kind.clone()).or_insert(0) += 1;
                }
            }
            for mark in &run.coverage {
                *totals.coverage.entry(mark.clone()).or_insert(0) += 1;
            }
        }
        // A switched-on bug may keep a scenario from its defining event (a producer that gives
        // up never bumps its epoch): coverage is required of the correct build only.
        for (scenario, totals) in totals.iter_mut().filter(|_| bugs.is_empty()) {
            if let Some(named) = named::find(scenario) {
                totals.missing_coverage = named
                    .defining_marks
                    .iter()
                    .filter(|mark| totals.coverage.get(**mark).copied().unwrap_or(0) == 0)
                    .map(|mark| mark.to_string())
                    .collect();
            }
        }
        let seeds_run = runs.len() as u64;
        let failures = runs.iter().filter(|r| r.verdict == Verdict::Fail).count() as u64;
        let seeds_per_second = if wall_time_ms == 0 {
            0.0
        } else {
            seeds_run as f64 * 1000.0 / wall_time_ms as f64
        };
        CampaignSummary {
            streamsim_version: env!("CARGO_PKG_VERSION").to_string(),
            scenarios: totals.keys().cloned().collect(),
            bugs,
            seed_selection,
            shards,
            seeds_run,
            failures,
            interrupted,
            wall_time_ms,
            seeds_per_second: (seeds_per_second * 100.0).round() / 100.0,
            totals,
            runs,
        }
    }

    /// Scenarios whose defining coverage marks were never reached.
    pub fn missing_coverage(&self) -> Vec<(String, String)> {
        self.totals
            .iter()
            .flat_map(|(scenario, totals)| {
                totals
                    .missing_coverage
                    .iter()
                    .map(move |mark| (scenario.clone(), mark.clone()))
            })
            .collect()
    }

    /// The campaign passed: no failing seed, every defining mark reached, not interrupted.
    pub fn passed(&self) -> bool {
        self.failures == 0 && self.missing_coverage().is_empty() && !self.interrupted
    }
}

/// Merges summaries of shards (or of any disjoint campaigns) into one. A run present in two
/// summaries must agree on its verdict and trace hash.
pub fn merge(summaries: &[CampaignSummary]) -> Result<CampaignSummary, String> {
    let mut runs: BTreeMap<(String, u64), RunSummary> = BTreeMap::new();
    let mut bugs: Vec<String> = Vec::new();
    let mut shards = Vec::new();
    let mut selections = Vec::new();
    let mut wall_time_ms = 0;
    let mut interrupted = false;
    for summary in summaries {
        for bug in &summary.bugs {
            if !bugs.contains(bug) {
                bugs.push(bug.clone());
            }
        }
        shards.extend(summary.shards.iter().cloned());
        if !selections.contains(&summary.seed_selection) {
            selections.push(summary.seed_selection.clone());
        }
        wall_time_ms = wall_time_ms.max(summary.wall_time_ms);
        interrupted |= summary.interrupted;
        for run in &summary.runs {
            let key = (run.scenario.clone(), run.seed);
            if let Some(existing) = runs.get(&key) {
                if existing.trace_hash != run.trace_hash || existing.verdict != run.verdict {
                    return Err(format!(
                        "{} seed {} appears twice with different results (trace hashes {} and {})",
                        run.scenario, run.seed, existing.trace_hash, run.trace_hash
                    ));
                }
            } else {
                runs.insert(key, run.clone());
            }
        }
    }
    Ok(CampaignSummary::from_runs(
        runs.into_values().collect(),
        bugs,
        selections.join(" + "),
        shards,
        interrupted,
        wall_time_ms,
    ))
}

/// Checks a campaign before running anything: scenarios exist, bugs exist.
pub fn validate(config: &CampaignConfig) -> Result<(), RunError> {
    if config.scenarios.is_empty() {
        return Err(RunError::InvalidScenario("no scenario to run".into()));
    }
    for source in &config.scenarios {
        let request = RunRequest {
            source: source.clone(),
            seed: 1,
            bugs: config.bugs.clone(),
            limits: sim::RunLimits::default(),
            state_checker: true,
        };
        crate::validate(&request)?;
    }
    Ok(())
}

/// One finished run, handed to the caller as soon as it completes (in completion order).
pub struct Finished {
    pub report: RunReport,
    /// Runs finished so far, this one included.
    pub done: u64,
    /// Runs the campaign will do in all (None with a time budget).
    pub total: Option<u64>,
}

/// Runs a campaign on `config.jobs` worker threads. `on_finished` sees every run as it finishes
/// (to print progress and write reports of failures); `stop` ends the campaign early (Ctrl-C,
/// time budget): no new run starts, runs in progress finish. Returns the runs' summaries and
/// whether the campaign was stopped before it ran everything.
pub fn run(
    config: &CampaignConfig,
    stop: Arc<AtomicBool>,
    mut on_finished: impl FnMut(Finished),
) -> (Vec<RunSummary>, bool) {
    let (first, end) = config.seeds.bounds();
    let shard = config.shard;
    let seeds_in = |start: u64, end: u64| {
        (start..end)
            .filter(|s| shard.is_none_or(|sh| sh.contains(*s)))
            .count() as u64
    };
    let total = end.map(|end| seeds_in(first, end) * config.scenarios.len() as u64);
    // Work items: seed-major, so every scenario advances together (a time budget is fair).
    let next = Arc::new(Mutex::new((first, 0usize)));
    let scenarios = config.scenarios.clone();
    let (sender, receiver) = mpsc::channel::<RunReport>();
    let jobs = config.jobs.max(1);
    let mut workers = Vec::new();
    for _ in 0..jobs {
        let next = next.clone();
        let scenarios = scenarios.clone();
        let sender = sender.clone();
        let stop = stop.clone();
        let bugs = config.bugs.clone();
        let wall_clock = config.seed_wall_clock_limit;
        workers.push(
            std::thread::Builder::new()
                .name("streamsim-campaign-worker".to_string())
                .spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let item = {
                        let mut next = next.lock().unwrap_or_else(|p| p.into_inner());
                        loop {
                            let (seed, index) = *next;
                            if end.is_some_and(|end| seed >= end) {
                                break None;
                            }
                            *next = if index + 1 < scenarios.len() {
                                (seed, index + 1)
                            } else {
                                (seed + 1, 0)
                            };
                            if shard.is_none_or(|sh| sh.contains(seed)) {
                                break Some((seed, scenarios[index].clone()));
                            }
                        }
                    };
                    let Some((seed, source)) = item else { return };
                    let mut request = RunRequest {
                        source,
                        seed,
                        bugs: bugs.clone(),
                        limits: sim::RunLimits {
                            sim_time: crate::SIM_TIME_LIMIT,
                            wall_clock,
                        },
                        state_checker: true,
                    };
                    request.limits.wall_clock = wall_clock;
                    match crate::run(&request) {
                        Ok(report) => {
                            if sender.send(report).is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            // Validated before the campaign started; cannot happen for a seed.
                            panic!("seed {seed}: {error}");
                        }
                    }
                })
                .expect("the OS starts a campaign worker"),
        );
    }
    drop(sender);
    let mut summaries = Vec::new();
    let mut done = 0;
    for report in receiver {
        done += 1;
        summaries.push(RunSummary::of(&report));
        on_finished(Finished {
            report,
            done,
            total,
        });
    }
    for worker in workers {
        let _ = worker.join();
    }
    let stopped = stop.load(Ordering::Relaxed) && total.is_none_or(|total| done < total);
    (summaries, stopped)
}
