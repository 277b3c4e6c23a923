//! The timeline behind the HTML report's SVG: what happened to each partition over simulated time,
//! read from the history (HISTORY.md) and the run's high-watermark samples.
//!
//! Per partition (a *lane*): the producers' acknowledgements (`send` ok: time, offset), each
//! consumer's deliveries (`poll` ok records: time, offset; one series per consumer process, broken
//! at its restarts and at `assign`/`reset` of the partition), the authoritative log start
//! (`log_start` without `broker`) and the replicas' own (with `broker`), the high watermark, leader
//! changes, and the anomalies' proving
//! events that name the partition. Across all lanes: the faults (`fault` events, each paired with
//! its repair where the history shows one), the heals, and every proving event's time.
//!
//! Lines that do not parse are counted and left out. Nothing here panics on odd input: times may
//! go backwards, offsets may be anything, a history may be empty.

use oracle::{Event, FaultKind, Op};
use scenarios::report::RunReport;
use std::collections::{BTreeMap, BTreeSet};

/// Most lanes drawn: a history naming more partitions than this is drawn in part, saying so.
pub(crate) const LANES_MAX: usize = 128;
/// Most partitions one `partitions` event or scenario topic may add lanes for.
const PARTITIONS_PER_TOPIC_MAX: u32 = LANES_MAX as u32;

