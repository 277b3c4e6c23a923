//! `check_reader` parses blocks of lines on several threads and checks them in order: whatever the number
//! of threads and the reader's buffer, the verdict and the first error are those of reading the history one
//! line at a time.

use std::io::BufReader;

use oracle::gen::{generate, to_jsonl, GenConfig};
use oracle::{check_reader_on, Checker, HistoryReader};

/// The reference: one line at a time with [`HistoryReader`], checked as read.
fn line_by_line(text: &[u8]) -> Result<String, String> {
    let mut reader = HistoryReader::new(text);
    let mut checker = Checker::new();
    while let Some((line, event)) = reader.next_view().map_err(|error| error.to_string())? {
        checker.observe(line, &event);
    }
    Ok(checker.finish().to_json())
}

/// Every way `check_reader` may take `text` gives the reference's answer.
fn agrees_whatever_the_threads(text: &[u8]) -> Result<String, String> {
    let expected = line_by_line(text);
    for threads in [1, 2, 3, 8] {
        for capacity in [None, Some(1_000), Some(1 << 20)] {
            let got = match capacity {
                None => check_reader_on(text, threads),
                Some(capacity) => {
                    check_reader_on(BufReader::with_capacity(capacity, text), threads)
                }
            }
            .map(|result| result.to_json())
            .map_err(|error| error.to_string());
            assert_eq!(
                got, expected,
                "{threads} threads, buffer {capacity:?}: differs from line by line"
            );
        }
    }
    expected
}

