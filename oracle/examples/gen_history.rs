//! Writes a generated correct history (`oracle::gen`) as JSON Lines to stdout:
//! `cargo run --release -p oracle --example gen_history -- EVENTS [SEED]`. For profiling the
//! checker on the same input `streamsim bench` measures (`streamsim check FILE`).

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let history = oracle::gen::generate(&oracle::gen::GenConfig::new(seed, events));
    std::io::stdout()
        .write_all(oracle::gen::to_jsonl(&history).as_bytes())
        .expect("stdout");
}
