//! Campaigns (`scenarios::campaign`): results do not depend on `--jobs`; shards are disjoint,
//! cover the whole together, and their summaries merge into the summary of the whole;
//! `SeedSelection::count` counts what a (sharded) campaign runs.

use scenarios::campaign::{
    self, CampaignConfig, CampaignSummary, RunSummary, SeedSelection, Shard,
};
use scenarios::report::Verdict;
use scenarios::ScenarioSource;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

const SCENARIOS: &[&str] = &["smoke", "swarm"];
const SEEDS: u64 = 6;

fn config(jobs: usize, shard: Option<Shard>) -> CampaignConfig {
    CampaignConfig {
        scenarios: SCENARIOS
            .iter()
            .map(|name| ScenarioSource::Named(name.to_string()))
            .collect(),
        seeds: SeedSelection::Count(SEEDS),
        shard,
        jobs,
        bugs: Vec::new(),
        seed_wall_clock_limit: Duration::from_secs(60),
    }
}

/// Runs a campaign into its summary, as `streamsim fuzz` does.
fn summary(config: &CampaignConfig) -> CampaignSummary {
    campaign::validate(config).expect("the campaign is valid");
    let mut finished = 0;
    let (runs, stopped) =
        campaign::run(config, Arc::new(AtomicBool::new(false)), |_| finished += 1);
    assert!(!stopped);
    assert_eq!(finished, runs.len());
    let shards = config
        .shard
        .map(|shard| shard.to_string())
        .into_iter()
        .collect();
    CampaignSummary::from_runs(runs, Vec::new(), config.seeds.describe(), shards, false, 0)
}

/// A run without its wall time (the only thing that differs between identical runs).
fn result(run: &RunSummary) -> RunSummary {
    RunSummary {
        wall_time_ms: 0,
        ..run.clone()
    }
}

fn results(summary: &CampaignSummary) -> Vec<RunSummary> {
    summary.runs.iter().map(result).collect()
}

fn seeds(summary: &CampaignSummary) -> BTreeSet<(String, u64)> {
    (summary.runs.iter())
        .map(|run| (run.scenario.clone(), run.seed))
        .collect()
}

#[test]
fn results_do_not_depend_on_jobs_and_shards_merge_into_the_whole() {
    let whole = summary(&config(1, None));
    assert_eq!(whole.seeds_run, SCENARIOS.len() as u64 * SEEDS);
    assert!(
        whole.passed(),
        "the correct build passes: {:?}",
        whole.totals
    );

    // Same runs, same results, in the same order, whatever the number of workers.
    let parallel = summary(&config(3, None));
    assert_eq!(results(&parallel), results(&whole));

    // Shards: disjoint, together the whole, each with its own seeds only.
    let shards: Vec<CampaignSummary> = (1..=3)
        .map(|index| summary(&config(2, Some(Shard { index, count: 3 }))))
        .collect();
    let mut covered = BTreeSet::new();
    for (shard, shard_summary) in (1..=3).zip(&shards) {
        let shard = Shard {
            index: shard,
            count: 3,
        };
        for (scenario, seed) in seeds(shard_summary) {
            assert!(
                shard.contains(seed),
                "{scenario} seed {seed} in shard {shard}"
            );
            assert!(covered.insert((scenario, seed)), "shards are disjoint");
        }
        assert_eq!(
            shard_summary.seeds_run,
            SeedSelection::Count(SEEDS).count(Some(shard)).unwrap() * SCENARIOS.len() as u64
        );
    }
    assert_eq!(covered, seeds(&whole));

    // Their merge is the whole: the same runs and the same totals.
    let merged = campaign::merge(&shards).expect("shards merge");
    assert_eq!(results(&merged), results(&whole));
    assert_eq!(merged.seeds_run, whole.seeds_run);
    assert_eq!(merged.failures, whole.failures);
    assert_eq!(merged.scenarios, whole.scenarios);
    assert_eq!(merged.shards, vec!["1/3", "2/3", "3/3"]);
    for (scenario, totals) in &whole.totals {
        let merged_totals = &merged.totals[scenario];
        assert_eq!(merged_totals.seeds, totals.seeds, "{scenario}");
        assert_eq!(merged_totals.coverage, totals.coverage, "{scenario}");
        assert_eq!(merged_totals.sim_time_ms, totals.sim_time_ms, "{scenario}");
        assert_eq!(
            merged_totals.first_failure, totals.first_failure,
            "{scenario}"
        );
    }
    // A shard merged twice (or two overlapping campaigns) is counted once.
    let twice = campaign::merge(&[shards[0].clone(), shards[0].clone()]).expect("merges");
    assert_eq!(results(&twice), results(&shards[0]));
}

#[test]
fn merging_two_different_results_of_one_seed_is_refused() {
    let run = RunSummary {
        scenario: "smoke".to_string(),
        seed: 7,
        verdict: Verdict::Pass,
        trace_hash: "00000000000000aa".to_string(),
        status: "completed".to_string(),
        anomalies: Default::default(),
        coverage: Vec::new(),
        sim_time_ms: 1,
        wall_time_ms: 1,
        repro: "streamsim run --scenario smoke --seed 7".to_string(),
    };
    let other = RunSummary {
        trace_hash: "00000000000000bb".to_string(),
        ..run.clone()
    };
    let summary = |run: RunSummary| {
        CampaignSummary::from_runs(
            vec![run],
            Vec::new(),
            "seeds 7..8".into(),
            Vec::new(),
            false,
            1,
        )
    };
    let error = campaign::merge(&[summary(run), summary(other)]).unwrap_err();
    assert!(
        error.contains("smoke seed 7 appears twice with different results"),
        "{error}"
    );
}

#[test]
fn seed_selection_counts_the_seeds_of_each_shard() {
    let selections = [
        SeedSelection::Count(0),
        SeedSelection::Count(1),
        SeedSelection::Count(10),
        SeedSelection::Count(101),
        SeedSelection::Range { start: 0, end: 0 },
        SeedSelection::Range { start: 5, end: 6 },
        SeedSelection::Range { start: 7, end: 50 },
        SeedSelection::Range {
            start: 1_000,
            end: 1_337,
        },
    ];
    for selection in &selections {
        let all: Vec<u64> = match selection {
            SeedSelection::Count(n) => (1..=*n).collect(),
            SeedSelection::Range { start, end } => (*start..*end).collect(),
            SeedSelection::TimeBudget(_) => unreachable!(),
        };
        assert_eq!(
            selection.count(None),
            Some(all.len() as u64),
            "{selection:?}"
        );
        for count in 1..=7 {
            let mut total = 0;
            for index in 1..=count {
                let shard = Shard { index, count };
                let expected = all.iter().filter(|&&seed| shard.contains(seed)).count() as u64;
                assert_eq!(
                    selection.count(Some(shard)),
                    Some(expected),
                    "{selection:?} shard {shard}"
                );
                total += expected;
            }
            assert_eq!(
                total,
                all.len() as u64,
                "{selection:?}: shards of {count} cover it"
            );
        }
    }
    let budget = SeedSelection::TimeBudget(Duration::from_secs(60));
    assert_eq!(budget.count(None), None);
    assert_eq!(budget.count(Some(Shard { index: 1, count: 2 })), None);
}

#[test]
fn shards_parse_as_k_of_n() {
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    assert_eq!(Shard::parse("2/4").unwrap().to_string(), "2/4");
    for bad in ["0/4", "5/4", "1/0", "1", "a/b", "-1/2"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}
