//! Runs one bare-madsim baseline seed (what `streamsim bench` compares each scenario's runs against), for
//! profiling it beside a scenario run: `cargo run --release -p sim --example baseline -- NODES WAKEUPS
//! MESSAGES SIM_MS` with a run report's node count, `timer_wakeups`, `network_messages` and `sim_time_ms`
//! (e.g. under `valgrind --tool=callgrind`, to count the instructions of both).

use sim::baseline::{run_baseline, BaselineSpec};
use std::time::Duration;

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .map(|argument| {
            argument
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {argument}"))
        })
        .collect();
    let [nodes, wakeups, messages, sim_ms] = numbers[..] else {
        eprintln!("usage: baseline NODES WAKEUPS MESSAGES SIM_MS");
        std::process::exit(2);
    };
    let spec = BaselineSpec::even(
        nodes as usize,
        wakeups,
        messages,
        Duration::from_millis(sim_ms),
    );
    let outcome = run_baseline(sim::Seed::new(1), &spec);
    println!("messages received: {:?}", outcome.value);
}
