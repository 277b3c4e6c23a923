//! Histories of the correct model (`oracle::gen`: retention, crashes, restarts, closes, partition growth, a heal)
//! are valid; each single mutation of one is caught as the anomaly it introduces.

use std::collections::{BTreeMap, BTreeSet};

use oracle::event::{CommitPhase, Event, Op, Record};
use oracle::gen::{generate, to_jsonl, GenConfig};
use oracle::{check_events, AnomalyKind, CheckResult};
use proptest::prelude::*;

fn history(seed: u64, events_min: usize) -> Vec<Event<'static>> {
    generate(&GenConfig::new(seed, events_min))
}

#[track_caller]
fn kinds_and_counts(result: &CheckResult) -> BTreeMap<AnomalyKind, u64> {
    result
        .kinds()
        .into_iter()
        .map(|kind| (kind, result.count(kind)))
        .collect()
}

/// (partition, offset) of every acknowledged value; the highest offset read and the highest authoritative log
/// start per partition; how many poll events delivered each value.
struct Facts {
    acknowledged: BTreeMap<String, (u32, u64)>,
    highest_read: BTreeMap<u32, u64>,
    highest_log_start: BTreeMap<u32, u64>,
    highest_known: BTreeMap<u32, u64>,
    deliveries: BTreeMap<String, usize>,
    failed: Vec<String>,
}

fn facts(events: &[Event]) -> Facts {
    let mut facts = Facts {
        acknowledged: BTreeMap::new(),
        highest_read: BTreeMap::new(),
        highest_log_start: BTreeMap::new(),
        highest_known: BTreeMap::new(),
        deliveries: BTreeMap::new(),
        failed: Vec::new(),
    };
    for event in events {
        match &event.op {
            Op::SendOk {
                value,
                partition,
                offset,
                ..
            } => {
                facts
                    .acknowledged
                    .insert(value.to_string(), (*partition, *offset));
                let known = facts.highest_known.entry(*partition).or_default();
                *known = (*known).max(*offset);
            }
            Op::SendFail { value, .. } => facts.failed.push(value.to_string()),
            Op::PollOk { records } => {
                for record in records.iter() {
                    let read = facts.highest_read.entry(record.partition).or_default();
                    *read = (*read).max(record.offset);
                    let known = facts.highest_known.entry(record.partition).or_default();
                    *known = (*known).max(record.offset);
                    *facts
                        .deliveries
                        .entry(record.value.to_string())
                        .or_default() += 1;
                }
            }
            Op::LogStart {
                partition,
                offset,
                broker: None,
                ..
            } => {
                let log_start = facts.highest_log_start.entry(*partition).or_default();
                *log_start = (*log_start).max(*offset);
            }
            _ => {}
        }
    }
    facts
}

/// A fresh consumer reads `value` at a new offset of `partition` at the very end of the history.
fn read_at_the_end(
    events: &mut Vec<Event<'static>>,
    topic: &str,
    partition: u32,
    offset: u64,
    value: &str,
) {
    let time_ns = events.last().map_or(0, |event| event.time_ns);
    events.push(Event::poll_ok(
        time_ns,
        "consumer-mutant",
        vec![Record::new(
            topic.to_string(),
            partition,
            offset,
            value.to_string(),
        )],
    ));
}

