//! `streamsim check FILE [FILE...] [--json]` as a function, so the binary calls it in one line.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::reader::HistoryError;
use crate::{CheckResult, Checker, Event, HistoryReader};

/// Exit code: the history is valid.
pub const EXIT_VALID: i32 = 0;
/// Exit code: anomalies found.
pub const EXIT_ANOMALIES: i32 = 1;
/// Exit code: bad input (or the report could not be written).
pub const EXIT_BAD_INPUT: i32 = 2;

/// Reads the history at `path`, checks it and prints the verdict: the `--json` object of docs/history-format.md when `json`,
/// else the terminal rendering. Bad input goes to `stderr` as `FILE:LINE: message`. Returns the exit code:
/// [`EXIT_VALID`], [`EXIT_ANOMALIES`] or [`EXIT_BAD_INPUT`].
pub fn check_path(path: &Path, json: bool, stdout: &mut dyn Write, stderr: &mut dyn Write) -> i32 {
    const READ_BUFFER_BYTES: usize = 1 << 20;
    let file = match open_history(path, stderr) {
        Ok(file) => file,
        Err(code) => return code,
    };
    let result =
        match crate::check_reader(std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file)) {
            Ok(result) => result,
            Err(error) => {
                let _ = writeln!(stderr, "{}", describe_bad_input(path, &error));
                return EXIT_BAD_INPUT;
            }
        };
    if let Some(message) = proves_nothing(&result.stats) {
        let _ = writeln!(stderr, "streamsim check: {}: {message}", path.display());
        return EXIT_BAD_INPUT;
    }
    let rendered = if json {
        result.to_json() + "\n"
    } else {
        result.render_text()
    };
    print_verdict(&result, &rendered, stdout, stderr)
}

/// `streamsim check FILE [FILE...]`: one file is [`check_path`]. Several files (per-client recordings, the
/// cluster's own, ...) are merged by `time` into one history, stably (on equal times the line of the file
/// named first comes first, and each file keeps its own order), which is then checked exactly as one file
/// holding the merged lines (blank lines dropped) would be: its line numbers are the merged history's. Each
/// file must be a valid history on its own (time never decreasing within it); bad input names the file and
/// its own line. The report adds where each line an anomaly cites came from: in the text after the anomalies
/// (`line N = FILE:LINE`), in the `--json` object as `sources`, an object from the merged line (a string) to
/// `FILE:LINE`.
pub fn check_paths(
    paths: &[PathBuf],
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    match paths {
        [] => {
            let _ = writeln!(stderr, "streamsim check: no history file given");
            EXIT_BAD_INPUT
        }
        [path] => check_path(path, json, stdout, stderr),
        paths => check_merged(paths, json, stdout, stderr),
    }
}

/// Opens a history file, or says why not on `stderr` and gives the exit code.
fn open_history(path: &Path, stderr: &mut dyn Write) -> Result<std::fs::File, i32> {
    std::fs::File::open(path).map_err(|source| {
        let error = HistoryError::Open {
            path: path.to_path_buf(),
            source,
        };
        let _ = writeln!(stderr, "streamsim check: {error}");
        EXIT_BAD_INPUT
    })
}

