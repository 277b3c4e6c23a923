//! `streamsim`: the command-line front end. No simulation logic lives here: it parses flags,
//! calls the `scenarios`, `oracle` and `reports` crates, prints, and picks the exit code.
//!
//! Exit codes: 0 pass / valid, 1 a failure or anomaly found, 2 bad input or usage.

mod bench;
mod fuzz;
mod output;
mod serve_command;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use scenarios::report::{FindingKind, RunReport, Verdict};
use scenarios::RunRequest;
use std::process::ExitCode;

/// A deterministic simulator and test oracle for Kafka-style streaming systems.
///
/// A broker cluster and its clients run in one process on a simulated network, disk and clock,
/// driven by one seed; an oracle checks the recorded history for lost, duplicated or skipped
/// records and spinloops.
#[derive(Debug, Parser)]
#[command(name = "streamsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the named scenarios (and the bug catalog).
    List,
    /// Run one scenario for one seed and print the verdict, the trace hash and the repro command.
    Run(RunArgs),
    /// Fuzz many seeds in parallel: summary table, reports of failures, exit 1 if any failed.
    Fuzz(fuzz::FuzzArgs),
    /// Shrink a failing run's fault schedule to a minimal scenario file that still fails.
    Shrink(ShrinkArgs),
    /// Check a history file, or several merged by time (JSON Lines, docs/history-format.md): exit 0 valid, 1 anomalies,
    /// 2 bad input.
    Check(CheckArgs),
    /// Work with campaign outputs.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Print the concrete scenario a named scenario builds for a seed, as a scenario file
    /// (TOML) — a starting point for your own.
    Show(ShowArgs),
    /// Measure seeds/s (one job and all cores) against a bare-madsim baseline, time
    /// acceleration, and checker throughput.
    Bench(bench::BenchArgs),
    /// Run a scenario's cluster on the wall clock, reachable by Kafka clients over real TCP
    /// while its faults are applied (docs/serve.md).
    Serve(serve_command::ServeArgs),
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The named scenario.
    #[arg(long)]
    scenario: String,
    /// The seed (named scenarios draw their fault schedule from it).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = parse_seed)]
    seed: u64,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Merge the outputs of shards (folders with summary.json) into one summary.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Campaign output folders (or summary.json files) to merge.
    #[arg(required = true)]
    inputs: Vec<std::path::PathBuf>,
    /// Write the merged summary.json and junit.xml here (else print the summary JSON).
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct ShrinkArgs {
    /// The named scenario of the failing run.
    #[arg(
        long,
        required_unless_present = "scenario_file",
        conflicts_with = "scenario_file"
    )]
    scenario: Option<String>,
    /// Or the scenario file of the failing run.
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<std::path::PathBuf>,
    /// The failing seed.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    seed: u64,
    /// The bugs switched on in the failing run (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Where to write the minimal scenario (TOML).
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The history file to check; several files (e.g. the cluster's and each client's) are merged by `time`
    /// (on equal times, the file named first comes first) and checked as one history.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<std::path::PathBuf>,
    /// Print the verdict as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The named scenario to run (see `streamsim list`).
    #[arg(
        long,
        required_unless_present = "scenario_file",
        conflicts_with = "scenario_file"
    )]
    scenario: Option<String>,
    /// A scenario file (TOML, docs/scenarios.md) to run instead of a named scenario.
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<std::path::PathBuf>,
    /// The seed: every random decision of the run derives from it.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_seed)]
    seed: u64,
    /// Switch a historical bug back on (repeatable; see `streamsim list`).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Run the seed twice and fail if the trace hashes differ.
    #[arg(long)]
    check_determinism: bool,
    /// Print tracing output of every event to stderr (filter with RUST_LOG); never changes the
    /// trace hash.
    #[arg(long)]
    trace: bool,
    /// Write the run's history (JSON Lines) to this file.
    #[arg(long, value_name = "FILE")]
    history: Option<std::path::PathBuf>,
}