fn topic_of(events: &[Event<'_>]) -> String {
    events
        .iter()
        .find_map(|event| match &event.op {
            Op::SendOk { topic, .. } => Some(topic.to_string()),
            _ => None,
        })
        .expect("the model acknowledges sends")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn histories_of_the_correct_model_are_valid(seed in any::<u64>(), events_min in 50..4000usize) {
        let events = history(seed, events_min);
        prop_assert!(events.len() >= events_min);
        let result = check_events(&events);
        prop_assert!(result.valid, "seed {seed}, {events_min} events:\n{}", result.render_text());
        // Reading the JSON Lines text gives the same verdict.
        let read = oracle::check_reader(to_jsonl(&events).as_bytes()).unwrap();
        prop_assert_eq!(read, result);
    }

    #[test]
    fn dropping_every_read_of_a_record_below_a_read_offset_is_a_lost_write(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 1500);
        let facts = facts(&events);
        // A record no log start ever passed, below the highest offset read in its partition.
        let candidates: Vec<(&String, &(u32, u64))> = facts
            .acknowledged
            .iter()
            .filter(|(_, &(partition, offset))| {
                offset >= facts.highest_log_start.get(&partition).copied().unwrap_or(0)
                    && facts.highest_read.get(&partition).is_some_and(|&read| read > offset)
            })
            .collect();
        prop_assume!(!candidates.is_empty());
        let (value, _) = candidates[pick.index(candidates.len())];
        let value = value.clone();
        for event in &mut events {
            if let Op::PollOk { records } = &mut event.op {
                records.to_mut().retain(|record| *record.value != *value);
            }
        }
        let result = check_events(&events);
        let found = kinds_and_counts(&result);
        prop_assert_eq!(found.get(&AnomalyKind::LostWrite), Some(&1), "{}", result.render_text());
        // The consumers that read around it now skip it.
        prop_assert!(found.keys().all(|kind| matches!(kind, AnomalyKind::LostWrite | AnomalyKind::PollSkip)), "{}", result.render_text());
    }

    #[test]
    fn a_value_at_a_second_offset_is_a_duplicate(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 800);
        let facts = facts(&events);
        let acknowledged: Vec<(&String, &(u32, u64))> = facts.acknowledged.iter().collect();
        let (value, &(partition, _)) = acknowledged[pick.index(acknowledged.len())];
        let beyond = facts.highest_known[&partition] + 1;
        let topic = topic_of(&events);
        read_at_the_end(&mut events, &topic, partition, beyond, &value.clone());
        let result = check_events(&events);
        prop_assert_eq!(kinds_and_counts(&result), BTreeMap::from([(AnomalyKind::Duplicate, 1)]), "{}", result.render_text());
    }

    #[test]
    fn swapping_the_values_of_two_offsets_is_inconsistent(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 800);
        let facts = facts(&events);
        // A poll with two records of acknowledged values.
        let polls: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, event)| match &event.op {
                Op::PollOk { records } => {
                    records.len() >= 2 && records[..2].iter().all(|record| facts.acknowledged.contains_key(&*record.value))
                }
                _ => false,
            })
            .map(|(index, _)| index)
            .collect();
        prop_assume!(!polls.is_empty());
        let index = polls[pick.index(polls.len())];
        if let Op::PollOk { records } = &mut events[index].op {
            let records = records.to_mut();
            let first = records[0].value.clone();
            records[0].value = std::mem::replace(&mut records[1].value, first);
        }
        let result = check_events(&events);
        prop_assert_eq!(
            kinds_and_counts(&result),
            BTreeMap::from([(AnomalyKind::Duplicate, 2), (AnomalyKind::InconsistentOffsets, 2)]),
            "{}",
            result.render_text()
        );
    }

    #[test]
    fn reading_a_failed_send_is_g1a(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 1500);
        let facts = facts(&events);
        prop_assume!(!facts.failed.is_empty());
        let value = facts.failed[pick.index(facts.failed.len())].clone();
        let beyond = facts.highest_known.get(&0).map_or(0, |&known| known + 1);
        let topic = topic_of(&events);
        read_at_the_end(&mut events, &topic, 0, beyond, &value);
        let result = check_events(&events);
        prop_assert_eq!(kinds_and_counts(&result), BTreeMap::from([(AnomalyKind::G1a, 1)]), "{}", result.render_text());
    }

    #[test]
    fn skipping_a_record_inside_a_poll_is_a_poll_skip(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 1500);
        let facts = facts(&events);
        // A record in the middle of a poll (same partition around it) that some other poll delivered too.
        let mut candidates = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if let Op::PollOk { records } = &event.op {
                for middle in 1..records.len().saturating_sub(1) {
                    let (before, record, after) = (&records[middle - 1], &records[middle], &records[middle + 1]);
                    let same_partition = before.partition == record.partition && record.partition == after.partition;
                    if same_partition && facts.deliveries[&*record.value] >= 2 {
                        candidates.push((index, middle));
                    }
                }
            }
        }
        prop_assume!(!candidates.is_empty());
        let (index, middle) = candidates[pick.index(candidates.len())];
        if let Op::PollOk { records } = &mut events[index].op {
            records.to_mut().remove(middle);
        }
        let result = check_events(&events);
        prop_assert_eq!(kinds_and_counts(&result), BTreeMap::from([(AnomalyKind::PollSkip, 1)]), "{}", result.render_text());
    }

    #[test]
    fn a_first_answer_whose_high_watermark_is_its_fetch_offset_is_a_read_above_it(seed in any::<u64>(), pick in any::<prop::sample::Index>()) {
        let mut events = history(seed, 800);
        // The first fetch answer with progress of each (consumer, partition): no earlier answer of that
        // consumer carried a higher high watermark.
        let mut seen = BTreeSet::new();
        let mut firsts = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if let Op::Request(request) = &event.op {
                if request.progress && request.high_watermark.is_some() && seen.insert((event.process.to_string(), request.partition)) {
                    firsts.push(index);
                }
            }
        }
        prop_assume!(!firsts.is_empty());
        let index = firsts[pick.index(firsts.len())];
        let process = events[index].process.to_string();
        let (partition, offset) = match &mut events[index].op {
            Op::Request(request) => {
                request.high_watermark = Some(request.offset);
                (request.partition, request.offset)
            }
            _ => unreachable!(),
        };
        // The model's poll right after the answer delivers what it brought, from its fetch offset on.
        let brought = match &events[index + 1].op {
            Op::PollOk { records } if events[index + 1].process == process => records
                .iter()
                .filter(|record| record.partition == partition && record.offset >= offset)
                .count() as u64,
            _ => 0,
        };
        prop_assume!(brought > 0);
        let result = check_events(&events);
        prop_assert_eq!(
            kinds_and_counts(&result),
            BTreeMap::from([(AnomalyKind::ReadAboveHighWatermark, brought)]),
            "{}",
            result.render_text()
        );
    }
}

