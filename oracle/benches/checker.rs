//! Checker throughput on generated histories of a correct system (`oracle::gen`).
//!
//! `cargo bench -p oracle` prints, for 100,000- and 1,000,000-event histories, the events checked per second
//! when parsing JSON Lines text and checking (what `streamsim check FILE` does, minus the file read: on all
//! cores, and on one thread), and when checking events already in memory (what a simulation run does), then
//! the ratio of the 1M to the 100k time.
//! Each figure is the best of a few repetitions, so a busy machine shows as noise, not as a trend.

use std::time::{Duration, Instant};

use oracle::gen::{generate, to_jsonl, GenConfig};

const SEED: u64 = 20_240_601;
const REPETITIONS: usize = 5;

struct Figures {
    events: usize,
    parse_and_check: Duration,
    parse_and_check_one_thread: Duration,
    check_only: Duration,
}

fn best_of<T>(repetitions: usize, mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..repetitions {
        let started = Instant::now();
        let output = run();
        best = best.min(started.elapsed());
        last = Some(output);
    }
    (best, last.expect("at least one repetition"))
}

fn measure(events_min: usize) -> Figures {
    let events = generate(&GenConfig::new(SEED, events_min));
    let text = to_jsonl(&events);
    let (parse_and_check, parsed) = best_of(REPETITIONS, || {
        oracle::check_reader(text.as_bytes()).expect("generated histories parse")
    });
    let (parse_and_check_one_thread, parsed_on_one) = best_of(REPETITIONS, || {
        oracle::check_reader_on(text.as_bytes(), 1).expect("generated histories parse")
    });
    let (check_only, checked) = best_of(REPETITIONS, || oracle::check_events(&events));
    assert!(
        parsed.valid && checked.valid,
        "generated histories are valid: {}",
        parsed.render_text()
    );
    assert_eq!(parsed, checked);
    assert_eq!(parsed_on_one, checked);
    assert_eq!(parsed.stats.events as usize, events.len());
    println!(
        "{:>9} events ({:>4} MiB of JSONL): parse+check {:>7.1} ms = {:>10.0} events/s (one thread: {:>7.1} ms = {:>10.0} events/s); check only {:>7.1} ms = {:>10.0} events/s",
        events.len(),
        text.len() >> 20,
        parse_and_check.as_secs_f64() * 1e3,
        events.len() as f64 / parse_and_check.as_secs_f64(),
        parse_and_check_one_thread.as_secs_f64() * 1e3,
        events.len() as f64 / parse_and_check_one_thread.as_secs_f64(),
        check_only.as_secs_f64() * 1e3,
        events.len() as f64 / check_only.as_secs_f64(),
    );
    Figures {
        events: events.len(),
        parse_and_check,
        parse_and_check_one_thread,
        check_only,
    }
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    let full = std::env::args().any(|argument| argument == "--bench");
    let (small, large) = if full {
        (100_000, 1_000_000)
    } else {
        (1_000, 10_000)
    };
    let small = measure(small);
    let large = measure(large);
    let per_event =
        |figures: &Figures, duration: Duration| duration.as_secs_f64() / figures.events as f64;
    println!(
        "1M/100k time ratio (per-event normalised to exactly 10x the events): parse+check {:.2}x (one thread {:.2}x), check only {:.2}x",
        10.0 * per_event(&large, large.parse_and_check) / per_event(&small, small.parse_and_check),
        10.0 * per_event(&large, large.parse_and_check_one_thread)
            / per_event(&small, small.parse_and_check_one_thread),
        10.0 * per_event(&large, large.check_only) / per_event(&small, small.check_only),
    );
    println!(
        "1M/100k raw time ratio: parse+check {:.2}x, check only {:.2}x",
        large.parse_and_check.as_secs_f64() / small.parse_and_check.as_secs_f64(),
        large.check_only.as_secs_f64() / small.check_only.as_secs_f64(),
    );
}
