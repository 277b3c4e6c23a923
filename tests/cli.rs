//! The command line, as users run it: exit codes, determinism of `run`, messages on bad input.

use std::process::{Command, Output};

fn streamsim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamsim"));
    command.args(args).env_remove("RUST_LOG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run streamsim")
}

fn json_run(seed: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let output = streamsim(
        &["run", "--scenario", "smoke", "--seed", seed, "--json"],
        env,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

#[test]
fn run_json_has_the_documented_fields_and_is_deterministic() {
    let first = json_run("7", &[]);
    for field in [
        "scenario",
        "seed",
        "bugs",
        "verdict",
        "trace_hash",
        "anomalies",
        "repro",
        "sim_time_ms",
        "events",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["verdict"], "pass");
    assert_eq!(first["repro"], "streamsim run --scenario smoke --seed 7");
    let hash = first["trace_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 16);

    let second = json_run("7", &[]);
    assert_eq!(second["trace_hash"], first["trace_hash"]);
    let other_seed = json_run("8", &[]);
    assert_ne!(other_seed["trace_hash"], first["trace_hash"]);
    // Logging never changes the trace hash.
    let logged = json_run("7", &[("RUST_LOG", "trace")]);
    assert_eq!(logged["trace_hash"], first["trace_hash"]);
}

#[test]
fn check_determinism_passes_on_a_deterministic_scenario() {
    let output = streamsim(
        &[
            "run",
            "--scenario",
            "smoke",
            "--seed",
            "3",
            "--check-determinism",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("same trace hash"), "{stdout}");
}

#[test]
fn bad_usage_exits_2_with_a_message_naming_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--scenario", "nope", "--seed", "1"],
            "unknown scenario 'nope'",
        ),
        (
            &["run", "--scenario", "smoke", "--seed", "x"],
            "invalid value 'x'",
        ),
        (
            &[
                "run",
                "--scenario",
                "smoke",
                "--seed",
                "18446744073709551616",
            ],
            "--seed",
        ),
        (&["run", "--scenario", "smoke"], "--seed"),
        (
            &["run", "--scenario", "smoke", "--seed", "1", "--frobnicate"],
            "--frobnicate",
        ),
        (&["fly"], "fly"),
    ];
    for (args, expected) in cases {
        let output = streamsim(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
