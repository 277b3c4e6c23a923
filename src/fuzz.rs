//! `streamsim fuzz`: many seeds, in parallel, into a summary, JUnit and per-failure reports.

use anyhow::{bail, Context, Result};
use clap::Args;
use scenarios::campaign::{self, CampaignConfig, CampaignSummary, SeedSelection, Shard};
use scenarios::report::{RunReport, Verdict};
use scenarios::ScenarioSource;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the summary is rewritten while a campaign runs (so an interrupted one leaves a
/// recent, valid summary even if the process is killed hard).
const SUMMARY_REWRITE_PERIOD: Duration = Duration::from_secs(5);
/// In plain (CI) output, a progress line every this many runs.
const PLAIN_PROGRESS_EVERY: u64 = 50;
/// The most parallel runs `--jobs` accepts: each run is an OS thread with its own runtime, and far
/// more threads than cores only costs memory (at 100,000 the OS refuses to create them).
const JOBS_MAX: usize = 256;

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// A named scenario, or `all` (every named scenario).
    #[arg(long, default_value = "all", conflicts_with = "scenario_file")]
    pub scenario: String,
    /// A scenario file (TOML) to fuzz instead of named scenarios.
    #[arg(long, value_name = "FILE")]
    pub scenario_file: Option<PathBuf>,
    /// Run seeds 1..=N.
    #[arg(long, value_name = "N", conflicts_with_all = ["seed_range", "time_budget"],
          allow_hyphen_values = true, value_parser = parse_seed_count)]
    pub seeds: Option<u64>,
    /// Run seeds A..B (B exclusive).
    #[arg(
        long,
        value_name = "A..B",
        conflicts_with = "time_budget",
        allow_hyphen_values = true
    )]
    pub seed_range: Option<String>,
    /// Run seeds 1, 2, ... until this much wall time has passed (e.g. 90s, 10m, 1h).
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<String>,
    /// Parallel runs (default: the machine's cores; at most the number of runs).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Run only shard K of N (seeds s with s % N == K-1); shards are disjoint and each is
    /// reproducible alone.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Switch a historical bug back on (repeatable; see `streamsim list`).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Write summary.json, junit.xml and a report folder per failing seed here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Wall-clock limit of one seed; a seed that takes longer is a failure (a hang).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub seed_timeout: u64,
    /// Print the summary as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_seed_count(text: &str) -> Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{text}' is not a number of seeds: a whole number from 1 to {}",
            u64::MAX
        )
    })
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    text.trim().parse::<usize>().map_err(|_| {
        format!("'{text}' is not a number of parallel runs: a whole number from 1 to {JOBS_MAX}")
    })
}

/// Parses `90s`, `10m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => text.split_at(index),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("duration '{text}': expected a number followed by s, m or h"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        other => {
            return Err(format!(
                "duration '{text}': unknown unit '{other}' (use s, m or h)"
            ))
        }
    };
    if seconds == 0 {
        return Err(format!("duration '{text}' must be positive"));
    }
    Ok(Duration::from_secs(seconds))
}

fn parse_seed_range(text: &str) -> Result<(u64, u64), String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("seed range '{text}' is not of the form A..B"))?;
    let start: u64 = start.trim().parse().map_err(|_| {
        format!("seed range '{text}': '{start}' is not a seed (an unsigned 64-bit number)")
    })?;
    let end: u64 = end.trim().parse().map_err(|_| {
        format!("seed range '{text}': '{end}' is not a seed (an unsigned 64-bit number)")
    })?;
    if end <= start {
        return Err(format!(
            "seed range '{text}' is empty (B must be greater than A)"
        ));
    }
    Ok((start, end))
}

