//! The headline claim, as a test: the correct build (no bug switched on) passes the first seeds of
//! every named scenario — no anomaly, every run completed, every scenario's defining coverage
//! marks reached — as `streamsim fuzz --seeds 3` would say. (Each catalog bug failing its
//! documented seed is `docs_bugs.rs`; seeds that once failed are `regressions.rs`.)

use scenarios::campaign::{self, CampaignConfig, CampaignSummary, SeedSelection};
use scenarios::report::Verdict;
use scenarios::ScenarioSource;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

const SEEDS: u64 = 3;

#[test]
fn the_correct_build_passes_the_first_seeds_of_every_named_scenario() {
    let names = scenarios::named::names();
    let config = CampaignConfig {
        scenarios: (names.iter())
            .map(|name| ScenarioSource::Named(name.to_string()))
            .collect(),
        seeds: SeedSelection::Count(SEEDS),
        shard: None,
        jobs: std::thread::available_parallelism().map_or(2, |jobs| jobs.get()),
        bugs: Vec::new(),
        seed_wall_clock_limit: Duration::from_secs(60),
    };
    campaign::validate(&config).expect("every named scenario is valid");
    let (runs, stopped) = campaign::run(&config, Arc::new(AtomicBool::new(false)), |_| {});
    assert!(!stopped);
    let summary = CampaignSummary::from_runs(
        runs,
        Vec::new(),
        config.seeds.describe(),
        Vec::new(),
        false,
        0,
    );

    assert_eq!(summary.scenarios.len(), names.len());
    for name in &names {
        assert_eq!(summary.totals[*name].seeds, SEEDS, "{name}");
    }
    let failing: Vec<String> = (summary.runs.iter())
        .filter(|run| run.verdict == Verdict::Fail)
        .map(|run| format!("{} ({}): {:?}", run.repro, run.status, run.anomalies))
        .collect();
    assert!(failing.is_empty(), "failing seeds:\n{}", failing.join("\n"));
    assert!(
        summary.missing_coverage().is_empty(),
        "defining marks never reached: {:?}",
        summary.missing_coverage()
    );
    assert!(summary.passed());
}
