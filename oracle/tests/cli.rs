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
