//! Files: atomic writes leave the old file or the new one and no temporary file; a seed directory
//! holds the history and the three reports.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "streamsim-reports-test-{}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn write_atomic_replaces_the_file_and_leaves_no_temporary_file() {
    let dir = scratch("replace");
    let path = dir.join("report.md");
    reports::write_atomic(&path, b"first").unwrap();
    reports::write_atomic(&path, b"second, longer").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"second, longer");
    assert_eq!(entries(&dir), vec!["report.md"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_atomic_cleans_up_when_it_fails() {
    let dir = scratch("fail");
    // The rename cannot replace a directory: the write fails, and leaves nothing behind.
    let path = dir.join("report.md");
    fs::create_dir(&path).unwrap();
    assert!(reports::write_atomic(&path, b"bytes").is_err());
    assert_eq!(entries(&dir), vec!["report.md"]);
    assert!(path.is_dir());
    // A directory that does not exist.
    assert!(reports::write_atomic(&dir.join("missing/report.md"), b"bytes").is_err());
    // A path without a file name.
    let error = reports::write_atomic(Path::new("/"), b"bytes").unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(entries(&dir), vec!["report.md"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seed_directory_holds_the_history_and_the_reports() {
    let dir = scratch("seed").join("offset-commit").join("seed-7");
    let report = common::report_with_history(&[
        r#"{"time":1,"process":"producer-0","type":"ok","f":"start"}"#,
        r#"{"time":2,"process":"producer-0","type":"ok","f":"close"}"#,
    ]);
    reports::write_seed_dir(&dir, &report).unwrap();
    assert_eq!(
        entries(&dir),
        vec!["history.jsonl", "report.html", "report.json", "report.md"]
    );
    assert_eq!(
        fs::read_to_string(dir.join("history.jsonl")).unwrap(),
        format!("{}\n{}\n", report.history[0], report.history[1])
    );
    assert_eq!(
        fs::read_to_string(dir.join("report.md")).unwrap(),
        reports::markdown::render(&report)
    );
    assert_eq!(
        fs::read_to_string(dir.join("report.html")).unwrap(),
        reports::html::render(&report)
    );
    assert_eq!(
        fs::read_to_string(dir.join("report.json")).unwrap(),
        reports::json::render(&report)
    );
    // Written again (a re-run of the seed): replaced in place, still no temporary file.
    reports::write_seed_dir(&dir, &report).unwrap();
    assert_eq!(entries(&dir).len(), 4);
    fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn acks_1_writes_lost_with_their_leader_are_told_only_when_there_are_some() {
    let mut report = common::passing_run();
    let markdown = reports::markdown::render(&report);
    assert!(!markdown.contains("acks=1"), "{markdown}");
    report.stats.as_mut().expect("a completed run").acks1_lost = 3;
    let markdown = reports::markdown::render(&report);
    assert!(
        markdown.contains("3 acknowledged with acks=1 and lost with their leader"),
        "{markdown}"
    );
    assert!(reports::html::render(&report).contains("3 acknowledged with acks=1"));
}