/// A generated correct history of about `events` events, as lines (each with its newline).
fn history_lines(seed: u64, events: usize) -> Vec<String> {
    to_jsonl(&generate(&GenConfig::new(seed, events)))
        .lines()
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn a_large_correct_history_checks_the_same_on_any_number_of_threads() {
    // About 6 MB: more than one 4 MiB block, each split in parts.
    let lines = history_lines(3, 30_000);
    let verdict = agrees_whatever_the_threads(lines.concat().as_bytes()).expect("parses");
    assert!(verdict.contains(r#""valid": true"#), "{verdict}");
}

#[test]
fn anomalies_found_on_several_threads_are_those_found_line_by_line() {
    let lines = history_lines(4, 30_000);
    // Every 997th poll read twice, and some acknowledged sends' reads dropped: duplicates and losses
    // spread over every part of every block.
    let mut edited = Vec::new();
    let mut polls = 0;
    for line in &lines {
        if line.contains(r#""f":"poll""#) {
            polls += 1;
            if polls % 997 == 0 {
                edited.push(line.clone());
            }
            if polls % 1_499 == 0 {
                continue;
            }
        }
        edited.push(line.clone());
    }
    let verdict = agrees_whatever_the_threads(edited.concat().as_bytes()).expect("parses");
    assert!(verdict.contains(r#""valid": false"#), "{verdict}");
}

#[test]
fn the_first_bad_line_is_named_wherever_it_falls() {
    let lines = history_lines(5, 30_000);
    let count = lines.len();
    for at in [
        0,
        1,
        count / 7,
        count / 3,
        count / 2 + 11,
        count - 2,
        count - 1,
    ] {
        for bad in [
            "{\"time\":",
            "not json",
            "{\"time\":1,\"process\":\"p\",\"type\":\"ok\"}",
        ] {
            let mut edited = lines.clone();
            edited[at] = format!("{bad}\n");
            let error = agrees_whatever_the_threads(edited.concat().as_bytes())
                .expect_err("a bad line is bad input");
            assert!(error.starts_with(&format!("line {}:", at + 1)), "{error}");
        }
    }
}

#[test]
fn time_going_backwards_across_parts_is_found() {
    let lines = history_lines(6, 30_000);
    let at = lines.len() / 2;
    let mut edited = lines.clone();
    // Every line starts with its time: make this one 0.
    let comma = edited[at].find(',').expect("a comma after the time");
    edited[at].replace_range("{\"time\":".len()..comma, "0");
    let error =
        agrees_whatever_the_threads(edited.concat().as_bytes()).expect_err("time went backwards");
    assert!(
        error.starts_with(&format!("line {}: time went backwards", at + 1)),
        "{error}"
    );
}

#[test]
fn blank_lines_crlf_and_a_last_line_without_newline_count_as_line_by_line() {
    let lines = history_lines(7, 30_000);
    let mut text = String::new();
    for (index, line) in lines.iter().enumerate() {
        text.push_str(line);
        if index % 101 == 0 {
            text.push_str("\n  \n");
        }
        if index % 103 == 0 {
            text.push_str("\r\n");
        }
    }
    text.pop();
    agrees_whatever_the_threads(text.as_bytes()).expect("parses");
    // Bad input on the last line, which has no newline: named with its number.
    let last = format!("{text}\nnot json");
    let error = agrees_whatever_the_threads(last.as_bytes()).expect_err("bad last line");
    assert!(error.contains("malformed JSON"), "{error}");
}

#[test]
fn invalid_utf8_is_named_with_its_line() {
    let lines = history_lines(8, 30_000);
    let at = lines.len() * 3 / 4;
    let mut bytes = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if index == at {
            bytes.extend_from_slice(b"{\"time\":\xff}\n");
        } else {
            bytes.extend_from_slice(line.as_bytes());
        }
    }
    let error = agrees_whatever_the_threads(&bytes).expect_err("not UTF-8");
    assert!(
        error.starts_with(&format!("line {}: not valid UTF-8", at + 1)),
        "{error}"
    );
}

/// Gives `text` up to byte `at`, then fails every read.
struct FailsAt<'a> {
    text: &'a [u8],
    at: usize,
}

impl std::io::Read for FailsAt<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.at == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        let count = buffer.len().min(self.at).min(self.text.len());
        buffer[..count].copy_from_slice(&self.text[..count]);
        self.text = &self.text[count..];
        self.at -= count;
        Ok(count)
    }
}

#[test]
fn a_read_error_comes_after_every_line_read_before_it() {
    // Lines read before the error are checked first: a bad one among them is the first error;
    // otherwise the error names the line it happened in, as reading line by line does.
    let lines = history_lines(9, 30_000);
    let text = lines.concat();
    let bad_at = lines.len() / 2;
    let mut with_bad = lines.clone();
    with_bad[bad_at] = "not json\n".to_string();
    let with_bad = with_bad.concat();
    let line_start = |index: usize| lines[..index].iter().map(String::len).sum::<usize>();
    let cuts = [
        0,
        1,
        line_start(10),
        line_start(10) + 5,
        (4 << 20) + 17,
        line_start(bad_at) + 3,
        text.len() - 1,
    ];
    for (name, text) in [
        ("correct", text.as_bytes()),
        ("with a bad line", with_bad.as_bytes()),
    ] {
        for &at in &cuts {
            let reference = {
                let mut reader = HistoryReader::new(std::io::BufReader::new(FailsAt { text, at }));
                let mut checker = Checker::new();
                loop {
                    match reader.next_view() {
                        Ok(Some((line, event))) => checker.observe(line, &event),
                        Ok(None) => break Ok(()),
                        Err(error) => break Err(error.to_string()),
                    }
                }
            };
            let reference = reference.expect_err("the read fails");
            for threads in [1, 2, 3] {
                for capacity in [1_000, 1 << 20] {
                    let reader = std::io::BufReader::with_capacity(capacity, FailsAt { text, at });
                    let got = check_reader_on(reader, threads).map(|result| result.to_json());
                    assert_eq!(
                        got.map_err(|error| error.to_string()),
                        Err(reference.clone()),
                        "{name}, cut at byte {at}, {threads} threads, buffer {capacity}"
                    );
                }
            }
        }
    }
}
