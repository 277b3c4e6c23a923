//! Runs one named scenario for one seed and writes its seed directory (history, Markdown, HTML,
//! JSON), to look at the reports without the CLI:
//!
//! ```text
//! cargo run --release -p reports --example render -- SCENARIO SEED OUT_DIR [BUG...]
//! ```

use std::path::Path;

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.len() < 3 {
        eprintln!("usage: render SCENARIO SEED OUT_DIR [BUG...]");
        std::process::exit(2);
    }
    let seed: u64 = match arguments[1].parse() {
        Ok(seed) => seed,
        Err(error) => {
            eprintln!("bad seed {}: {error}", arguments[1]);
            std::process::exit(2);
        }
    };
    let request =
        scenarios::RunRequest::named(&arguments[0], seed).with_bugs(arguments[3..].to_vec());
    let report = match scenarios::run(&request) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };
    let dir = Path::new(&arguments[2]);
    if let Err(error) = reports::write_seed_dir(dir, &report) {
        eprintln!("cannot write {}: {error}", dir.display());
        std::process::exit(1);
    }
    println!(
        "{} {} seed {}: {} anomalies, {} events -> {}",
        report.scenario,
        if report.anomalies.is_empty() {
            "PASS"
        } else {
            "FAIL"
        },
        report.seed,
        report.anomalies.len(),
        report.events,
        dir.display()
    );
}
