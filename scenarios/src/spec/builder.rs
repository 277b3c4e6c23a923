//! The prose-like builder: workload and fault constructors, and `Scenario`'s chained setters.

use super::*;

impl ProducerSpec {
    pub fn new(topic: &str) -> ProducerSpec {
        ProducerSpec {
            topic: topic.to_string(),
            ..ProducerSpec::default()
        }
    }
    pub fn records(mut self, records: u64) -> Self {
        self.records = records;
        self
    }
    pub fn rate_per_sec(mut self, rate: u64) -> Self {
        self.rate_per_sec = rate;
        self
    }
    pub fn keyed(mut self, keys: u32) -> Self {
        self.keys = KeyMode::Keyed(keys);
        self
    }
    pub fn start_ms(mut self, start_ms: u64) -> Self {
        self.start_ms = start_ms;
        self
    }
    pub fn linger_ms(mut self, linger_ms: u64) -> Self {
        self.linger_ms = linger_ms;
        self
    }
    /// Goes quiet after `records` records for `idle_ms`.
    pub fn idle(mut self, records: u64, idle_ms: u64) -> Self {
        self.idle_after_records = Some(records);
        self.idle_ms = idle_ms;
        self
    }
    /// Reacts as this real client does.
    pub fn personality(mut self, personality: Personality) -> Self {
        self.personality = personality;
        self
    }
}

impl ConsumerSpec {
    pub fn new(topic: &str) -> ConsumerSpec {
        ConsumerSpec {
            topic: topic.to_string(),
            ..ConsumerSpec::default()
        }
    }
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }
    /// Reacts as this real client does.
    pub fn personality(mut self, personality: Personality) -> Self {
        self.personality = personality;
        self
    }
    pub fn manual_commit(mut self, every_records: u64) -> Self {
        self.commit = CommitMode::Manual;
        self.commit_every_records = every_records;
        self
    }
    pub fn auto_commit(mut self, offset_flush_ms: u64) -> Self {
        self.commit = CommitMode::Auto;
        self.offset_flush_ms = offset_flush_ms;
        self
    }
    pub fn rack(mut self, rack: &str) -> Self {
        self.rack = Some(rack.to_string());
        self
    }
    pub fn processing_delay_ms(mut self, delay_ms: u64) -> Self {
        self.processing_delay_ms = delay_ms;
        self
    }
    /// A slow application that also fetches slowly: `delay_ms` per record, a small buffer.
    pub fn lagging(mut self, delay_ms: u64) -> Self {
        self.processing_delay_ms = delay_ms;
        self.fetch_buffer_records = 10;
        self
    }
    pub fn start_ms(mut self, start_ms: u64) -> Self {
        self.start_ms = start_ms;
        self
    }
    pub fn start_offset(mut self, offset: u64) -> Self {
        self.start_offset = Some(offset);
        self
    }
    pub fn reset(mut self, reset: ResetPolicy) -> Self {
        self.reset = reset;
        self
    }
    /// A member of its group with this assignor (`Assignment::Modulo`: the fixed split).
    pub fn assignment(mut self, assignment: Assignment) -> Self {
        self.assignment = assignment;
        self
    }
    /// Static membership (KIP-345): `group.instance.id`.
    pub fn instance_id(mut self, instance_id: &str) -> Self {
        self.instance_id = Some(instance_id.to_string());
        self
    }
}

pub fn broker(id: u32) -> Target {
    Target::Broker(id)
}
pub fn leader_of(topic: &str, partition: u32) -> Target {
    Target::LeaderOf {
        topic: topic.to_string(),
        partition,
    }
}
pub fn follower_of(topic: &str, partition: u32) -> Target {
    Target::FollowerOf {
        topic: topic.to_string(),
        partition,
    }
}
pub fn successor_of(topic: &str, partition: u32) -> Target {
    Target::SuccessorOf {
        topic: topic.to_string(),
        partition,
    }
}

impl TimedFault {
    pub fn at_ms(mut self, at_ms: u64) -> Self {
        self.at_ms = at_ms;
        self
    }
    pub fn for_ms(mut self, for_ms: u64) -> Self {
        self.for_ms = Some(for_ms);
        self
    }
    /// Fire on `trigger` (armed at `at_ms`), within `within_ms` of the event.
    pub fn when(mut self, trigger: Trigger, within_ms: u64) -> Self {
        self.when = Some(trigger);
        self.within_ms = Some(within_ms);
        self
    }
    /// Only events of `topic` (and `partition`, if given) fire it.
    pub fn on(mut self, topic: &str, partition: Option<u32>) -> Self {
        self.on = Some(EventFilter {
            topic: topic.to_string(),
            partition,
        });
        self
    }
}

pub(super) fn timed(fault: Fault) -> TimedFault {
    TimedFault {
        at_ms: 0,
        for_ms: None,
        when: None,
        on: None,
        within_ms: None,
        fault,
    }
}

