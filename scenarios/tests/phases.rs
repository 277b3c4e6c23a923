//! A run goes setup -> fault phase -> heal -> liveness phase (`scenarios/src/runtime/mod.rs`), and
//! its history and fault log show it: setup creates the topics before any client or fault; the
//! fault phase starts when setup ends and lasts `fault_phase_ms`, its faults firing and being
//! repaired at their scheduled times; the `heal` comes at its end, after every other fault; then
//! every client finishes and closes within `liveness_phase_ms`.

use oracle::event::Op;
use scenarios::report::{RunReport, Verdict};
use scenarios::spec::{Fault, Tail, Target, TimedFault};
use scenarios::RunRequest;

const MS: u64 = 1_000_000;
/// How long the runner waits for one client to close after the liveness phase.
const CLOSE_TIMEOUT_MS: u64 = 10_000;
/// How long a client's node may take to record its start.
const CLIENT_START_MS_MAX: u64 = 100;

fn run(scenario: &str, seed: u64) -> RunReport {
    let report = scenarios::run(&RunRequest::named(scenario, seed)).expect("the seed runs");
    assert_eq!(report.status, "completed", "{scenario} seed {seed}");
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "{scenario} seed {seed}: {:?}",
        report.counts
    );
    report
}

fn is_client(process: &str) -> bool {
    process.starts_with("producer-") || process.starts_with("consumer-")
}

/// The clients the scenario starts: `producer-N`, `consumer-N`, each with its start time.
fn clients(report: &RunReport) -> Vec<(String, u64)> {
    let producers = (report.spec.producers.iter().enumerate())
        .map(|(index, producer)| (format!("producer-{index}"), producer.start_ms));
    let consumers = (report.spec.consumers.iter().enumerate())
        .map(|(index, consumer)| (format!("consumer-{index}"), consumer.start_ms));
    producers.chain(consumers).collect()
}

/// The phases of one run, checked against its scenario.
fn check_phases(report: &RunReport) {
    let spec = &report.spec;
    let run = format!("{} seed {}", report.scenario, report.seed);
    let faults: Vec<(usize, u64, &str)> = (report.history.iter().enumerate())
        .filter_map(|(index, event)| match &event.op {
            Op::Fault { fault, .. } => Some((index, event.time_ns, fault.as_ref())),
            _ => None,
        })
        .collect();

    // The heal: exactly one, after every other fault event.
    let heals = faults
        .iter()
        .filter(|(_, _, fault)| *fault == "heal")
        .count();
    assert_eq!(heals, 1, "{run}: one heal");
    let &(heal_index, heal_ns, last_fault) = faults.last().expect("a heal");
    assert_eq!(
        last_fault, "heal",
        "{run}: the heal is the last fault event"
    );

    // The fault phase ends at the heal and lasts fault_phase_ms: it started when setup ended.
    let start_ns = heal_ns
        .checked_sub(spec.fault_phase_ms * MS)
        .expect("the heal comes fault_phase_ms after the fault phase starts");
    assert!(start_ns > 0, "{run}: setup takes time");

    // Setup: the topics exist before any client runs or any fault fires.
    for topic in &spec.topics {
        let created = report.history.iter().any(|event| {
            event.time_ns <= start_ns
                && matches!(&event.op, Op::Partitions { topic: name, count }
                    if *name == topic.name && *count == topic.partitions)
        });
        assert!(created, "{run}: topic {} created during setup", topic.name);
    }
    for event in &report.history {
        if event.time_ns < start_ns {
            assert!(
                !is_client(&event.process) && !matches!(event.op, Op::Fault { .. }),
                "{run}: {} before the fault phase",
                event.to_json_line()
            );
        }
    }

    // The fault log: every scheduled fault fires at its time, is repaired after `for_ms` when
    // that falls within the fault phase and at the heal otherwise; the heal ends the phase.
    let log = &report.fault_log;
    assert_eq!(
        log.last(),
        Some(&(spec.fault_phase_ms, "heal".to_string())),
        "{run}: the fault log ends with the heal"
    );
    assert!(
        log.windows(2).all(|pair| pair[0].0 <= pair[1].0),
        "{run}: the fault log is in time order: {log:?}"
    );
    // A fault that waits for an event (`when`) fires where the log says it was armed: `fault N
    // armed by EVENT ..., fires in D ms` at t means it fires at t + D (inside the phase).
    let mut fires_at: Vec<Option<u64>> = spec
        .faults
        .iter()
        .map(|fault| fault.when.is_none().then_some(fault.at_ms))
        .collect();
    for (at_ms, what) in log {
        if let Some(rest) = what.strip_prefix("fault ") {
            if let Some((index, armed)) = rest.split_once(" armed by ") {
                let delay: u64 = armed
                    .rsplit_once("fires in ")
                    .and_then(|(_, ms)| ms.strip_suffix(" ms"))
                    .and_then(|ms| ms.parse().ok())
                    .expect("the armed line names its delay");
                let fire = at_ms + delay;
                fires_at[index.parse::<usize>().expect("a fault index")] =
                    (fire < spec.fault_phase_ms).then_some(fire);
            }
        }
    }
    let is_note = |what: &str| {
        what == "heal"
            || what.starts_with("repair of fault ")
            || (what.starts_with("fault ")
                && (what.contains(" armed by ")
                    || what.contains("never fired")
                    || what.contains(" keeps its log of ")
                    || what.contains(" lost its log of ")))
    };
    let mut fired: Vec<u64> = (log.iter())
        .filter(|(_, what)| !is_note(what))
        .map(|(at_ms, _)| *at_ms)
        .collect();
    let mut scheduled: Vec<u64> = fires_at.iter().flatten().copied().collect();
    fired.sort_unstable();
    scheduled.sort_unstable();
    assert_eq!(
        fired, scheduled,
        "{run}: each fault fires at its at_ms (or when its event came)"
    );
    for (at_ms, what) in log {
        let Some(index) = what.strip_prefix("repair of fault ") else {
            continue;
        };
        let index = index.parse::<usize>().expect("a fault index");
        let fault = &spec.faults[index];
        let fired_at = fires_at[index].expect("a repaired fault fired");
        let due = fault
            .for_ms
            .map(|for_ms| fired_at + for_ms)
            .filter(|&due| due < spec.fault_phase_ms)
            .unwrap_or(spec.fault_phase_ms);
        assert_eq!(*at_ms, due, "{run}: {what} ({fault:?})");
    }
    assert!(
        log.len() > 1,
        "{run}: the named scenarios fire faults on seed 1"
    );

    // Every fault event of the history happens at a time of the fault log.
    for &(index, time_ns, fault) in &faults {
        let offset_ns = time_ns - start_ns;
        assert!(
            offset_ns % MS == 0 && log.iter().any(|(at_ms, _)| at_ms * MS == offset_ns),
            "{run}: {fault} at line {} is {offset_ns} ns into the fault phase, at no time of the fault log",
            index + 1
        );
    }

    // Clients start at their start_ms (their nodes take a moment to come up).
    for (client, start_ms) in clients(report) {
        let first = (report.history.iter())
            .find(|event| *event.process == *client && matches!(event.op, Op::Start))
            .unwrap_or_else(|| panic!("{run}: {client} starts"));
        let due_ns = start_ns + start_ms * MS;
        assert!(
            (due_ns..due_ns + CLIENT_START_MS_MAX * MS).contains(&first.time_ns),
            "{run}: {client} starts at {start_ms} ms into the fault phase, not {} ns",
            first.time_ns - start_ns
        );
    }

    // The liveness phase: every client closes after the heal, and the run ends within
    // liveness_phase_ms of the heal (plus the time clients are given to close).
    for (client, _) in clients(report) {
        let closed = report.history[heal_index..]
            .iter()
            .any(|event| *event.process == *client && matches!(event.op, Op::Close));
        assert!(closed, "{run}: {client} closes in the liveness phase");
    }
    let last_ns = report.history.last().map_or(0, |event| event.time_ns);
    let clients_count = clients(report).len() as u64;
    assert!(
        last_ns <= heal_ns + (spec.liveness_phase_ms + clients_count * CLOSE_TIMEOUT_MS) * MS,
        "{run}: the liveness phase is bounded"
    );
    assert!(
        // sim_time_ms is the run's simulated time in whole milliseconds, rounded down.
        (report.sim_time_ms + 1) * MS > last_ns && last_ns > heal_ns,
        "{run}: the run covers the fault phase and the liveness phase"
    );
}