/// Several histories merged by time; see [`check_paths`].
fn check_merged(
    paths: &[PathBuf],
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    const READ_BUFFER_BYTES: usize = 1 << 18;
    type Reader = HistoryReader<std::io::BufReader<std::fs::File>>;
    let mut readers: Vec<Reader> = Vec::with_capacity(paths.len());
    for path in paths {
        match open_history(path, stderr) {
            Ok(file) => readers.push(HistoryReader::new(std::io::BufReader::with_capacity(
                READ_BUFFER_BYTES,
                file,
            ))),
            Err(code) => return code,
        }
    }
    // The next event of each file, read ahead: (its line in that file, the event).
    let mut heads: Vec<Option<(u64, Event<'static>)>> = Vec::with_capacity(paths.len());
    for (index, reader) in readers.iter_mut().enumerate() {
        match reader.next_event() {
            Ok(head) => heads.push(head),
            Err(error) => {
                let _ = writeln!(stderr, "{}", describe_bad_input(&paths[index], &error));
                return EXIT_BAD_INPUT;
            }
        }
    }
    let mut checker = Checker::new();
    // Where each merged line came from: (file index, line in that file); merged line n is `origins[n - 1]`.
    let mut origins: Vec<(u32, u64)> = Vec::new();
    // The earliest head; `min_by_key` keeps the first of equal keys, so the file named first wins ties.
    let earliest = |heads: &[Option<(u64, Event<'static>)>]| {
        heads
            .iter()
            .enumerate()
            .filter_map(|(index, head)| head.as_ref().map(|(_, event)| (index, event.time_ns)))
            .min_by_key(|&(_, time_ns)| time_ns)
            .map(|(index, _)| index)
    };
    while let Some(index) = earliest(&heads) {
        let (line, event) = heads[index].take().expect("the chosen head is present");
        origins.push((index as u32, line));
        checker.observe(origins.len() as u64, &event);
        match readers[index].next_event() {
            Ok(head) => heads[index] = head,
            Err(error) => {
                let _ = writeln!(stderr, "{}", describe_bad_input(&paths[index], &error));
                return EXIT_BAD_INPUT;
            }
        }
    }
    let result = checker.finish();
    if let Some(message) = proves_nothing(&result.stats) {
        let names: Vec<String> = paths
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        let _ = writeln!(
            stderr,
            "streamsim check: the merged history of {}: {message}",
            names.join(", ")
        );
        return EXIT_BAD_INPUT;
    }
    let sources = cited_sources(&result, &origins, paths);
    let rendered = if json {
        merged_json(&result, &sources) + "\n"
    } else {
        let mut text = format!(
            "merged {} files by time: {}\n",
            paths.len(),
            paths
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        text.push_str(&result.render_text());
        if !sources.is_empty() {
            text.push_str("\nlines of the merged history:\n");
            for (line, source) in &sources {
                text.push_str(&format!("  line {line} = {source}\n"));
            }
        }
        text
    };
    print_verdict(&result, &rendered, stdout, stderr)
}

/// `FILE:LINE` of every merged line that a listed anomaly cites, by merged line.
fn cited_sources(
    result: &CheckResult,
    origins: &[(u32, u64)],
    paths: &[PathBuf],
) -> BTreeMap<u64, String> {
    let mut sources = BTreeMap::new();
    for anomaly in &result.anomalies {
        for &line in &anomaly.events {
            if let Some(&(file, file_line)) = usize::try_from(line)
                .ok()
                .and_then(|line| line.checked_sub(1))
                .and_then(|index| origins.get(index))
            {
                sources.insert(
                    line,
                    format!("{}:{file_line}", paths[file as usize].display()),
                );
            }
        }
    }
    sources
}

/// The `--json` object of one file (keys in the contract's order), then `sources` (merged line -> `FILE:LINE`)
/// when an anomaly cites lines.
fn merged_json(result: &CheckResult, sources: &BTreeMap<u64, String>) -> String {
    #[derive(serde::Serialize)]
    struct Merged<'a> {
        #[serde(flatten)]
        result: &'a CheckResult,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        sources: &'a BTreeMap<u64, String>,
    }
    serde_json::to_string_pretty(&Merged { result, sources })
        .expect("a CheckResult always serializes")
}

/// Writes the rendered report; the exit code of the verdict.
fn print_verdict(
    result: &CheckResult,
    rendered: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> i32 {
    if let Err(error) = stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush())
    {
        let _ = writeln!(stderr, "streamsim check: cannot write the report: {error}");
        return EXIT_BAD_INPUT;
    }
    if result.valid {
        EXIT_VALID
    } else {
        EXIT_ANOMALIES
    }
}

/// Why a well-formed history cannot be judged: it has no events, or no client operation (only lifecycle,
/// cluster, nemesis or ignored events). Passing it would let a broken recorder pass CI.
pub fn proves_nothing(stats: &crate::Stats) -> Option<String> {
    if stats.events == 0 {
        return Some(
            "the history has no events (an empty file, or only blank lines); there is nothing to check".to_string(),
        );
    }
    if stats.operations == 0 {
        return Some(format!(
            "the history has {} event(s) and no client operation (send, poll, request, commit, assign, reset or \
             init_pid){}; there is nothing to check",
            stats.events,
            if stats.ignored_events > 0 {
                format!(", and {} of them are of a kind the format does not know", stats.ignored_events)
            } else {
                String::new()
            }
        ));
    }
    None
}

/// `FILE:LINE: message` (or `FILE: message` for an error that is not about a line).
pub fn describe_bad_input(path: &Path, error: &HistoryError) -> String {
    let message = error.to_string();
    match error.line() {
        Some(line) => {
            let prefix = format!("line {line}: ");
            let message = message.strip_prefix(&prefix).unwrap_or(&message);
            format!("{}:{line}: bad history: {message}", path.display())
        }
        None => format!("streamsim check: {message}"),
    }
}