/// A seed: an unsigned 64-bit number. Negative numbers reach this parser (the seed arguments
/// allow a leading hyphen) so that `--seed -1` is told what a seed is instead of "unexpected
/// argument".
pub(crate) fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim().parse::<u64>().map_err(|_| {
        format!(
            "'{text}' is not a seed: a seed is an unsigned 64-bit number, 0..={}",
            u64::MAX
        )
    })
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`streamsim list | head`), instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("streamsim: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::List => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run(args),
        Command::Fuzz(args) => fuzz::fuzz(args),
        Command::Shrink(args) => shrink(args),
        Command::Report(ReportCommand::Merge(args)) => merge(args),
        Command::Bench(args) => bench::bench(args),
        Command::Serve(args) => serve_command::serve(args),
        Command::Show(args) => {
            let request = RunRequest::named(&args.scenario, args.seed);
            match request.scenario() {
                Ok(scenario) => {
                    print!("{}", scenario.to_toml());
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("streamsim: {error}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Check(args) => {
            let stdout = &mut std::io::stdout();
            let stderr = &mut std::io::stderr();
            let code = oracle::cli::check_paths(&args.files, args.json, stdout, stderr);
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
    }
}

fn init_tracing(forced: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) => filter,
        Err(_) if forced => "info".to_string(),
        Err(_) => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

fn list() {
    println!("Scenarios:");
    for named in scenarios::named::NAMED {
        println!("  {:<22} {}", named.name, named.summary);
        println!("  {:<22} after: {}", "", named.after);
    }
    println!();
    println!("Bugs (switch one back on with --bug NAME):");
    for bug in scenarios::bugs::CATALOG {
        println!("  {:<30} {}", bug.name, bug.summary);
        println!(
            "  {:<30} source: {}; scenario: {}; caught as: {}",
            "",
            bug.source,
            bug.scenario,
            bug.anomalies.join(" / ")
        );
        let sets: Vec<String> = bug.overrides.iter().map(|o| o.to_string()).collect();
        println!("  {:<30} sets: {}", "", sets.join("; "));
    }
    println!();
    println!("State anomalies (the state checker's, beside the oracle's; docs/state-checker.md):");
    for kind in scenarios::state::StateAnomalyKind::ALL {
        println!("  {:<30} {}", kind.as_str(), kind.meaning());
    }
}

/// The run a `--scenario`/`--scenario-file` pair names; a usage error is printed and Err(2).
fn request_for(
    scenario: &Option<String>,
    scenario_file: &Option<std::path::PathBuf>,
    seed: u64,
    bugs: &[String],
) -> Result<RunRequest, ExitCode> {
    let request = match (scenario, scenario_file) {
        (_, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|error| {
                eprintln!(
                    "streamsim: cannot read scenario file {}: {error}",
                    path.display()
                );
                ExitCode::from(2)
            })?;
            let scenario = scenarios::spec::Scenario::from_toml(&text).map_err(|error| {
                eprintln!("streamsim: {}: {error}", path.display());
                ExitCode::from(2)
            })?;
            RunRequest::fixed(scenario, &path.display().to_string(), seed)
        }
        (Some(name), None) => RunRequest::named(name, seed),
        (None, None) => unreachable!("clap requires --scenario or --scenario-file"),
    }
    .with_bugs(bugs.to_vec());
    if let Err(error) = scenarios::validate(&request) {
        eprintln!("streamsim: {error}");
        return Err(ExitCode::from(2));
    }
    Ok(request)
}

fn run(args: RunArgs) -> Result<ExitCode> {
    init_tracing(args.trace);
    let request = match request_for(&args.scenario, &args.scenario_file, args.seed, &args.bugs) {
        Ok(request) => request,
        Err(code) => return Ok(code),
    };
    let report = scenarios::run(&request)?;
    if let Some(path) = &args.history {
        std::fs::write(path, report.history_jsonl())
            .map_err(|error| anyhow::anyhow!("cannot write history {}: {error}", path.display()))?;
    }
    let mut failed = report.verdict == Verdict::Fail;
    let mut determinism_note = None;
    if args.check_determinism {
        let again = scenarios::run(&request)?;
        if again.trace_hash != report.trace_hash {
            failed = true;
            determinism_note = Some(format!(
                "NONDETERMINISM: the same seed gave trace hashes {} and {}",
                report.trace_hash, again.trace_hash
            ));
        } else {
            determinism_note = Some(format!(
                "determinism: a second run gave the same trace hash {}",
                again.trace_hash
            ));
        }
    }
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(note) = &determinism_note {
            value["determinism"] = serde_json::Value::String(note.clone());
            if failed {
                value["verdict"] = serde_json::Value::String("fail".to_string());
            }
        }
        println!("{}", serde_json::to_string(&value)?);
    } else {
        print_report(&report);
        if let Some(note) = &determinism_note {
            println!("{note}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Anomalies printed per kind in the text output of `run`.
const ANOMALIES_SHOWN_PER_KIND: usize = 3;

fn print_report(report: &RunReport) {
    let verdict = match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    println!(
        "{verdict}  scenario={} seed={} bugs=[{}]",
        report.scenario,
        report.seed,
        report.bugs.join(",")
    );
    println!(
        "  trace hash {}   simulated {} ms   {} events   {}",
        report.trace_hash, report.sim_time_ms, report.events, report.status
    );
    // Per kind: the exact count, then the first few anomalies with their proving lines.
    for (kind, count) in &report.counts {
        match kind {
            FindingKind::State(_) => println!("  {kind} (state checker): {count}"),
            _ => println!("  {kind}: {count}"),
        }
        let listed: Vec<_> = report
            .anomalies
            .iter()
            .filter(|a| &a.kind == kind)
            .collect();
        for anomaly in listed.iter().take(ANOMALIES_SHOWN_PER_KIND) {
            println!("    {}", anomaly.explanation);
            if !anomaly.events.is_empty() {
                let lines: Vec<String> = anomaly.events.iter().map(u64::to_string).collect();
                println!("      history lines {}", lines.join(", "));
            }
        }
        if *count as usize > ANOMALIES_SHOWN_PER_KIND {
            println!(
                "    ... and {} more (--history FILE and `streamsim check FILE`, or --json, list them)",
                *count as usize - ANOMALIES_SHOWN_PER_KIND
            );
        }
    }
    println!("  reproduce: {}", report.repro);
}

fn shrink(args: ShrinkArgs) -> Result<ExitCode> {
    let request = match request_for(&args.scenario, &args.scenario_file, args.seed, &args.bugs) {
        Ok(request) => request,
        Err(code) => return Ok(code),
    };
    let out = args.out.clone().unwrap_or_else(|| {
        std::path::PathBuf::from(format!(
            "{}-seed-{}-shrunk.toml",
            request.scenario_name(),
            args.seed
        ))
    });
    // Refuse an unwritable --out before the shrink runs (it replays the seed many times).
    if let Err(message) = output::check_file_writable(&out) {
        eprintln!("streamsim: --out {}: {message}", out.display());
        return Ok(ExitCode::from(2));
    }
    let outcome = match scenarios::shrink::shrink(&request, &mut |line| eprintln!("{line}")) {
        Ok(outcome) => outcome,
        Err(scenarios::shrink::ShrinkError::DoesNotFail { scenario, seed }) => {
            eprintln!("streamsim: {scenario} seed {seed} passes: there is no failure to shrink");
            return Ok(ExitCode::from(2));
        }
        Err(error) => {
            eprintln!("streamsim: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let text = format!(
        "# {}\n{}",
        outcome.minimal.description,
        outcome.minimal.to_toml()
    );
    output::write_atomic(&out, text.as_bytes())?;
    let before = outcome.original.faults.len();
    let after = outcome.minimal.faults.len();
    let smaller = if before == 0 {
        0.0
    } else {
        100.0 * (before - after) as f64 / before as f64
    };
    println!(
        "shrunk {} seed {}: {before} faults -> {after} ({smaller:.0}% smaller), still failing with {} ({} replays)",
        request.scenario_name(),
        args.seed,
        outcome.kind,
        outcome.runs
    );
    println!("wrote {}", out.display());
    let mut repro = format!(
        "streamsim run --scenario-file {} --seed {}",
        out.display(),
        args.seed
    );
    for bug in &args.bugs {
        repro.push_str(&format!(" --bug {bug}"));
    }
    println!("reproduce: {repro}");
    println!("  trace hash {}", outcome.report.trace_hash);
    Ok(ExitCode::SUCCESS)
}

fn merge(args: MergeArgs) -> Result<ExitCode> {
    let mut summaries = Vec::new();
    for input in &args.inputs {
        match fuzz::read_summary(input) {
            Ok(summary) => summaries.push(summary),
            Err(error) => {
                eprintln!("streamsim: {error:#}");
                return Ok(ExitCode::from(2));
            }
        }
    }
    let merged = match scenarios::campaign::merge(&summaries) {
        Ok(merged) => merged,
        Err(message) => {
            eprintln!("streamsim: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    match &args.out {
        Some(out) => {
            std::fs::create_dir_all(out)?;
            fuzz::write_summary(out, &merged)?;
            fuzz::write_junit(out, &merged)?;
            fuzz::print_table(&merged);
            println!("summary: {}", out.join("summary.json").display());
        }
        None => println!("{}", serde_json::to_string_pretty(&merged)?),
    }
    Ok(if merged.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
