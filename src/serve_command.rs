//! `streamsim serve`: flags, listeners, Ctrl-C, the bootstrap line, the history file and the
//! summary. The run itself is the `serve` crate's (docs/serve.md).

use crate::{output, parse_seed, request_for};
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The named scenario whose cluster (and faults) to serve (see `streamsim list`).
    #[arg(
        long,
        required_unless_present = "scenario_file",
        conflicts_with = "scenario_file"
    )]
    scenario: Option<String>,
    /// A scenario file (TOML) to serve instead of a named scenario.
    #[arg(long, value_name = "FILE")]
    scenario_file: Option<PathBuf>,
    /// The seed (the fault schedule and every other decision of the run derive from it).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true, value_parser = parse_seed)]
    seed: u64,
    /// Switch a historical bug back on (repeatable; see `streamsim list`).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Broker 1 listens on ADDR:PORT, broker i on ADDR:PORT+i-1 (real TCP), and advertises
    /// that address in Kafka Metadata.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Do not start the scenario's own producers and consumers (only external clients).
    #[arg(long)]
    no_clients: bool,
    /// Keep the cluster up this long after the scenario's last phase (for external clients to
    /// finish).
    #[arg(long, value_name = "MS", default_value_t = serve::HOLD_DEFAULT_MS)]
    hold_ms: u64,
    /// Write the cluster's side of the history (and the scenario's clients', unless
    /// --no-clients) here, `time` in nanoseconds since the Unix epoch.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let request = match request_for(&args.scenario, &args.scenario_file, args.seed, &args.bugs) {
        Ok(request) => request,
        Err(code) => return Ok(code),
    };
    if let Some(path) = &args.history {
        if let Err(message) = output::check_file_writable(path) {
            eprintln!("streamsim: --history {}: {message}", path.display());
            return Ok(ExitCode::from(2));
        }
    }
    let brokers = request.scenario()?.cluster.brokers;
    let listeners = match serve::broker_addresses(args.listen, brokers)
        .and_then(|addresses| serve::bind(&addresses))
    {
        Ok(listeners) => listeners,
        Err(error) => {
            eprintln!("streamsim: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    // The Ctrl-C handler's thread starts here, before the simulation (madsim forbids threads).
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::Relaxed) {
                std::process::exit(130); // a second Ctrl-C: stop at once
            }
            eprintln!("\nstreamsim: interrupted; stopping the cluster and writing the history");
        });
    }
    let bootstrap = args.listen;
    let config = serve::ServeConfig {
        request: request.clone(),
        listen: args.listen,
        clients: !args.no_clients,
        hold: Duration::from_millis(args.hold_ms),
        history: args.history.clone(),
    };
    eprintln!(
        "streamsim: serving {} seed {} on {}..={} ({} brokers); setting up",
        request.scenario_name(),
        args.seed,
        bootstrap,
        bootstrap.port() as u32 + brokers - 1,
        brokers
    );
    let outcome = serve::serve(config, listeners, stop, move || {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "bootstrap: {bootstrap}");
        let _ = stdout.flush();
    })?;
    let drift = outcome.drift;
    let (ending, code) = match &outcome.ending {
        serve::Ending::Completed => ("the scenario ended".to_string(), ExitCode::SUCCESS),
        serve::Ending::Interrupted {
            scenario_done: true,
        } => (
            "interrupted after the scenario's end".to_string(),
            ExitCode::SUCCESS,
        ),
        serve::Ending::Interrupted {
            scenario_done: false,
        } => (
            "interrupted before the scenario's end".to_string(),
            ExitCode::SUCCESS,
        ),
        serve::Ending::SetupFailed(failures) => (
            format!("setup failed: {}", failures.join("; ")),
            ExitCode::from(1),
        ),
        serve::Ending::Failed(message) => (format!("the run failed: {message}"), ExitCode::from(1)),
    };
    println!(
        "served {} seed {}: {ending}; {:.1} s on the wall clock, {:.1} s simulated \
         (at most {} ms behind the wall clock, {} ms at the end; {} of {} pacing steps more \
         than 1 ms behind)",
        request.scenario_name(),
        args.seed,
        drift.real.as_secs_f64(),
        drift.simulated.as_secs_f64(),
        drift.max_lag.as_millis(),
        drift.lag().as_millis(),
        drift.steps_behind,
        drift.steps,
    );
    let bridge = outcome.bridge;
    println!(
        "bridge: {} connections accepted, {} carried to a broker, {} refused; {} bytes in, {} bytes out",
        bridge.accepted, bridge.connected, bridge.refused, bridge.bytes_in, bridge.bytes_out
    );
    match &args.history {
        Some(path) => println!(
            "history: {} ({} events; time in ns since the Unix epoch)",
            path.display(),
            outcome.events.len()
        ),
        None => println!("history: not written (--history FILE)"),
    }
    Ok(code)
}