/// The generator exercises what the checkers care about, so "valid" above means something.
#[test]
fn the_model_exercises_retention_crashes_restarts_growth_and_the_heal() {
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut evicted = 0;
    for seed in 0..8 {
        let events = history(seed, 5000);
        let result = check_events(&events);
        assert!(result.valid, "seed {seed}:\n{}", result.render_text());
        evicted += result.stats.evicted;
        for event in &events {
            let name = match &event.op {
                Op::LogStart { broker: None, .. } => "authoritative log_start",
                Op::LogStart {
                    broker: Some(_), ..
                } => "follower log_start",
                Op::Crash => "crash",
                Op::Close => "close",
                Op::Start => "start",
                Op::Assign { .. } => "assign",
                Op::Reset { .. } => "reset",
                Op::PollFail { .. } => "poll fail",
                Op::Commit {
                    phase: CommitPhase::Ok,
                    ..
                } => "commit ok",
                Op::SendFail { .. } => "send fail",
                Op::SendInfo { .. } => "send info",
                Op::Partitions { .. } => "partitions",
                Op::Fault { fault, .. } if fault == "heal" => "heal",
                Op::Request(request) if request.error.is_some() => "request fail",
                Op::Request(request) if !request.progress => "request without progress",
                Op::SendInvoke { key: None, .. } => "keyless send",
                Op::SendInvoke { key: Some(_), .. } => "keyed send",
                _ => continue,
            };
            seen.insert(name);
        }
    }
    assert_eq!(seen.len(), 17, "{seen:?}");
    assert!(evicted > 0, "retention must evict some never-read records");
}
