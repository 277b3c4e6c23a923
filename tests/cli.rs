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
        (
            &["run", "--scenario", "smoke", "--seed", "-1"],
            "'-1' is not a seed: a seed is an unsigned 64-bit number",
        ),
        (
            &["show", "--scenario", "smoke", "--seed", "-5"],
            "'-5' is not a seed",
        ),
        (
            &["shrink", "--scenario", "smoke", "--seed", "-1"],
            "'-1' is not a seed",
        ),
        (
            &["fuzz", "--scenario", "smoke", "--seeds", "-3"],
            "'-3' is not a number of seeds",
        ),
        (
            &["fuzz", "--scenario", "smoke", "--seed-range", "-3..5"],
            "'-3' is not a seed",
        ),
        (
            &[
                "fuzz",
                "--scenario",
                "smoke",
                "--seeds",
                "2",
                "--jobs",
                "100000",
            ],
            "--jobs 100000: at most 256 parallel runs",
        ),
        (
            &["fuzz", "--scenario", "smoke", "--seeds", "2", "--jobs", "0"],
            "--jobs 0",
        ),
        (
            &[
                "fuzz",
                "--scenario",
                "smoke",
                "--seeds",
                "2",
                "--jobs",
                "-2",
            ],
            "'-2' is not a number of parallel runs",
        ),
        // The path is refused before the shrink replays anything (the seed passes, which would
        // be a different message).
        (
            &[
                "shrink",
                "--scenario",
                "smoke",
                "--seed",
                "1",
                "--out",
                "/nonexistent-streamsim/x.toml",
            ],
            "--out /nonexistent-streamsim/x.toml: the folder /nonexistent-streamsim does not exist",
        ),
    ];
    for (args, expected) in cases {
        let output = streamsim(args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn jobs_above_the_number_of_runs_start_no_idle_threads() {
    let output = streamsim(
        &[
            "fuzz",
            "--scenario",
            "smoke",
            "--seeds",
            "2",
            "--jobs",
            "50",
        ],
        &[("CI", "true")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("seeds 1..=2, 2 job(s)"), "{stderr}");
}

#[test]
fn a_bug_named_twice_is_on_once() {
    let output = streamsim(
        &[
            "run",
            "--scenario",
            "smoke",
            "--seed",
            "1",
            "--bug",
            "hw-before-isr",
            "--bug",
            "hw-before-isr",
            "--json",
        ],
        &[],
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(
        report["bugs"],
        serde_json::json!(["hw-before-isr"]),
        "{report}"
    );
}

#[test]
fn check_refuses_a_history_that_proves_nothing() {
    let dir = std::env::temp_dir().join(format!("streamsim-cli-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("empty.jsonl", "", "the history has no events"),
        ("blank.jsonl", "\n  \n", "the history has no events"),
        (
            "cluster-only.jsonl",
            "{\"time\":1,\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"partitions\",\"topic\":\"t\",\"count\":2}\n\
             {\"time\":2,\"process\":\"p\",\"type\":\"ok\",\"f\":\"start\"}\n\
             {\"time\":3,\"process\":\"p\",\"type\":\"ok\",\"f\":\"dance\"}\n",
            "the history has 3 event(s) and no client operation",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let output = streamsim(&["check", path.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            stderr.contains(name),
            "{name}: the message names the file: {stderr}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_merges_several_files_by_time() {
    let dir = std::env::temp_dir().join(format!("streamsim-cli-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = dir.join("cluster.jsonl");
    let client = dir.join("client.jsonl");
    std::fs::write(
        &cluster,
        "{\"time\":1,\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"partitions\",\"topic\":\"t\",\"count\":1}\n\
         {\"time\":25,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"fault\",\"fault\":\"heal\"}\n",
    )
    .unwrap();
    std::fs::write(
        &client,
        "{\"time\":10,\"process\":\"p\",\"type\":\"ok\",\"f\":\"send\",\"value\":\"a\",\"topic\":\"t\",\"partition\":0,\"offset\":0}\n\
         {\"time\":30,\"process\":\"c\",\"type\":\"ok\",\"f\":\"poll\",\"records\":[{\"topic\":\"t\",\"partition\":0,\"offset\":0,\"value\":\"a\"}]}\n",
    )
    .unwrap();
    let output = streamsim(
        &["check", cluster.to_str().unwrap(), client.to_str().unwrap()],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("merged 2 files by time: "), "{stdout}");
    assert!(
        stdout.contains("history: 4 events, 1 sends ok, 1 records read"),
        "{stdout}"
    );
    // The client's value was never read once the poll is gone: `unseen` after the heal in the cluster's file.
    std::fs::write(
        &client,
        "{\"time\":10,\"process\":\"p\",\"type\":\"ok\",\"f\":\"send\",\"value\":\"a\",\"topic\":\"t\",\"partition\":0,\"offset\":0}\n",
    )
    .unwrap();
    let output = streamsim(
        &[
            "check",
            cluster.to_str().unwrap(),
            client.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["counts"], serde_json::json!({"unseen": 1}));
    // No file at all is a usage error.
    let output = streamsim(&["check"], &[]);
    assert_eq!(output.status.code(), Some(2));
}