/// Everything checked before any seed runs; errors are usage errors (exit 2).
fn configure(args: &FuzzArgs) -> Result<CampaignConfig, String> {
    let seeds = match (&args.seeds, &args.seed_range, &args.time_budget) {
        (Some(0), _, _) => return Err("--seeds must be at least 1".to_string()),
        (Some(n), _, _) => SeedSelection::Count(*n),
        (None, Some(range), _) => {
            let (start, end) = parse_seed_range(range)?;
            SeedSelection::Range { start, end }
        }
        (None, None, Some(budget)) => SeedSelection::TimeBudget(parse_duration(budget)?),
        (None, None, None) => SeedSelection::Count(100),
    };
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let scenarios = match &args.scenario_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                format!("cannot read scenario file {}: {error}", path.display())
            })?;
            let scenario = scenarios::spec::Scenario::from_toml(&text)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            vec![ScenarioSource::Fixed {
                scenario: Box::new(scenario),
                path: path.display().to_string(),
            }]
        }
        None if args.scenario == "all" => scenarios::named::names()
            .into_iter()
            .map(|name| ScenarioSource::Named(name.to_string()))
            .collect(),
        None => vec![ScenarioSource::Named(args.scenario.clone())],
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = match args.jobs {
        Some(0) => return Err("--jobs 0: at least one run must go at a time".to_string()),
        Some(jobs) if jobs > JOBS_MAX => {
            return Err(format!(
                "--jobs {jobs}: at most {JOBS_MAX} parallel runs (each is an OS thread; this machine has {cores} cores)"
            ))
        }
        Some(jobs) => jobs,
        None => cores,
    };
    // More jobs than runs would only start idle threads.
    let runs = seeds
        .count(shard)
        .map(|per_scenario| per_scenario.saturating_mul(scenarios.len() as u64));
    let jobs = match runs {
        Some(runs) => jobs.min(usize::try_from(runs).unwrap_or(usize::MAX)).max(1),
        None => jobs,
    };
    if args.seed_timeout == 0 {
        return Err("--seed-timeout must be at least 1 second".to_string());
    }
    let config = CampaignConfig {
        scenarios,
        seeds,
        shard,
        jobs,
        bugs: scenarios::unique_bugs(args.bugs.clone()),
        seed_wall_clock_limit: Duration::from_secs(args.seed_timeout),
    };
    campaign::validate(&config).map_err(|error| error.to_string())?;
    if let Some(out) = &args.out {
        check_writable(out)?;
    }
    Ok(config)
}

