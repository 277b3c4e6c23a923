//! `streamsim bench`: how fast seeds run, against the bare-simulator baseline, and how fast the
//! checker reads histories. Figures are wall-clock measurements on this machine: compare the
//! ratios measured in one run, not absolute numbers across machines.

use anyhow::Result;
use clap::Args;
use scenarios::campaign::{self, CampaignConfig, SeedSelection};
use scenarios::report::RunReport;
use scenarios::{RunRequest, ScenarioSource};
use serde::Serialize;
use sim::baseline::{run_baseline, BaselineSpec};
use sim::Seed;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A named scenario, or `all`.
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Seeds per scenario (1..=N), run once with one job and once with all cores.
    #[arg(long, default_value_t = 20)]
    pub seeds: u64,
    /// Also run this many `smoke` seeds one after the other and sample the process's memory,
    /// to show it stays flat (0 = skip).
    #[arg(long, default_value_t = 0)]
    pub memory_seeds: u64,
    /// Skip the checker throughput measurement.
    #[arg(long)]
    pub skip_checker: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct ScenarioBench {
    scenario: String,
    seeds: u64,
    seeds_per_sec_one_job: f64,
    seeds_per_sec_all_cores: f64,
    cores: usize,
    parallel_efficiency: f64,
    sim_seconds_per_wall_second: f64,
    network_messages_per_wall_second: f64,
    history_events_per_wall_second: f64,
    baseline_seeds_per_sec: f64,
    /// streamsim seeds/s over the baseline's, one job each.
    logic_overhead_ratio: f64,
    mean_sim_seconds_per_seed: f64,
    mean_network_messages_per_seed: f64,
    /// Timer wakeups of the node shells per seed (the baseline gets as many).
    mean_timer_wakeups_per_seed: f64,
    /// The same seeds, one job, with the state checker left out.
    seeds_per_sec_without_state_checker: f64,
    /// The share of a seed's wall time the state checker costs (1 - with/without).
    state_checker_share: f64,
}

#[derive(Debug, Serialize)]
struct CheckerBench {
    events: u64,
    /// Threads parsing lines (`oracle::check_reader` uses every core).
    threads: usize,
    seconds: f64,
    events_per_second: f64,
    /// The same parse + check with one thread parsing (`oracle::check_reader_on(.., 1)`).
    one_thread_seconds: f64,
    one_thread_events_per_second: f64,
    /// The same history with a space after every key's colon, on all threads: no line is in the form
    /// streamsim writes, so every line goes through the general reader (as a history written by another
    /// tool may).
    general_reader_seconds: f64,
    general_reader_events_per_second: f64,
}

#[derive(Debug, Serialize)]
struct MemorySample {
    seeds_done: u64,
    resident_mb: f64,
}

#[derive(Debug, Serialize)]
struct Bench {
    scenarios: Vec<ScenarioBench>,
    checker: Vec<CheckerBench>,
    /// Time for the largest history over the smallest, measured in the same pass; the median over
    /// the passes (linear would be their size ratio).
    checker_scaling: Option<f64>,
    /// The same with one thread parsing.
    checker_scaling_one_thread: Option<f64>,
    peak_resident_mb: f64,
    memory: Vec<MemorySample>,
}