/// (topic, partition)
pub(crate) type LaneKey = (String, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Point {
    pub time_ns: u64,
    pub offset: u64,
}

/// The deliveries of one consumer process in one partition.
#[derive(Debug, Default)]
pub(crate) struct ConsumerSeries {
    /// Runs of deliveries without a restart, `assign` or `reset` in between.
    pub segments: Vec<Vec<Point>>,
    /// The next delivery starts a new segment.
    broken: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeaderChange {
    pub time_ns: u64,
    pub broker: u32,
    pub epoch: i32,
    pub line: u64,
}

/// A proving event located in a lane: at an offset or over a range of offsets (a poll's records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LaneMark {
    pub line: u64,
    pub time_ns: u64,
    pub offset_low: u64,
    pub offset_high: u64,
    /// Indices in `report.anomalies` of the anomalies this line proves.
    pub anomalies: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Lane {
    pub acks: Vec<Point>,
    /// By consumer process name.
    pub consumers: BTreeMap<String, ConsumerSeries>,
    pub log_start: Vec<Point>,
    /// Log starts that replicas reported (`log_start` with `broker`), by broker.
    pub replica_log_starts: BTreeMap<u32, Vec<Point>>,
    pub high_watermark: Vec<Point>,
    pub leaders: Vec<LeaderChange>,
    pub marks: Vec<LaneMark>,
}

impl Lane {
    /// The highest offset anything in the lane shows (0 for an empty lane).
    pub fn offset_max(&self) -> u64 {
        let points = self
            .acks
            .iter()
            .chain(self.log_start.iter())
            .chain(self.replica_log_starts.values().flatten())
            .chain(self.high_watermark.iter())
            .chain(
                self.consumers
                    .values()
                    .flat_map(|series| series.segments.iter().flatten()),
            )
            .map(|point| point.offset);
        let marks = self.marks.iter().map(|mark| mark.offset_high);
        points.chain(marks).max().unwrap_or(0)
    }
}

/// A fault as a bar over time (or an instant, for faults without a repair such as `retention`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultSpan {
    pub kind: String,
    pub target: Option<String>,
    pub start_ns: u64,
    /// The repair's time; for an instant, the start; for a fault never repaired, the end.
    pub end_ns: u64,
    /// The repairing event's `fault` (`restart`, `resume`, `unpartition`, ..., or `heal`).
    pub repaired_by: Option<String>,
    /// Drawn as a point in time, not a bar.
    pub instant: bool,
    /// History line of the fault.
    pub line: u64,
}

impl FaultSpan {
    pub fn label(&self) -> String {
        match &self.target {
            Some(target) => format!("{} {target}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// A proving history line, located in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProofMark {
    pub line: u64,
    pub time_ns: u64,
    pub anomalies: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// The time axis runs from 0 to this (at least 1 ns).
    pub end_ns: u64,
    pub lanes: BTreeMap<LaneKey, Lane>,
    /// Partitions named by the history but not drawn (beyond [`LANES_MAX`]).
    pub lanes_left_out: BTreeSet<LaneKey>,
    /// Consumer processes with deliveries, by name (their colours follow this order).
    pub consumers: BTreeSet<String>,
    pub faults: Vec<FaultSpan>,
    /// Times of `heal` faults.
    pub heals_ns: Vec<u64>,
    pub proofs: Vec<ProofMark>,
}

/// How a fault kind of the history is repaired: the repairing `fault` name, and whether the repair
/// names the same target. `None`: the fault is an instant (or a kind streamsim does not inject).
fn repair_of(kind: &str) -> Option<(&'static str, bool)> {
    let (repair, same_target) = FaultKind::from_name(kind)?.repair()?;
    Some((repair.as_str(), same_target))
}

/// Is this `fault` event a repair of a network-wide setting (`loss 0`, `latency default`)?
fn is_setting_reset(kind: &str, target: Option<&str>) -> bool {
    FaultKind::from_name(kind)
        .and_then(FaultKind::setting_reset_target)
        .is_some_and(|reset| target == Some(reset))
}

/// Is this `fault` kind a network-wide setting (a new one ends the previous one)?
fn is_setting(kind: &str) -> bool {
    FaultKind::from_name(kind).is_some_and(|kind| kind.setting_reset_target().is_some())
}

struct Builder {
    timeline: Timeline,
    /// Proving lines and the anomalies they prove.
    proving: BTreeMap<u64, Vec<usize>>,
    /// The lanes each consumer process delivered from (to break its series at a restart).
    lanes_of_process: BTreeMap<String, BTreeSet<LaneKey>>,
    /// Faults not yet repaired: indices into `timeline.faults`.
    open_faults: Vec<usize>,
}

impl Timeline {
    pub fn build(report: &RunReport) -> Timeline {
        let mut proving: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (index, anomaly) in report.anomalies.iter().enumerate() {
            for &line in &anomaly.events {
                let anomalies = proving.entry(line).or_default();
                if !anomalies.contains(&index) {
                    anomalies.push(index);
                }
            }
        }
        let mut builder = Builder {
            timeline: Timeline::default(),
            proving,
            lanes_of_process: BTreeMap::new(),
            open_faults: Vec::new(),
        };
        for topic in &report.spec.topics {
            for partition in 0..topic.partitions.min(PARTITIONS_PER_TOPIC_MAX) {
                builder.lane(&topic.name, partition);
            }
        }
        let mut time_max_ns: u64 = 0;
        for (index, event) in report.history.iter().enumerate() {
            let line = index as u64 + 1;
            time_max_ns = time_max_ns.max(event.time_ns);
            builder.observe(line, event);
        }
        for sample in &report.high_watermarks {
            time_max_ns = time_max_ns.max(sample.time_ns);
            if let Some(lane) = builder.lane(&sample.topic, sample.partition) {
                lane.high_watermark.push(Point {
                    time_ns: sample.time_ns,
                    offset: sample.offset,
                });
            }
        }
        let end_ns = report
            .sim_time_ms
            .saturating_mul(1_000_000)
            .max(time_max_ns)
            .max(1);
        builder.finish(end_ns)
    }
}

impl Builder {
    /// The lane of a partition, created if there is room.
    fn lane(&mut self, topic: &str, partition: u32) -> Option<&mut Lane> {
        let key = (topic.to_string(), partition);
        let lanes = &mut self.timeline.lanes;
        if !lanes.contains_key(&key) {
            if lanes.len() >= LANES_MAX {
                if self.timeline.lanes_left_out.len() < LANES_MAX * 64 {
                    self.timeline.lanes_left_out.insert(key);
                }
                return None;
            }
            lanes.insert(key.clone(), Lane::default());
        }
        lanes.get_mut(&key)
    }

    fn mark(&mut self, line: u64, time_ns: u64, topic: &str, partition: u32, low: u64, high: u64) {
        let Some(anomalies) = self.proving.get(&line).cloned() else {
            return;
        };
        if let Some(lane) = self.lane(topic, partition) {
            lane.marks.push(LaneMark {
                line,
                time_ns,
                offset_low: low.min(high),
                offset_high: low.max(high),
                anomalies,
            });
        }
    }

    fn observe(&mut self, line: u64, event: &Event) {
        let time_ns = event.time_ns;
        if let Some(anomalies) = self.proving.get(&line) {
            self.timeline.proofs.push(ProofMark {
                line,
                time_ns,
                anomalies: anomalies.clone(),
            });
        }
        match &event.op {
            Op::SendOk {
                topic,
                partition,
                offset,
                ..
            } => {
                if let Some(lane) = self.lane(topic, *partition) {
                    lane.acks.push(Point {
                        time_ns,
                        offset: *offset,
                    });
                }
                self.mark(line, time_ns, topic, *partition, *offset, *offset);
            }
            Op::PollOk { records } => {
                // Per partition, in delivery order: the first and the last offset delivered.
                let mut delivered: BTreeMap<(&str, u32), (u64, u64, u64, u64)> = BTreeMap::new();
                for record in records.iter() {
                    let entry = delivered
                        .entry((&*record.topic, record.partition))
                        .or_insert((record.offset, record.offset, record.offset, record.offset));
                    entry.1 = record.offset;
                    entry.2 = entry.2.min(record.offset);
                    entry.3 = entry.3.max(record.offset);
                }
                for ((topic, partition), (first, last, low, high)) in delivered {
                    self.deliver(&event.process, topic, partition, time_ns, first, last);
                    self.mark(line, time_ns, topic, partition, low, high);
                }
            }
            Op::PollFail {
                topic,
                partition,
                offset,
                ..
            }
            | Op::Commit {
                topic,
                partition,
                offset,
                ..
            } => self.mark(line, time_ns, topic, *partition, *offset, *offset),
            Op::Request(request) => self.mark(
                line,
                time_ns,
                &request.topic,
                request.partition,
                request.offset,
                request.offset,
            ),
            Op::Assign { partitions } => {
                for assigned in partitions.iter() {
                    self.break_series(&event.process, &assigned.topic, assigned.partition);
                    self.mark(
                        line,
                        time_ns,
                        &assigned.topic,
                        assigned.partition,
                        assigned.offset,
                        assigned.offset,
                    );
                }
            }
            Op::Reset {
                topic,
                partition,
                from,
                to,
                ..
            } => {
                self.break_series(&event.process, topic, *partition);
                self.mark(line, time_ns, topic, *partition, *from, *to);
            }
            Op::Start | Op::Crash | Op::Close => {
                let lanes = self
                    .lanes_of_process
                    .get(&*event.process)
                    .cloned()
                    .unwrap_or_default();
                for (topic, partition) in lanes {
                    self.break_series(&event.process, &topic, partition);
                }
            }
            Op::LogStart {
                topic,
                partition,
                offset,
                broker,
            } => {
                if let Some(lane) = self.lane(topic, *partition) {
                    let point = Point {
                        time_ns,
                        offset: *offset,
                    };
                    match broker {
                        None => lane.log_start.push(point),
                        Some(broker) => lane
                            .replica_log_starts
                            .entry(*broker)
                            .or_default()
                            .push(point),
                    }
                }
                self.mark(line, time_ns, topic, *partition, *offset, *offset);
            }
            Op::Partitions { topic, count } => {
                for partition in 0..(*count).min(PARTITIONS_PER_TOPIC_MAX) {
                    self.lane(topic, partition);
                }
            }
            Op::Leader {
                topic,
                partition,
                broker,
                epoch,
            } => {
                if let Some(lane) = self.lane(topic, *partition) {
                    lane.leaders.push(LeaderChange {
                        time_ns,
                        broker: *broker,
                        epoch: *epoch,
                        line,
                    });
                }
            }
            Op::Fault { fault, target } => self.fault(line, time_ns, fault, target.as_deref()),
            Op::SendInvoke { .. }
            | Op::SendFail { .. }
            | Op::SendInfo { .. }
            | Op::InitPid { .. }
            | Op::Offline { .. }
            | Op::DataLoss { .. }
            | Op::Fatal { .. }
            // Group events name partitions but no offsets: the proofs above place them in time.
            | Op::Join { .. }
            | Op::Assignment { .. }
            | Op::Revoke { .. }
            | Op::Leave { .. }
            | Op::OffsetsExpired { .. }
            | Op::Ignored { .. } => {}
        }
    }

    fn deliver(
        &mut self,
        process: &str,
        topic: &str,
        partition: u32,
        time_ns: u64,
        first: u64,
        last: u64,
    ) {
        let Some(lane) = self.lane(topic, partition) else {
            return;
        };
        let series = lane.consumers.entry(process.to_string()).or_default();
        if series.broken || series.segments.is_empty() {
            series.segments.push(Vec::new());
            series.broken = false;
        }
        let segment = series
            .segments
            .last_mut()
            .expect("a segment was just ensured");
        segment.push(Point {
            time_ns,
            offset: first,
        });
        if last != first {
            segment.push(Point {
                time_ns,
                offset: last,
            });
        }
        self.timeline.consumers.insert(process.to_string());
        self.lanes_of_process
            .entry(process.to_string())
            .or_default()
            .insert((topic.to_string(), partition));
    }

    fn break_series(&mut self, process: &str, topic: &str, partition: u32) {
        let key = (topic.to_string(), partition);
        if let Some(series) = self
            .timeline
            .lanes
            .get_mut(&key)
            .and_then(|lane| lane.consumers.get_mut(process))
        {
            series.broken = true;
        }
    }

    fn fault(&mut self, line: u64, time_ns: u64, kind: &str, target: Option<&str>) {
        if kind == FaultKind::Heal.as_str() {
            self.timeline.heals_ns.push(time_ns);
            for index in std::mem::take(&mut self.open_faults) {
                let span = &mut self.timeline.faults[index];
                span.end_ns = time_ns.max(span.start_ns);
                span.repaired_by = Some("heal".to_string());
            }
            return;
        }
        // A repair closes the oldest open fault it matches.
        let repaired = self.open_faults.iter().position(|&index| {
            let span = &self.timeline.faults[index];
            match repair_of(&span.kind) {
                Some((repair, same_target)) => {
                    repair == kind && (!same_target || span.target.as_deref() == target)
                }
                None => false,
            }
        });
        if let Some(position) = repaired {
            let index = self.open_faults.remove(position);
            let span = &mut self.timeline.faults[index];
            span.end_ns = time_ns.max(span.start_ns);
            span.repaired_by = Some(kind.to_string());
            let new_setting = is_setting(kind) && !is_setting_reset(kind, target);
            if !new_setting {
                return;
            }
        }
        let repairable = repair_of(kind).is_some() && !is_setting_reset(kind, target);
        self.timeline.faults.push(FaultSpan {
            kind: kind.to_string(),
            target: target.map(str::to_string),
            start_ns: time_ns,
            end_ns: time_ns,
            repaired_by: None,
            instant: !repairable,
            line,
        });
        if repairable {
            self.open_faults.push(self.timeline.faults.len() - 1);
        }
    }

    fn finish(mut self, end_ns: u64) -> Timeline {
        for index in std::mem::take(&mut self.open_faults) {
            let span = &mut self.timeline.faults[index];
            span.end_ns = end_ns.max(span.start_ns);
        }
        for lane in self.timeline.lanes.values_mut() {
            lane.high_watermark.sort_by_key(|point| point.time_ns);
        }
        self.timeline.end_ns = end_ns;
        self.timeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenarios::report::{Anomaly, FindingKind, Verdict};
    use scenarios::spec::Scenario;

    pub(crate) fn report_with_history(lines: &[&str]) -> RunReport {
        RunReport {
            scenario: "test".into(),
            seed: 7,
            bugs: Vec::new(),
            verdict: Verdict::Pass,
            trace_hash: "0000000000000000".into(),
            anomalies: Vec::new(),
            counts: BTreeMap::new(),
            repro: "streamsim run --scenario test --seed 7".into(),
            sim_time_ms: 10_000,
            events: lines.len() as u64,
            network_messages: 0,
            timer_wakeups: 0,
            nodes: 5,
            status: "completed".into(),
            wall_time_ms: 1,
            coverage: BTreeMap::new(),
            fault_log: Vec::new(),
            stats: None,
            history: lines
                .iter()
                .enumerate()
                .map(|(index, line)| {
                    oracle::parse_line(line, index as u64 + 1)
                        .expect("a test history line parses")
                        .expect("and is not blank")
                })
                .collect(),
            high_watermarks: Vec::new(),
            spec: Scenario::named("test"),
        }
    }

    #[test]
    fn faults_pair_with_their_repairs() {
        let report = report_with_history(&[
            r#"{"time":1000,"process":"nemesis","type":"info","f":"fault","fault":"crash","target":"broker-1"}"#,
            r#"{"time":2000,"process":"nemesis","type":"info","f":"fault","fault":"partition","target":"broker-2"}"#,
            r#"{"time":2500,"process":"nemesis","type":"info","f":"fault","fault":"loss","target":"0.1"}"#,
            r#"{"time":3000,"process":"nemesis","type":"info","f":"fault","fault":"retention","target":"broker-3"}"#,
            r#"{"time":4000,"process":"nemesis","type":"info","f":"fault","fault":"restart","target":"broker-1"}"#,
            r#"{"time":4500,"process":"nemesis","type":"info","f":"fault","fault":"loss","target":"0"}"#,
            r#"{"time":5000,"process":"nemesis","type":"info","f":"fault","fault":"pause","target":"broker-3"}"#,
            r#"{"time":6000,"process":"nemesis","type":"info","f":"fault","fault":"unpartition"}"#,
            r#"{"time":7000,"process":"nemesis","type":"info","f":"fault","fault":"heal"}"#,
            r#"{"time":8000,"process":"nemesis","type":"info","f":"fault","fault":"clog","target":"a->b"}"#,
        ]);
        let timeline = Timeline::build(&report);
        let spans: Vec<(&str, u64, u64, Option<&str>, bool)> = timeline
            .faults
            .iter()
            .map(|span| {
                (
                    span.kind.as_str(),
                    span.start_ns,
                    span.end_ns,
                    span.repaired_by.as_deref(),
                    span.instant,
                )
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                ("crash", 1000, 4000, Some("restart"), false),
                ("partition", 2000, 6000, Some("unpartition"), false),
                ("loss", 2500, 4500, Some("loss"), false),
                ("retention", 3000, 3000, None, true),
                ("pause", 5000, 7000, Some("heal"), false),
                // Never repaired: runs to the end of the axis.
                ("clog", 8000, 10_000_000_000, None, false),
            ]
        );
        assert_eq!(timeline.heals_ns, vec![7000]);
    }

    #[test]
    fn consumer_series_break_at_restarts_and_proofs_are_located() {
        let mut report = report_with_history(&[
            r#"{"time":10,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":0,"value":"a"},{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#,
            r#"{"time":20,"process":"consumer-0","type":"ok","f":"close"}"#,
            r#"{"time":30,"process":"consumer-0","type":"ok","f":"start"}"#,
            r#"{"time":40,"process":"consumer-0","type":"ok","f":"poll","records":[{"topic":"t","partition":0,"offset":1,"value":"b"}]}"#,
        ]);
        report.anomalies.push(Anomaly {
            kind: FindingKind::Oracle(oracle::AnomalyKind::DuplicateDelivery),
            explanation: "again".into(),
            events: vec![1, 2, 3, 4],
        });
        let timeline = Timeline::build(&report);
        let lane = &timeline.lanes[&("t".to_string(), 0)];
        let segments: Vec<Vec<(u64, u64)>> = lane.consumers["consumer-0"]
            .segments
            .iter()
            .map(|segment| segment.iter().map(|p| (p.time_ns, p.offset)).collect())
            .collect();
        assert_eq!(segments, vec![vec![(10, 0), (10, 1)], vec![(40, 1)]]);
        let marks: Vec<(u64, u64, u64)> = lane
            .marks
            .iter()
            .map(|mark| (mark.line, mark.offset_low, mark.offset_high))
            .collect();
        assert_eq!(marks, vec![(1, 0, 1), (4, 1, 1)]);
        let proof_lines: Vec<u64> = timeline.proofs.iter().map(|proof| proof.line).collect();
        assert_eq!(proof_lines, vec![1, 2, 3, 4]);
    }

    #[test]
    fn lanes_are_bounded() {
        let line = format!(
            r#"{{"time":1,"process":"cluster","type":"ok","f":"partitions","topic":"t","count":{}}}"#,
            u32::MAX
        );
        let report = report_with_history(&[&line]);
        let timeline = Timeline::build(&report);
        assert_eq!(timeline.lanes.len(), LANES_MAX);
    }
}