/// Creates the output folder and proves it is writable, before anything runs.
fn check_writable(out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out)
        .map_err(|error| format!("--out {}: cannot create it: {error}", out.display()))?;
    let probe = out.join(".streamsim-write-probe");
    std::fs::write(&probe, b"probe")
        .map_err(|error| format!("--out {}: not writable: {error}", out.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

pub fn fuzz(args: FuzzArgs) -> Result<ExitCode> {
    let config = match configure(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("streamsim: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C while finishing kills the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::Relaxed) {
                std::process::exit(130);
            }
            eprintln!(
                "\nstreamsim: interrupted; finishing the runs in progress and writing the summary"
            );
        });
    }
    if let SeedSelection::TimeBudget(budget) = config.seeds {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(budget);
            stop.store(true, Ordering::Relaxed);
        });
    }
    let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let progress = interactive.then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} seeds  {msg}",
            )
            .expect("a valid template"),
        );
        bar
    });
    let shards: Vec<String> = config.shard.map(|s| s.to_string()).into_iter().collect();
    eprintln!(
        "streamsim fuzz: {} scenario(s), {}{}, {} job(s){}",
        config.scenarios.len(),
        config.seeds.describe(),
        config
            .shard
            .map(|s| format!(", shard {s}"))
            .unwrap_or_default(),
        config.jobs,
        if config.bugs.is_empty() {
            String::new()
        } else {
            format!(", bugs: {}", config.bugs.join(", "))
        }
    );

    let started = Instant::now();
    let mut failures = 0u64;
    let mut partial = Vec::new();
    let mut last_rewrite = Instant::now();
    let out = args.out.clone();
    let (runs, stopped) = campaign::run(&config, stop.clone(), |finished| {
        let report = &finished.report;
        if let (Some(bar), Some(total)) = (&progress, finished.total) {
            bar.set_length(total);
        }
        if report.verdict == Verdict::Fail {
            failures += 1;
            let line = failure_line(report);
            match &progress {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            }
            if let Some(out) = &out {
                if let Err(error) = write_failure(out, report) {
                    eprintln!(
                        "streamsim: cannot write the report of seed {}: {error:#}",
                        report.seed
                    );
                }
            }
        }
        partial.push(campaign::RunSummary::of(report));
        match &progress {
            Some(bar) => {
                bar.set_position(finished.done);
                bar.set_message(format!("{failures} failing"));
            }
            None => {
                if finished.done % PLAIN_PROGRESS_EVERY == 0 {
                    let total = finished.total.map(|t| format!("/{t}")).unwrap_or_default();
                    eprintln!(
                        "  {}{total} seeds, {failures} failing, {:.0} s",
                        finished.done,
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        if let Some(out) = &out {
            if last_rewrite.elapsed() >= SUMMARY_REWRITE_PERIOD {
                last_rewrite = Instant::now();
                let summary = CampaignSummary::from_runs(
                    partial.clone(),
                    config.bugs.clone(),
                    config.seeds.describe(),
                    shards.clone(),
                    true,
                    started.elapsed().as_millis() as u64,
                );
                let _ = write_summary(out, &summary);
            }
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let time_budget = matches!(config.seeds, SeedSelection::TimeBudget(_));
    let interrupted = stopped && !time_budget;
    let summary = CampaignSummary::from_runs(
        runs,
        config.bugs.clone(),
        config.seeds.describe(),
        shards,
        interrupted,
        started.elapsed().as_millis() as u64,
    );
    if let Some(out) = &args.out {
        write_summary(out, &summary).context("writing the summary")?;
        write_junit(out, &summary).context("writing junit.xml")?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_table(&summary);
        if let Some(out) = &args.out {
            println!("summary: {}", out.join("summary.json").display());
        }
    }
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(if summary.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn failure_line(report: &RunReport) -> String {
    let kinds: Vec<String> = report
        .counts
        .iter()
        .map(|(kind, count)| format!("{kind} x{count}"))
        .collect();
    format!(
        "FAIL {} seed {}: {}  (trace {})\n  reproduce: {}",
        report.scenario,
        report.seed,
        kinds.join(", "),
        report.trace_hash,
        report.repro
    )
}

/// The folder of one failing seed's report.
pub fn seed_dir(out: &Path, report: &RunReport) -> PathBuf {
    out.join(&report.scenario)
        .join(format!("seed-{}", report.seed))
}

fn write_failure(out: &Path, report: &RunReport) -> Result<()> {
    crate::output::write_seed_dir(&seed_dir(out, report), report)
}

pub fn write_summary(out: &Path, summary: &CampaignSummary) -> Result<()> {
    let json = serde_json::to_string_pretty(summary)?;
    crate::output::write_atomic(&out.join("summary.json"), json.as_bytes())
}

pub fn write_junit(out: &Path, summary: &CampaignSummary) -> Result<()> {
    let xml = crate::output::junit(summary);
    crate::output::write_atomic(&out.join("junit.xml"), xml.as_bytes())
}

pub fn print_table(summary: &CampaignSummary) {
    println!();
    println!(
        "{:<22} {:>7} {:>8} {:>10}  failures by anomaly",
        "scenario", "seeds", "failing", "first fail"
    );
    for (scenario, totals) in &summary.totals {
        let kinds: Vec<String> = totals
            .failures_by_kind
            .iter()
            .map(|(kind, seeds)| format!("{kind}: {seeds}"))
            .collect();
        let row = format!(
            "{:<22} {:>7} {:>8} {:>10}  {}",
            scenario,
            totals.seeds,
            totals.failures,
            totals
                .first_failure
                .map_or("-".to_string(), |seed| seed.to_string()),
            kinds.join(", ")
        );
        println!("{}", row.trim_end());
    }
    println!();
    println!("coverage (seeds reaching each mark):");
    for (scenario, totals) in &summary.totals {
        let marks: Vec<String> = totals
            .coverage
            .iter()
            .map(|(mark, seeds)| format!("{mark} {seeds}"))
            .collect();
        println!("  {:<22} {}", scenario, marks.join(", "));
    }
    for (scenario, mark) in summary.missing_coverage() {
        println!("  MISSING: {scenario} never reached {mark} (the situation it exists for)");
    }
    let unreached: Vec<&str> = scenarios::coverage::ALL_MARKS
        .iter()
        .copied()
        .filter(|mark| {
            summary
                .totals
                .values()
                .all(|totals| totals.coverage.get(*mark).copied().unwrap_or(0) == 0)
        })
        .collect();
    if !unreached.is_empty() {
        println!("  no seed reached: {}", unreached.join(", "));
    }
    println!();
    println!(
        "{} seeds in {:.1} s: {:.1} seeds/s; {} failing{}",
        summary.seeds_run,
        summary.wall_time_ms as f64 / 1000.0,
        summary.seeds_per_second,
        summary.failures,
        if summary.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    if summary.failures > 0 {
        let runs: Vec<_> = summary
            .runs
            .iter()
            .filter(|run| run.verdict == Verdict::Fail)
            .take(10)
            .collect();
        println!("reproduce:");
        for run in runs {
            println!("  {}", run.repro);
        }
        if summary.failures > 10 {
            println!(
                "  ... and {} more (see summary.json)",
                summary.failures - 10
            );
        }
    }
    println!("{}", final_verdict(summary));
}

/// The last line of a campaign's table: FAIL when a seed failed, INTERRUPTED when the campaign
/// was stopped before it ran every seed without one failing (its coverage is not judged: an
/// unfinished campaign may not have reached a mark yet), else PASS, or FAIL for missing coverage.
fn final_verdict(summary: &CampaignSummary) -> &'static str {
    if summary.failures > 0 {
        "FAIL"
    } else if summary.interrupted {
        "INTERRUPTED: no failure in the seeds that ran"
    } else if summary.missing_coverage().is_empty() {
        "PASS"
    } else {
        "FAIL"
    }
}

pub fn read_summary(dir: &Path) -> Result<CampaignSummary> {
    let path = if dir.is_dir() {
        dir.join("summary.json")
    } else {
        dir.to_path_buf()
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let summary: CampaignSummary = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a streamsim summary", path.display()))?;
    if summary.runs.len() as u64 != summary.seeds_run {
        bail!("{}: seeds_run does not match its runs", path.display());
    }
    Ok(summary)
}