fn per_second(count: f64, wall: Duration) -> f64 {
    let seconds = wall.as_secs_f64();
    if seconds == 0.0 {
        0.0
    } else {
        count / seconds
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Resident memory of this process and its peak, in MiB (Linux; 0 elsewhere).
fn memory_mb() -> (f64, f64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0.0, 0.0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One job's runs of seeds `1..=seeds`, each seed taken three ways in turn: with the state checker,
/// without it, and its bare-madsim baseline. A machine whose speed drifts during the bench then
/// slows the three alike, where three passes one after the other would each meet another speed.
struct InTurns {
    /// The runs with the state checker.
    reports: Vec<RunReport>,
    with_state_checker: Duration,
    without_state_checker: Duration,
    baseline: Duration,
}

fn run_in_turns(scenario: &str, seeds: u64) -> InTurns {
    let mut turns = InTurns {
        reports: Vec::new(),
        with_state_checker: Duration::ZERO,
        without_state_checker: Duration::ZERO,
        baseline: Duration::ZERO,
    };
    for seed in 1..=seeds {
        let timed = |state_checker: bool| {
            let request = RunRequest {
                state_checker,
                ..RunRequest::named(scenario, seed)
            };
            let started = Instant::now();
            let report = scenarios::run(&request).expect("a valid scenario");
            (report, started.elapsed())
        };
        let (report, with) = timed(true);
        let (_, without) = timed(false);
        let started = Instant::now();
        let outcome = run_baseline(Seed::new(seed), &baseline_spec(&report));
        turns.baseline += started.elapsed();
        assert!(
            outcome.status.is_completed(),
            "the baseline of {scenario} seed {seed} failed"
        );
        turns.with_state_checker += with;
        turns.without_state_checker += without;
        turns.reports.push(report);
    }
    turns
}

fn run_parallel(scenario: &str, seeds: u64, jobs: usize) -> Duration {
    let config = CampaignConfig {
        scenarios: vec![ScenarioSource::Named(scenario.to_string())],
        seeds: SeedSelection::Count(seeds),
        shard: None,
        jobs,
        bugs: Vec::new(),
        seed_wall_clock_limit: scenarios::WALL_CLOCK_LIMIT,
    };
    let started = Instant::now();
    let _ = campaign::run(&config, Arc::new(AtomicBool::new(false)), |_| {});
    started.elapsed()
}

/// The baseline of one scenario run: its nodes, its shells' timer wakeups (spread evenly over
/// the nodes), its network messages and its simulated time.
fn baseline_spec(report: &RunReport) -> BaselineSpec {
    BaselineSpec::even(
        report.nodes as usize,
        report.timer_wakeups,
        report.network_messages,
        Duration::from_millis(report.sim_time_ms),
    )
}

fn bench_scenario(scenario: &str, seeds: u64, cores: usize) -> ScenarioBench {
    let InTurns {
        reports,
        with_state_checker: one_job,
        without_state_checker,
        baseline,
    } = run_in_turns(scenario, seeds);
    let all_cores = run_parallel(scenario, seeds, cores);
    let sim_seconds: f64 = reports.iter().map(|r| r.sim_time_ms as f64 / 1000.0).sum();
    let messages: f64 = reports.iter().map(|r| r.network_messages as f64).sum();
    let events: f64 = reports.iter().map(|r| r.events as f64).sum();
    let wakeups: f64 = reports.iter().map(|r| r.timer_wakeups as f64).sum();
    let one = per_second(seeds as f64, one_job);
    let all = per_second(seeds as f64, all_cores);
    let base = per_second(seeds as f64, baseline);
    let without = per_second(seeds as f64, without_state_checker);
    ScenarioBench {
        scenario: scenario.to_string(),
        seeds,
        seeds_per_sec_one_job: round(one),
        seeds_per_sec_all_cores: round(all),
        cores,
        parallel_efficiency: round(if one > 0.0 { all / one } else { 0.0 }),
        sim_seconds_per_wall_second: round(per_second(sim_seconds, one_job)),
        network_messages_per_wall_second: round(per_second(messages, one_job)),
        history_events_per_wall_second: round(per_second(events, one_job)),
        baseline_seeds_per_sec: round(base),
        logic_overhead_ratio: round(if base > 0.0 { one / base } else { 0.0 }),
        mean_sim_seconds_per_seed: round(sim_seconds / seeds as f64),
        mean_network_messages_per_seed: round(messages / seeds as f64),
        mean_timer_wakeups_per_seed: round(wakeups / seeds as f64),
        seeds_per_sec_without_state_checker: round(without),
        state_checker_share: round(if without > 0.0 {
            1.0 - one / without
        } else {
            0.0
        }),
    }
}

/// Passes over the generated histories. Each pass times every history in every mode, one after
/// the other (a smaller history checked as many times in a row as it is smaller than the largest,
/// the time being their mean); a history's figures are its fastest pass, the scaling is the median
/// over the passes of the largest history's time over the smallest's in that pass.
const CHECKER_PASSES: usize = 5;

/// The checker's modes: all threads, one thread, and the general reader (on all threads).
const CHECKER_MODES: usize = 3;

/// One generated history, as the checker reads it in each mode.
struct CheckerInput {
    text: String,
    /// The same lines with a space after every key's colon: only the general reader reads them.
    spaced: String,
    events: u64,
}

impl CheckerInput {
    fn generate(events: u64) -> CheckerInput {
        let history = oracle::gen::generate(&oracle::gen::GenConfig::new(1, events as usize));
        let text = oracle::gen::to_jsonl(&history);
        // Generated values have no quotes, so `":` only ever ends a key.
        let spaced = text.replace("\":", "\": ");
        CheckerInput {
            text,
            spaced,
            events: history.len() as u64,
        }
    }

    /// The time of one parse + check in `mode`, the mean of `repeats` in a row (a short check is
    /// repeated so that each figure spans about as much time as the largest history's, and a
    /// moment's noise weighs on all alike).
    fn time(&self, mode: usize, threads: usize, repeats: u32) -> Duration {
        let (text, threads) = match mode {
            0 => (&self.text, threads),
            1 => (&self.text, 1),
            _ => (&self.spaced, threads),
        };
        let started = Instant::now();
        for _ in 0..repeats {
            let result = oracle::check_reader_on(text.as_bytes(), threads)
                .expect("a generated history parses");
            assert!(result.valid, "a generated correct history is valid");
            assert_eq!(result.stats.events, self.events, "every line is an event");
        }
        started.elapsed() / repeats.max(1)
    }
}

/// The checker's figures for histories of `sizes` events (ascending), and its scaling from the
/// smallest to the largest on all threads and on one (None with fewer than two sizes). The passes
/// take the histories in turns, so that a machine whose speed drifts slows them alike.
fn bench_checker(sizes: &[u64]) -> (Vec<CheckerBench>, Option<f64>, Option<f64>) {
    let inputs: Vec<CheckerInput> = sizes
        .iter()
        .map(|&events| {
            eprintln!("bench: checker on {events} events");
            CheckerInput::generate(events)
        })
        .collect();
    let threads = oracle::parse_threads();
    // times[input][mode][pass]
    let mut times: Vec<Vec<Vec<Duration>>> = inputs
        .iter()
        .map(|_| {
            (0..CHECKER_MODES)
                .map(|_| Vec::with_capacity(CHECKER_PASSES))
                .collect()
        })
        .collect();
    let largest = sizes.iter().copied().max().unwrap_or(1);
    for _ in 0..CHECKER_PASSES {
        for ((input, times), &events) in inputs.iter().zip(&mut times).zip(sizes) {
            let repeats = u32::try_from(largest / events.max(1)).unwrap_or(u32::MAX);
            for (mode, times) in times.iter_mut().enumerate() {
                times.push(input.time(mode, threads, repeats));
            }
        }
    }
    let seconds = |elapsed: Duration| round(elapsed.as_secs_f64() * 1000.0) / 1000.0;
    let benches = inputs
        .iter()
        .zip(&times)
        .map(|(input, times)| {
            let best = |mode: usize| times[mode].iter().copied().min().unwrap_or_default();
            let count = input.events as f64;
            CheckerBench {
                events: input.events,
                threads,
                seconds: seconds(best(0)),
                events_per_second: per_second(count, best(0)).round(),
                one_thread_seconds: seconds(best(1)),
                one_thread_events_per_second: per_second(count, best(1)).round(),
                general_reader_seconds: seconds(best(2)),
                general_reader_events_per_second: per_second(count, best(2)).round(),
            }
        })
        .collect();
    let scaling = |mode: usize| {
        let (small, large) = (times.first()?, times.last()?);
        if times.len() < 2 {
            return None;
        }
        let mut ratios: Vec<f64> = small[mode]
            .iter()
            .zip(&large[mode])
            .map(|(small, large)| large.as_secs_f64() / small.as_secs_f64().max(1e-9))
            .collect();
        ratios.sort_by(f64::total_cmp);
        Some(round(ratios[ratios.len() / 2]))
    };
    (benches, scaling(0), scaling(1))
}

pub fn bench(args: BenchArgs) -> Result<ExitCode> {
    let names: Vec<String> = if args.scenario == "all" {
        scenarios::named::names()
            .into_iter()
            .map(str::to_string)
            .collect()
    } else if scenarios::named::find(&args.scenario).is_some() {
        vec![args.scenario.clone()]
    } else {
        eprintln!(
            "streamsim: unknown scenario '{}' (known: {})",
            args.scenario,
            scenarios::named::names().join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    if args.seeds == 0 {
        eprintln!("streamsim: --seeds must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut results = Vec::new();
    for name in &names {
        eprintln!("bench: {name} ({} seeds)", args.seeds);
        results.push(bench_scenario(name, args.seeds, cores));
    }
    let (checker, checker_scaling, checker_scaling_one_thread) = if args.skip_checker {
        (Vec::new(), None, None)
    } else {
        bench_checker(&[100_000, 1_000_000])
    };
    let mut memory = Vec::new();
    if args.memory_seeds > 0 {
        eprintln!("bench: memory over {} smoke seeds", args.memory_seeds);
        let every = (args.memory_seeds / 10).max(1);
        for seed in 1..=args.memory_seeds {
            let report = scenarios::run(&RunRequest::named("smoke", seed)).expect("smoke runs");
            drop(report);
            if seed % every == 0 || seed == 1 {
                memory.push(MemorySample {
                    seeds_done: seed,
                    resident_mb: round(memory_mb().0),
                });
            }
        }
    }
    let bench = Bench {
        scenarios: results,
        checker,
        checker_scaling,
        checker_scaling_one_thread,
        peak_resident_mb: round(memory_mb().1),
        memory,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bench)?);
    } else {
        print_bench(&bench);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_bench(bench: &Bench) {
    println!(
        "{:<20} {:>7} {:>9} {:>9} {:>6} {:>10} {:>10} {:>10} {:>9} {:>7} {:>8}",
        "scenario",
        "seeds/s",
        "seeds/s",
        "parallel",
        "sim s/",
        "messages/",
        "events/",
        "baseline",
        "logic",
        "sim s",
        "wakeups"
    );
    println!(
        "{:<20} {:>7} {:>9} {:>9} {:>6} {:>10} {:>10} {:>10} {:>9} {:>7} {:>8}",
        "",
        "1 job",
        "all cores",
        "speedup",
        "wall s",
        "wall s",
        "wall s",
        "seeds/s",
        "overhead",
        "/seed",
        "/seed"
    );
    for s in &bench.scenarios {
        println!(
            "{:<20} {:>7.1} {:>9.1} {:>8.2}x {:>6.0} {:>10.0} {:>10.0} {:>10.1} {:>8.2}x {:>7.1} {:>8.0}",
            s.scenario,
            s.seeds_per_sec_one_job,
            s.seeds_per_sec_all_cores,
            s.parallel_efficiency,
            s.sim_seconds_per_wall_second,
            s.network_messages_per_wall_second,
            s.history_events_per_wall_second,
            s.baseline_seeds_per_sec,
            s.logic_overhead_ratio,
            s.mean_sim_seconds_per_seed,
            s.mean_timer_wakeups_per_seed
        );
    }
    if let Some(s) = bench.scenarios.first() {
        println!(
            "(all cores = {} jobs; logic overhead = seeds/s over those of a bare-madsim baseline with \
             the same nodes, timer wakeups, messages and simulated time)",
            s.cores
        );
    }
    for s in &bench.scenarios {
        println!(
            "state checker: {:<20} {:>7.1} seeds/s without it, {:>7.1} with it: {:>3.0}% of a seed's time",
            s.scenario,
            s.seeds_per_sec_without_state_checker,
            s.seeds_per_sec_one_job,
            s.state_checker_share * 100.0
        );
    }
    for c in &bench.checker {
        println!(
            "checker: {} events in {:.3} s = {:.0} events/s (parse + check on {} threads, best of \
             {CHECKER_PASSES} passes; one thread: {:.3} s = {:.0} events/s; general reader: {:.3} s = {:.0} \
             events/s)",
            c.events,
            c.seconds,
            c.events_per_second,
            c.threads,
            c.one_thread_seconds,
            c.one_thread_events_per_second,
            c.general_reader_seconds,
            c.general_reader_events_per_second
        );
    }
    if let (Some(scaling), Some(one_thread)) =
        (bench.checker_scaling, bench.checker_scaling_one_thread)
    {
        println!(
            "checker: the 1M history takes {scaling:.1}x the 100k one (one thread: {one_thread:.1}x; \
             linear = 10x; the median of the passes; the 100k history is checked 10 times in a row per pass)"
        );
    }
    println!("peak resident memory: {:.0} MiB", bench.peak_resident_mb);
    if !bench.memory.is_empty() {
        let samples: Vec<String> = bench
            .memory
            .iter()
            .map(|m| format!("{}: {:.0}", m.seeds_done, m.resident_mb))
            .collect();
        println!("resident MiB after N smoke seeds: {}", samples.join(", "));
    }
}
