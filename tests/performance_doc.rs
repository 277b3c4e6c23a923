//! docs/performance.md shows `streamsim bench` output; this keeps the newest figures' block from
//! drifting from what the command prints. The numbers depend on the machine, so lines are compared
//! by their shape: every number is replaced by `N` and runs of spaces by one. `streamsim bench
//! --scenario smoke --seeds 1` must print only lines whose shapes the block shows, and every line of
//! the block that is not about another scenario must be among them.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `line` with each number (`12`, `0.34`, `-6`) replaced by `N` and whitespace runs by one space.
fn shape(line: &str) -> String {
    let mut shaped = String::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        let negative = c == '-' && chars.peek().is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit() || negative {
            while chars
                .peek()
                .is_some_and(|&next| next.is_ascii_digit() || next == '.')
            {
                chars.next();
            }
            shaped.push('N');
        } else if c.is_whitespace() {
            while chars.peek().is_some_and(|next| next.is_whitespace()) {
                chars.next();
            }
            shaped.push(' ');
        } else {
            shaped.push(c);
        }
    }
    shaped
}

/// The first fenced block after `## Figures`: the newest run's output.
fn newest_figures(doc: &str) -> Vec<String> {
    let figures = doc
        .split_once("\n## Figures\n")
        .expect("docs/performance.md has a Figures section")
        .1;
    let block = figures
        .split_once("\n```\n")
        .expect("the Figures section shows a run's output")
        .1;
    let block = block.split_once("\n```").expect("the block ends").0;
    block.lines().map(str::to_string).collect()
}

/// Whether a shown line is about a scenario other than `smoke` (a row of the table or of the
/// state checker's shares), which a run of `smoke` alone does not print.
fn about_another_scenario(shaped: &str) -> bool {
    scenarios::named::names()
        .into_iter()
        .filter(|&name| name != "smoke")
        .any(|name| {
            shaped.starts_with(&format!("{name} "))
                || shaped.starts_with(&format!("state checker: {name} "))
        })
}

#[test]
fn the_newest_bench_figures_have_the_shape_bench_prints() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/performance.md"))
            .expect("docs/performance.md");
    let shown: BTreeSet<String> = newest_figures(&doc).iter().map(|l| shape(l)).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_streamsim"))
        .args(["bench", "--scenario", "smoke", "--seeds", "1"])
        .env_remove("RUST_LOG")
        .output()
        .expect("run streamsim bench");
    assert!(output.status.success(), "{output:?}");
    let printed: BTreeSet<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(shape)
        .collect();
    let not_shown: Vec<&String> = printed.difference(&shown).collect();
    let not_printed: Vec<&String> = shown
        .difference(&printed)
        .filter(|shaped| !about_another_scenario(shaped))
        .collect();
    assert!(
        not_shown.is_empty() && not_printed.is_empty(),
        "docs/performance.md's newest figures drifted from `streamsim bench`:\nprinted, not shown: \
         {not_shown:#?}\nshown, not printed: {not_printed:#?}"
    );
}

#[test]
fn shapes_ignore_numbers_and_spacing() {
    assert_eq!(
        shape("smoke   95.2  186.4  1.96x   -6% of 1286"),
        "smoke N N Nx N% of N"
    );
    assert_eq!(
        shape("state checker: pid-loss  11.8"),
        "state checker: pid-loss N"
    );
    assert!(about_another_scenario(&shape("pid-loss  19.3  37.2")));
    assert!(!about_another_scenario(&shape("smoke  19.3  37.2")));
    assert_ne!(shape("checker: 100 events"), shape("checker: 100 lines"));
}
