//! `streamsim`: the command-line front end. No simulation logic lives here: it parses flags,
//! calls the `scenarios`, `oracle` and `reports` crates, prints, and picks the exit code.
//!
//! Exit codes: 0 pass / valid, 1 a failure or anomaly found, 2 bad input or usage.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use scenarios::report::{RunReport, Verdict};
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
    /// Check a history file (JSON Lines, docs/history-format.md): exit 0 valid, 1 anomalies,
    /// 2 bad input.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The history file to check.
    file: std::path::PathBuf,
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
    #[arg(long)]
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

fn main() -> ExitCode {
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
        Command::Check(args) => {
            let stdout = &mut std::io::stdout();
            let stderr = &mut std::io::stderr();
            let code = oracle::cli::check_path(&args.file, args.json, stdout, stderr);
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
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    init_tracing(args.trace);
    let request = match (&args.scenario, &args.scenario_file) {
        (_, Some(path)) => {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(error) => {
                    eprintln!(
                        "streamsim: cannot read scenario file {}: {error}",
                        path.display()
                    );
                    return Ok(ExitCode::from(2));
                }
            };
            match scenarios::spec::Scenario::from_toml(&text) {
                Ok(scenario) => RunRequest::fixed(scenario, &path.display().to_string(), args.seed),
                Err(error) => {
                    eprintln!("streamsim: {}: {error}", path.display());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        (Some(name), None) => RunRequest::named(name, args.seed),
        (None, None) => unreachable!("clap requires --scenario or --scenario-file"),
    }
    .with_bugs(args.bugs.clone());
    if let Err(error) = scenarios::validate(&request) {
        eprintln!("streamsim: {error}");
        return Ok(ExitCode::from(2));
    }
    let report = scenarios::run(&request)?;
    if let Some(path) = &args.history {
        let mut text = report.history.join("\n");
        text.push('\n');
        std::fs::write(path, text)
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
    for anomaly in &report.anomalies {
        println!("  {}: {}", anomaly.kind, anomaly.explanation);
        if !anomaly.events.is_empty() {
            let lines: Vec<String> = anomaly.events.iter().map(u64::to_string).collect();
            println!("    history lines {}", lines.join(", "));
        }
    }
    println!("  reproduce: {}", report.repro);
}
