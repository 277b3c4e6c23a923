//! `streamsim check FILE [--json]` as a function, so the binary calls it in one line.

use std::io::Write;
use std::path::Path;

use crate::reader::HistoryError;

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
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(source) => {
            let error = HistoryError::Open {
                path: path.to_path_buf(),
                source,
            };
            let _ = writeln!(stderr, "streamsim check: {error}");
            return EXIT_BAD_INPUT;
        }
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
