//! Coverage marks (`scenarios::coverage`): each named scenario reaches its defining marks on a
//! seed known to reach them, and the marks the history shows are counted from a history written
//! by hand in the format of `docs/history-format.md`.

use oracle::reader::parse_line;
use oracle::Event;
use scenarios::coverage::{self, Coverage};
use scenarios::RunRequest;

/// Marks counted from the history; the others come from the cluster's observations.
const HISTORY_MARKS: &[&str] = &[
    coverage::EPOCH_BUMPED,
    coverage::EVICTED_BELOW_CONSUMER,
    coverage::CONSUMER_RESTARTED,
    coverage::REDIRECTED_TO_LEADER,
    coverage::PARTITIONS_GREW_UNDER_PRODUCER,
];

fn history(lines: &str) -> Vec<Event<'static>> {
    (lines.lines().enumerate())
        .filter_map(|(index, line)| {
            parse_line(line, index as u64 + 1)
                .unwrap_or_else(|error| panic!("line {}: {error}", index + 1))
        })
        .collect()
}

fn marks(events: &[Event<'_>]) -> Coverage {
    let mut coverage = coverage::empty();
    coverage::from_history(&mut coverage, events);
    coverage
}

/// The marks reached (count > 0), with their counts.
fn reached(coverage: &Coverage) -> Vec<(&str, u64)> {
    (coverage.iter())
        .filter(|(_, count)| **count > 0)
        .map(|(mark, count)| (mark.as_str(), *count))
        .collect()
}

#[test]
fn every_named_scenario_reaches_its_defining_marks_on_seed_1() {
    for named in scenarios::named::NAMED {
        for mark in named.defining_marks {
            assert!(coverage::ALL_MARKS.contains(mark), "{}: {mark}", named.name);
        }
        if named.defining_marks.is_empty() {
            continue; // swarm: whatever the seed draws
        }
        let report = scenarios::run(&RunRequest::named(named.name, 1)).expect("the seed runs");
        let all: Vec<&str> = report.coverage.keys().map(String::as_str).collect();
        let mut expected = coverage::ALL_MARKS.to_vec();
        expected.sort_unstable();
        assert_eq!(all, expected, "{}: a count for every mark", named.name);
        for mark in named.defining_marks {
            assert!(
                report.coverage[*mark] > 0,
                "{} seed 1 does not reach {mark}: {:?}",
                named.name,
                reached(&report.coverage)
            );
        }
        // The history's marks are what the history shows: the history file gives them again.
        let again = marks(&report.history);
        for mark in HISTORY_MARKS {
            assert_eq!(
                again[*mark], report.coverage[*mark],
                "{}: {mark}",
                named.name
            );
        }
    }
}

#[test]
fn the_history_shows_bumped_epochs_evictions_restarts_redirects_and_growth() {
    let events = history(
        r#"{"time":0,"process":"cluster","type":"ok","f":"partitions","topic":"orders","count":1}
{"time":10,"process":"producer-0","type":"ok","f":"start"}
{"time":11,"process":"producer-0","type":"ok","f":"init_pid","pid":7,"epoch":0}
{"time":20,"process":"producer-0","type":"invoke","f":"send","topic":"orders","key":null,"value":"producer-0-0"}
{"time":30,"process":"cluster","type":"ok","f":"partitions","topic":"orders","count":2}
{"time":40,"process":"consumer-0","type":"ok","f":"start"}
{"time":41,"process":"consumer-0","type":"fail","f":"request","api":"fetch","topic":"orders","partition":0,"offset":5,"broker":2,"error":"offset_out_of_range","progress":false}
{"time":42,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"orders","partition":0,"offset":5,"broker":1,"error":null,"progress":true}
{"time":43,"process":"consumer-0","type":"fail","f":"request","api":"fetch","topic":"orders","partition":1,"offset":5,"broker":1,"error":"offset_out_of_range","progress":false}
{"time":44,"process":"consumer-0","type":"ok","f":"request","api":"fetch","topic":"orders","partition":1,"offset":5,"broker":1,"error":null,"progress":true}
{"time":45,"process":"consumer-0","type":"fail","f":"poll","topic":"orders","partition":0,"offset":0,"error":"offset_evicted","next_available":3}
{"time":46,"process":"consumer-0","type":"ok","f":"reset","topic":"orders","partition":0,"from":0,"to":3,"reason":"offset_evicted"}
{"time":47,"process":"consumer-0","type":"ok","f":"reset","topic":"orders","partition":1,"from":9,"to":5,"reason":"out_of_range"}
{"time":50,"process":"producer-0","type":"ok","f":"init_pid","pid":7,"epoch":1}
{"time":60,"process":"producer-0","type":"invoke","f":"send","topic":"orders","key":null,"value":"producer-0-1"}
{"time":70,"process":"cluster","type":"ok","f":"partitions","topic":"orders","count":3}
{"time":80,"process":"consumer-0","type":"info","f":"crash"}
{"time":90,"process":"consumer-0","type":"ok","f":"start"}
{"time":95,"process":"producer-0","type":"ok","f":"start"}
"#,
    );
    assert_eq!(
        reached(&marks(&events)),
        vec![
            // consumer-0 started again (producer-0's restart is not a consumer's)
            (coverage::CONSUMER_RESTARTED, 1),
            // epoch 1 (epoch 0 is the first id, not a bump)
            (coverage::EPOCH_BUMPED, 1),
            // the failed poll and the reset (a reset for another reason is not an eviction)
            (coverage::EVICTED_BELOW_CONSUMER, 2),
            // 1 -> 2 between producer-0's first and last send (2 -> 3 came after them)
            (coverage::PARTITIONS_GREW_UNDER_PRODUCER, 1),
            // out of range at broker 2, then broker 1 (asking broker 1 again is no redirect)
            (coverage::REDIRECTED_TO_LEADER, 1),
        ]
    );
    // Marks add up over histories; an empty history adds nothing.
    let mut twice = marks(&events);
    coverage::from_history(&mut twice, &events);
    assert_eq!(twice[coverage::EVICTED_BELOW_CONSUMER], 4);
    assert_eq!(marks(&[]), coverage::empty());
    assert!(reached(&coverage::empty()).is_empty());
}
