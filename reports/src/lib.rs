//! Renders the outcome of a run for the people and the tools that read it.
//!
//! One [`RunReport`] (the result of one scenario for one seed) becomes:
//! - [`markdown::render`] — an issue-ready Markdown report: verdict, the command that reproduces the
//!   run, the anomalies grouped by kind with the history lines that prove them, the fault schedule,
//!   the events leading up to the first anomaly, the coverage marks reached;
//! - [`html::render`] — one self-contained HTML file with the same facts and an SVG timeline of the
//!   run over simulated time (acknowledgements, consumer positions, log start, high watermark,
//!   faults, leader changes, the anomalies' proving events);
//! - [`json::render`] — the report as one JSON object, the scenario that ran included;
//!
//! and a campaign's results become [`junit::render`] — JUnit XML for CI systems.
//!
//! [`write_seed_dir`] writes all of a seed's files into one directory; every file is written with
//! [`write_atomic`], so an interrupted campaign never leaves a half-written report behind.
//!
//! Every renderer is a pure function of its input: the same report gives the same bytes (the
//! Markdown and HTML leave out the report's wall-clock time so that they can be snapshotted; the
//! JSON keeps it). None of them panics on odd input: a report of a run that panicked has an empty
//! history, and a history line the renderers cannot read is shown as it is and left off the timeline.
//!
//! `docs/reports.md` is the user guide: what each report contains and how to read the timeline.

pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;

mod facts;
mod svg;
mod timeline;

pub use junit::{JunitCase, JunitFailure};
pub use scenarios::report::RunReport;

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// File names of a seed directory (see [`write_seed_dir`]).
pub const HISTORY_FILE: &str = "history.jsonl";
pub const MARKDOWN_FILE: &str = "report.md";
pub const HTML_FILE: &str = "report.html";
pub const JSON_FILE: &str = "report.json";

/// Distinguishes the temporary files of concurrent writers in one process.
static TEMP_FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: into a temporary file in the same directory (so that the
/// rename stays within one file system), synced, then renamed over `path`. A reader sees the old
/// file or the new one, never a part of it. On error the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp_path = directory.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        TEMP_FILE_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp_path, path)
    })();
    if result.is_err() {
        // The temporary file may not exist (open failed): nothing to clean up then.
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// Creates `dir` (and its parents) and writes the seed's files there, each atomically:
/// [`HISTORY_FILE`] (the history, one JSON line per event), [`MARKDOWN_FILE`], [`HTML_FILE`] and
/// [`JSON_FILE`].
pub fn write_seed_dir(dir: &Path, report: &RunReport) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    write_atomic(&dir.join(HISTORY_FILE), &report.history_jsonl())?;
    write_atomic(
        &dir.join(MARKDOWN_FILE),
        markdown::render(report).as_bytes(),
    )?;
    write_atomic(&dir.join(HTML_FILE), html::render(report).as_bytes())?;
    write_atomic(&dir.join(JSON_FILE), json::render(report).as_bytes())?;
    Ok(())
}