#[test]
fn every_named_scenario_goes_setup_fault_phase_heal_liveness_phase() {
    for name in scenarios::named::names() {
        check_phases(&run(name, 1));
    }
}

/// A fault repaired within the fault phase, one whose repair would fall after it (repaired at
/// the heal), and a fault whose target is not there yet (skipped, and logged at its time).
#[test]
fn repairs_and_skips_follow_the_phases_of_a_hand_made_schedule() {
    let mut scenario = RunRequest::named("smoke", 1)
        .scenario()
        .expect("smoke builds");
    scenario.fault_phase_ms = 6_000;
    scenario.liveness_phase_ms = 20_000;
    let fault = |at_ms, for_ms, fault| TimedFault {
        at_ms,
        for_ms,
        when: None,
        on: None,
        within_ms: None,
        fault,
    };
    scenario.faults = vec![
        fault(
            1_000,
            Some(2_000),
            Fault::Pause {
                target: Target::Broker(1),
            },
        ),
        fault(
            2_000,
            Some(60_000),
            Fault::Crash {
                target: Target::Broker(2),
                tail: Tail::Torn,
            },
        ),
        fault(
            2_500,
            None,
            Fault::Close {
                target: Target::Consumer(0),
            },
        ),
    ];
    scenario.consumers[0].start_ms = 4_000;
    let report =
        scenarios::run(&RunRequest::fixed(scenario, "phases.toml", 1)).expect("the scenario runs");
    assert_eq!(report.verdict, Verdict::Pass, "{:?}", report.counts);
    check_phases(&report);
    let log: Vec<(u64, &str)> = (report.fault_log.iter())
        .map(|(at_ms, what)| (*at_ms, what.as_str()))
        .collect();
    assert_eq!(
        log,
        vec![
            (1_000, "pause: pause broker-1"),
            (2_000, "crash: crash broker-2"),
            (2_500, "close: skipped (consumer-0 not available)"),
            (3_000, "repair of fault 0"),
            (6_000, "repair of fault 1"),
            (6_000, "heal"),
        ]
    );
}