pub fn crash(target: Target) -> TimedFault {
    timed(Fault::Crash {
        target,
        tail: Tail::Torn,
    })
}
/// A crash that leaves garbage or zeros where the unsynced bytes were.
pub fn crash_leaving(target: Target, tail: Tail) -> TimedFault {
    timed(Fault::Crash { target, tail })
}
pub fn wipe_disk(target: Target) -> TimedFault {
    timed(Fault::WipeDisk { target })
}
pub fn isolate_from_controller(target: Target) -> TimedFault {
    timed(Fault::IsolateFromController { target })
}
pub fn close(target: Target) -> TimedFault {
    timed(Fault::Close { target })
}
pub fn pause(target: Target) -> TimedFault {
    timed(Fault::Pause { target })
}
pub fn packet_loss(rate: f64) -> TimedFault {
    timed(Fault::PacketLoss { rate })
}
pub fn latency(min_ms: u64, max_ms: u64) -> TimedFault {
    timed(Fault::Latency { min_ms, max_ms })
}
pub fn disk_latency(target: Target, latency_ms: u64) -> TimedFault {
    timed(Fault::Disk {
        target,
        read_error_rate: 0.0,
        write_error_rate: 0.0,
        latency_ms,
    })
}
/// The follower goes down and comes back after 500 ms (change with `for_ms`) without its log
/// above the committed offset — if the controller has fenced it and taken it out of the ISR by
/// then, which takes a session timeout (see [`Fault::TruncateFollower`]).
pub fn truncate_follower(target: Target, topic: &str, partition: u32) -> TimedFault {
    timed(Fault::TruncateFollower {
        target,
        topic: topic.to_string(),
        partition,
    })
    .for_ms(500)
}
pub fn isolate(target: Target) -> TimedFault {
    timed(Fault::Isolate { target })
}
pub fn isolate_from_cluster(target: Target) -> TimedFault {
    timed(Fault::IsolateFromCluster { target })
}
pub fn clog(from: Target, to: Target) -> TimedFault {
    timed(Fault::Clog { from, to })
}
pub fn timed_partition(side: Vec<Target>) -> TimedFault {
    timed(Fault::Partition { side })
}
pub fn grow(topic: &str, count: u32) -> TimedFault {
    timed(Fault::AddPartitions {
        topic: topic.to_string(),
        count,
    })
}
pub fn expire_pids(topic: &str, partition: u32) -> TimedFault {
    timed(Fault::ExpirePids {
        topic: topic.to_string(),
        partition,
        idle_ms: EXPIRE_IDLE_MS_DEFAULT,
    })
}
/// Expiry of active producers too (spares a producer while its epoch's first batch may be in
/// doubt).
pub fn expire_active_pids(topic: &str, partition: u32) -> TimedFault {
    timed(Fault::ExpirePids {
        topic: topic.to_string(),
        partition,
        idle_ms: 0,
    })
}
pub fn retention(target: Target, topic: &str, partition: u32, offset: u64) -> TimedFault {
    timed(Fault::Retention {
        target,
        topic: topic.to_string(),
        partition,
        offset,
        min_age_ms: RETENTION_MIN_AGE_MS_DEFAULT,
    })
}

impl Scenario {
    /// The simulated nodes a run of the scenario starts: its brokers, the controller, its producers
    /// and its consumers.
    pub fn node_count(&self) -> u64 {
        u64::from(self.cluster.brokers)
            + 1
            + self.producers.len() as u64
            + self.consumers.len() as u64
    }

    pub fn named(name: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            description: String::new(),
            cluster: ClusterSpec::default(),
            topics: Vec::new(),
            producers: Vec::new(),
            consumers: Vec::new(),
            faults: Vec::new(),
            fault_phase_ms: FAULT_PHASE_MS_DEFAULT,
            liveness_phase_ms: LIVENESS_PHASE_MS_DEFAULT,
        }
    }
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_string();
        self
    }
    pub fn cluster(mut self, change: impl FnOnce(&mut ClusterSpec)) -> Self {
        change(&mut self.cluster);
        self
    }
    pub fn topic(mut self, name: &str, partitions: u32) -> Self {
        self.topics.push(TopicSpec {
            name: name.to_string(),
            partitions,
        });
        self
    }
    pub fn producer(mut self, producer: ProducerSpec) -> Self {
        self.producers.push(producer);
        self
    }
    pub fn consumer(mut self, consumer: ConsumerSpec) -> Self {
        self.consumers.push(consumer);
        self
    }
    pub fn fault(mut self, fault: TimedFault) -> Self {
        self.faults.push(fault);
        self
    }
    pub fn fault_phase_ms(mut self, ms: u64) -> Self {
        self.fault_phase_ms = ms;
        self
    }
    pub fn liveness_phase_ms(mut self, ms: u64) -> Self {
        self.liveness_phase_ms = ms;
        self
    }
}
