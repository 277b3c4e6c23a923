//! `streamsim check FILE [--json]` through `oracle::cli::check_path`: exit codes, output, and bad input naming
//! the file and the line.

use std::path::{Path, PathBuf};

use oracle::cli::{check_path, EXIT_ANOMALIES, EXIT_BAD_INPUT, EXIT_VALID};

/// Writes `text` to a fresh file under the target directory's temp area.
fn history_file(name: &str, text: &str) -> PathBuf {
    let directory = std::env::temp_dir().join(format!("oracle-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(path: &Path, json: bool) -> (i32, String, String) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = check_path(path, json, &mut stdout, &mut stderr);
    (
        code,
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

const VALID: &str = concat!(
    r#"{"time":1,"process":"producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
    "\n",
    r#"{"time":2,"process":"producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
    "\n",
    r#"{"time":3,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    "\n",
);

#[test]
fn a_valid_history_exits_0() {
    let path = history_file("valid.jsonl", VALID);
    let (code, stdout, stderr) = run(&path, false);
    assert_eq!(code, EXIT_VALID);
    assert_eq!(stdout, "history: 3 events, 1 sends ok, 1 records read, 0 evicted, 0 ignored\nvalid: no anomalies\n");
    assert_eq!(stderr, "");
    let (code, stdout, _) = run(&path, true);
    assert_eq!(code, EXIT_VALID);
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["stats"]["sends_ok"], 1);
}

#[test]
fn anomalies_exit_1_and_print_the_json_object() {
    let text = format!(
        "{VALID}{}\n",
        r#"{"time":4,"process":"consumer-0","type":"fail","f":"poll","topic":"t","partition":0,"offset":1,"error":"io_error"}"#
    );
    let path = history_file("anomalies.jsonl", &text);
    let (code, stdout, stderr) = run(&path, true);
    assert_eq!(code, EXIT_ANOMALIES);
    assert_eq!(stderr, "");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "valid": false,
            "anomalies": [{"kind": "internal-error", "explanation": "consumer-0 got io_error from a poll of t/0 at offset 1 (line 4)", "events": [4]}],
            "counts": {"internal-error": 1},
            "stats": {"events": 4, "operations": 4, "sends_ok": 1, "records_read": 1, "evicted": 0, "ignored_events": 0}
        })
    );
    let (code, stdout, _) = run(&path, false);
    assert_eq!(code, EXIT_ANOMALIES);
    assert!(
        stdout.contains("INVALID: 1 anomaly\n  internal-error  1\n"),
        "{stdout}"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file_and_the_line() {
    let text = format!(
        "{VALID}\n{}\n",
        r#"{"time":4,"process":"consumer-0","type":"ok","f":"commit","topic":"t","partition":0}"#
    );
    let path = history_file("bad.jsonl", &text);
    let (code, stdout, stderr) = run(&path, true);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "{}:5: bad history: missing required field `offset` (f=commit type=ok)\n",
            path.display()
        )
    );
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let path = std::env::temp_dir().join("oracle-cli-test-no-such-file.jsonl");
    let (code, stdout, stderr) = run(&path, false);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(&format!(
            "streamsim check: cannot open the history {}: ",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_directory_is_bad_input_too() {
    let directory = std::env::temp_dir();
    let (code, _, stderr) = run(&directory, false);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(!stderr.is_empty());
}

fn run_many(paths: &[PathBuf], json: bool) -> (i32, String, String) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = oracle::cli::check_paths(paths, json, &mut stdout, &mut stderr);
    (
        code,
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

// The cluster's file and a client's, recorded separately: the merge interleaves them by time.
const CLUSTER: &str = concat!(
    r#"{"time":1,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":1}"#,
    "\n",
    r#"{"time":1,"process":"cluster","type":"ok","f":"leader","topic":"t","partition":0,"broker":1,"epoch":0}"#,
    "\n\n",
    r#"{"time":25,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
    "\n",
);
const CLIENT: &str = concat!(
    r#"{"time":10,"process":"kp-producer-0","type":"invoke","f":"send","topic":"t","key":null,"value":"a"}"#,
    "\n",
    r#"{"time":20,"process":"kp-producer-0","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
    "\n",
    r#"{"time":30,"process":"kp-consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"}]}"#,
    "\n",
);

#[test]
fn several_files_merge_by_time_and_check_as_one() {
    let cluster = history_file("merge-cluster.jsonl", CLUSTER);
    let client = history_file("merge-client.jsonl", CLIENT);
    let (code, stdout, stderr) = run_many(&[cluster.clone(), client.clone()], false);
    assert_eq!(code, EXIT_VALID, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        format!(
            "merged 2 files by time: {}, {}\nhistory: 6 events, 1 sends ok, 1 records read, 0 evicted, 0 ignored\nvalid: no anomalies\n",
            cluster.display(),
            client.display()
        )
    );
    // The same as one file holding the merged lines.
    let merged: Vec<&str> = vec![
        CLUSTER.lines().next().unwrap(),
        CLUSTER.lines().nth(1).unwrap(),
        CLIENT.lines().next().unwrap(),
        CLIENT.lines().nth(1).unwrap(),
        CLUSTER.lines().nth(3).unwrap(),
        CLIENT.lines().nth(2).unwrap(),
    ];
    let one = history_file("merge-one.jsonl", &(merged.join("\n") + "\n"));
    let (_, merged_json, _) = run_many(&[cluster.clone(), client.clone()], true);
    let (_, one_json, _) = run(&one, true);
    assert_eq!(merged_json, one_json);
    // A single file is exactly `check_path`.
    assert_eq!(run_many(std::slice::from_ref(&one), true), run(&one, true));
}

#[test]
fn a_merge_can_reveal_an_anomaly_and_names_where_its_lines_came_from() {
    // The client alone is valid: its consumer was told offset 0 was evicted and the log now starts at 1, and it
    // jumped there; without log starts in the file nothing contradicts that.
    let client = history_file(
        "reveal-client.jsonl",
        concat!(
            r#"{"time":10,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
            "\n",
            r#"{"time":30,"process":"c","type":"fail","f":"poll","topic":"t","partition":0,"offset":0,"error":"offset_evicted","next_available":1}"#,
            "\n",
            r#"{"time":31,"process":"c","type":"ok","f":"reset","topic":"t","partition":0,"from":0,"to":1,"reason":"offset_evicted"}"#,
            "\n",
        ),
    );
    assert_eq!(run(&client, false).0, EXIT_VALID);
    // The cluster saw the log start move to 1, then to 2. Whether the error was right depends on where the
    // second move falls among the client's lines.
    let cluster_text = |second_move: u64| {
        format!(
            "{}\n{{\"time\":{second_move},\"process\":\"cluster\",\"type\":\"ok\",\"f\":\"log_start\",\"topic\":\"t\",\"partition\":0,\"offset\":2}}\n",
            r#"{"time":20,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":1}"#
        )
    };
    let after = history_file("reveal-cluster-after.jsonl", &cluster_text(35));
    let (code, stdout, _) = run_many(&[after, client.clone()], false);
    assert_eq!(
        code, EXIT_VALID,
        "the log start was 1 when the error was answered: {stdout}"
    );
    assert!(stdout.contains("1 evicted"), "{stdout}");

    let before = history_file("reveal-cluster-before.jsonl", &cluster_text(25));
    let (code, stdout, stderr) = run_many(&[before.clone(), client.clone()], true);
    assert_eq!(code, EXIT_ANOMALIES, "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["counts"],
        serde_json::json!({"wrong-next-available": 1})
    );
    // Merged lines: 1 client:1, 2 cluster:1, 3 cluster:2, 4 client:2, 5 client:3.
    let cited: Vec<u64> = json["anomalies"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line.as_u64().unwrap())
        .collect();
    assert!(cited.contains(&4), "the poll error is cited: {json}");
    let expected_source = |line: u64| match line {
        1 => format!("{}:1", client.display()),
        2 => format!("{}:1", before.display()),
        3 => format!("{}:2", before.display()),
        4 => format!("{}:2", client.display()),
        5 => format!("{}:3", client.display()),
        other => panic!("no merged line {other}"),
    };
    let sources = json["sources"]
        .as_object()
        .expect("sources for the cited lines");
    assert_eq!(sources.len(), cited.len(), "{json}");
    for line in &cited {
        assert_eq!(sources[&line.to_string()], expected_source(*line), "{json}");
    }
    // The keys keep the contract's order, `sources` last.
    let positions: Vec<usize> = ["valid", "anomalies", "counts", "stats", "sources"]
        .iter()
        .map(|key| {
            stdout
                .find(&format!("\n  \"{key}\":"))
                .expect("a top-level key")
        })
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{stdout}"
    );

    let (_, text, _) = run_many(&[before, client.clone()], false);
    assert!(text.contains("wrong-next-available (1):"), "{text}");
    assert!(
        text.contains("lines of the merged history:\n")
            && text.contains(&format!("  line 4 = {}:2\n", client.display())),
        "{text}"
    );
}

#[test]
fn equal_times_keep_the_first_file_first() {
    // The log start passes offset 0 at the very time a consumer reads offset 1. Which line comes first decides:
    // the log start first, the never-read write at offset 0 was evicted; the read first, it was read past
    // while the log still had it: a lost write. On equal times the file named first goes first.
    let client = history_file(
        "ties-client.jsonl",
        concat!(
            r#"{"time":5,"process":"p","type":"ok","f":"send","value":"a","topic":"t","partition":0,"offset":0}"#,
            "\n",
            r#"{"time":6,"process":"p","type":"ok","f":"send","value":"b","topic":"t","partition":0,"offset":1}"#,
            "\n",
            r#"{"time":30,"process":"c","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#,
            "\n",
        ),
    );
    let cluster = history_file(
        "ties-cluster.jsonl",
        concat!(
            r#"{"time":30,"process":"cluster","type":"ok","f":"log_start","topic":"t","partition":0,"offset":1}"#,
            "\n"
        ),
    );
    let (code, stdout, _) = run_many(&[cluster.clone(), client.clone()], false);
    assert_eq!(code, EXIT_VALID, "{stdout}");
    assert!(stdout.contains("1 evicted"), "{stdout}");
    let (code, stdout, _) = run_many(&[client, cluster], true);
    assert_eq!(code, EXIT_ANOMALIES, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["counts"], serde_json::json!({"lost-write": 1}));
}

#[test]
fn bad_input_in_the_second_file_names_that_file_and_its_line() {
    let first = history_file("bad-merge-first.jsonl", VALID);
    let second = history_file(
        "bad-merge-second.jsonl",
        concat!(
            r#"{"time":1,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":1}"#,
            "\n\n",
            r#"{"time":2,"process":"consumer-1","type":"ok","f":"commit","topic":"t","partition":0}"#,
            "\n",
        ),
    );
    let (code, stdout, stderr) = run_many(&[first, second.clone()], false);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "{}:3: bad history: missing required field `offset` (f=commit type=ok)\n",
            second.display()
        )
    );
    // Time going backwards within one file is still bad input, named by that file.
    let backwards = history_file(
        "bad-merge-backwards.jsonl",
        concat!(
            r#"{"time":9,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":1}"#,
            "\n",
            r#"{"time":8,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":2}"#,
            "\n",
        ),
    );
    let (code, _, stderr) = run_many(
        &[
            history_file("bad-merge-first2.jsonl", VALID),
            backwards.clone(),
        ],
        false,
    );
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(
        stderr.starts_with(&format!(
            "{}:2: bad history: time went backwards",
            backwards.display()
        )),
        "{stderr}"
    );
    // A missing file, and a merge that proves nothing.
    let missing = std::env::temp_dir().join("oracle-cli-test-no-such-file-2.jsonl");
    let (code, _, stderr) = run_many(
        &[
            history_file("bad-merge-first3.jsonl", VALID),
            missing.clone(),
        ],
        false,
    );
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(
        stderr.contains(&format!("cannot open the history {}", missing.display())),
        "{stderr}"
    );
    let only_cluster = history_file(
        "bad-merge-cluster-only.jsonl",
        concat!(
            r#"{"time":1,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":1}"#,
            "\n"
        ),
    );
    let (code, _, stderr) = run_many(&[only_cluster.clone(), only_cluster.clone()], false);
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(stderr.contains("the merged history of"), "{stderr}");
    assert!(stderr.contains("no client operation"), "{stderr}");
    assert_eq!(run_many(&[], false).0, EXIT_BAD_INPUT);
}
