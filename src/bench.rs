//! `streamsim bench`: how fast seeds run, against the bare-simulator baseline, and how fast the
//! checker reads histories. Figures are wall-clock measurements on this machine: compare the
//! ratios measured in one run, not absolute numbers across machines.

use anyhow::Result;
use clap::Args;
use scenarios::campaign::{self, CampaignConfig, SeedSelection};
use scenarios::report::{RunReport, Verdict};
use scenarios::spec::{Fault, Tail, Target, TimedFault};
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
struct LongRunBench {
    records: u64,
    seconds: f64,
    micros_per_record: f64,
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
    /// `smoke` stretched to more records (with its state checker), to show how a run's cost grows
    /// with its length.
    long_runs: Vec<LongRunBench>,
    /// The longest run's time over the shortest's, as `checker_scaling` (linear is their records'
    /// ratio).
    long_run_scaling: Option<f64>,
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

/// Passes over the inputs the bench compares by size (the checker's histories, the long runs).
/// Each pass times every input in every mode, one after the other (a smaller input run as many times
/// in a row as it is smaller than the largest, the time being their mean); an input's figures are
/// its fastest pass, the scaling is the median over the passes of the largest input's time over the
/// smallest's in that pass. Taking the inputs in turns, a machine whose speed drifts slows them alike.
const PASSES: usize = 5;

/// `times[input][mode][pass]` of `run(input, mode)` over [`PASSES`] passes, for inputs of `sizes`
/// (ascending).
fn time_in_turns(
    sizes: &[u64],
    modes: usize,
    mut run: impl FnMut(usize, usize),
) -> Vec<Vec<Vec<Duration>>> {
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let mut times = vec![vec![Vec::new(); modes]; sizes.len()];
    for _ in 0..PASSES {
        for (input, &size) in sizes.iter().enumerate() {
            let repeats = u32::try_from(largest / size.max(1))
                .unwrap_or(u32::MAX)
                .max(1);
            for (mode, times) in times[input].iter_mut().enumerate() {
                let started = Instant::now();
                for _ in 0..repeats {
                    run(input, mode);
                }
                times.push(started.elapsed() / repeats);
            }
        }
    }
    times
}

/// The fastest pass of one input in one mode.
fn fastest(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

/// The median over the passes of the largest input's time over the smallest's in `mode` (None with
/// fewer than two inputs).
fn scaling(times: &[Vec<Vec<Duration>>], mode: usize) -> Option<f64> {
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
}

fn seconds(elapsed: Duration) -> f64 {
    round(elapsed.as_secs_f64() * 1000.0) / 1000.0
}

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

    /// One parse + check in `mode`.
    fn check(&self, mode: usize, threads: usize) {
        let (text, threads) = match mode {
            0 => (&self.text, threads),
            1 => (&self.text, 1),
            _ => (&self.spaced, threads),
        };
        let result =
            oracle::check_reader_on(text.as_bytes(), threads).expect("a generated history parses");
        assert!(result.valid, "a generated correct history is valid");
        assert_eq!(result.stats.events, self.events, "every line is an event");
    }
}

/// The checker's figures for histories of `sizes` events (ascending), and its scaling from the
/// smallest to the largest on all threads and on one (None with fewer than two sizes).
fn bench_checker(sizes: &[u64]) -> (Vec<CheckerBench>, Option<f64>, Option<f64>) {
    let inputs: Vec<CheckerInput> = sizes
        .iter()
        .map(|&events| {
            eprintln!("bench: checker on {events} events");
            CheckerInput::generate(events)
        })
        .collect();
    let threads = oracle::parse_threads();
    let times = time_in_turns(sizes, CHECKER_MODES, |input, mode| {
        inputs[input].check(mode, threads);
    });
    let benches = inputs
        .iter()
        .zip(&times)
        .map(|(input, times)| {
            let best = |mode: usize| fastest(&times[mode]);
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
    (benches, scaling(&times, 0), scaling(&times, 1))
}

/// The long runs' lengths, in records.
const LONG_RUN_RECORDS: [u64; 2] = [4_000, 16_000];

/// `smoke`'s seed-1 scenario stretched to `records` records at 100 a second (`records` x 10 ms of
/// fault phase), its own faults replaced by a 1.5 s crash of `events/0`'s leader every 4 s, as
/// `scripts/long-run.sh` runs it: each sample of the state checker, each election's check and each
/// recovery then meet a longer log.
fn long_run(records: u64) -> RunRequest {
    let mut scenario = scenarios::named::find("smoke")
        .expect("smoke is a named scenario")
        .build(Seed::new(1));
    scenario.fault_phase_ms = records * 10;
    scenario.liveness_phase_ms = 120_000;
    for producer in &mut scenario.producers {
        producer.records = records;
        producer.rate_per_sec = 100;
    }
    scenario.faults = (3_281..=scenario.fault_phase_ms.saturating_sub(3_000))
        .step_by(4_000)
        .map(|at_ms| TimedFault {
            at_ms,
            for_ms: Some(1_500),
            when: None,
            on: None,
            within_ms: None,
            fault: Fault::Crash {
                target: Target::LeaderOf {
                    topic: "events".to_string(),
                    partition: 0,
                },
                tail: Tail::default(),
            },
        })
        .collect();
    scenario.validate().expect("a long run is a valid scenario");
    RunRequest::fixed(scenario, &format!("long-run-{records}"), 1)
}

/// The long runs' figures, and how the longest's time compares with the shortest's.
fn bench_long_runs() -> (Vec<LongRunBench>, Option<f64>) {
    eprintln!("bench: long runs of {LONG_RUN_RECORDS:?} records");
    let requests: Vec<RunRequest> = LONG_RUN_RECORDS.iter().map(|&r| long_run(r)).collect();
    let times = time_in_turns(&LONG_RUN_RECORDS, 1, |input, _| {
        let report = scenarios::run(&requests[input]).expect("a long run runs");
        assert_eq!(
            report.verdict,
            Verdict::Pass,
            "a long run of the correct build passes"
        );
    });
    let runs = LONG_RUN_RECORDS
        .iter()
        .zip(&times)
        .map(|(&records, times)| {
            let best = fastest(&times[0]);
            LongRunBench {
                records,
                seconds: seconds(best),
                micros_per_record: round(best.as_secs_f64() * 1e6 / records as f64),
            }
        })
        .collect();
    (runs, scaling(&times, 0))
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
    let (long_runs, long_run_scaling) = bench_long_runs();
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
        long_runs,
        long_run_scaling,
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
             {PASSES} passes; one thread: {:.3} s = {:.0} events/s; general reader: {:.3} s = {:.0} \
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
    for run in &bench.long_runs {
        println!(
            "long run: smoke stretched to {} records in {:.3} s = {:.0} µs per record (with a leader \
             crash every 4 s; best of {PASSES} passes)",
            run.records, run.seconds, run.micros_per_record
        );
    }
    if let (Some(scaling), [first, .., last]) = (bench.long_run_scaling, &bench.long_runs[..]) {
        println!(
            "long run: {} records take {scaling:.1}x the time of {} (linear = {}x; the median of the \
             passes; the shorter run is run {} times in a row per pass)",
            last.records,
            first.records,
            last.records / first.records,
            last.records / first.records
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
