//! Validation: whether a scenario can run, naming the field at fault.

use super::*;

impl Scenario {
    /// Checks the scenario is runnable; the message names the field at fault and its value.
    pub fn validate(&self) -> Result<(), String> {
        self.check().map_err(|invalid| invalid.to_string())
    }

    /// Checks the scenario is runnable: the first problem, with the field at fault
    /// (`fault[2].target`) and what is wrong with its value.
    pub fn check(&self) -> Result<(), Invalid> {
        let c = &self.cluster;
        if self.name.is_empty() {
            return Err(Invalid::new(
                "name",
                "missing or empty: a scenario needs a name",
            ));
        }
        if !(1..=9).contains(&c.brokers) {
            return Err(Invalid::new(
                "cluster.brokers",
                format!("{} is not in 1..=9", c.brokers),
            ));
        }
        if c.replication_factor == 0 || c.replication_factor > c.brokers {
            return Err(Invalid::new(
                "cluster.replication_factor",
                format!(
                    "{} is not in 1..=brokers (brokers = {})",
                    c.replication_factor, c.brokers
                ),
            ));
        }
        if c.min_insync_replicas == 0 || c.min_insync_replicas > c.replication_factor {
            return Err(Invalid::new(
                "cluster.min_insync_replicas",
                format!(
                    "{} is not in 1..=replication_factor (replication_factor = {})",
                    c.min_insync_replicas, c.replication_factor
                ),
            ));
        }
        if c.segment_bytes_max < 128 {
            return Err(Invalid::new(
                "cluster.segment_bytes_max",
                format!("{} is below 128 bytes", c.segment_bytes_max),
            ));
        }
        if c.replica_fetch_bytes_max == 0 {
            return Err(Invalid::new(
                "cluster.replica_fetch_bytes_max",
                "0 is below 1",
            ));
        }
        if c.replica_fetch_max_wait_ms >= BROKER_REQUEST_TIMEOUT_MS {
            return Err(Invalid::new(
                "cluster.replica_fetch_max_wait_ms",
                format!(
                    "{} is not below the brokers' request timeout ({BROKER_REQUEST_TIMEOUT_MS} ms): \
                     the answer to a held follower fetch would come too late",
                    c.replica_fetch_max_wait_ms
                ),
            ));
        }
        if self.topics.is_empty() {
            return Err(Invalid::new(
                "topic",
                "missing: a scenario needs at least one [[topic]] table",
            ));
        }
        for (i, topic) in self.topics.iter().enumerate() {
            if topic.name.is_empty() {
                return Err(Invalid::new(
                    format!("topic[{i}].name"),
                    "missing or empty: every [[topic]] needs a name",
                ));
            }
            if let Some(first) = self.topics[..i].iter().position(|t| t.name == topic.name) {
                return Err(Invalid::new(
                    format!("topic[{i}].name"),
                    format!("'{}' is already the name of topic[{first}]", topic.name),
                ));
            }
            if !(1..=64).contains(&topic.partitions) {
                return Err(Invalid::new(
                    format!("topic[{i}].partitions"),
                    format!("{} is not in 1..=64", topic.partitions),
                ));
            }
        }
        let clients = self.producers.len() + self.consumers.len();
        if clients > CLIENTS_MAX {
            let field = if self.producers.len() > CLIENTS_MAX {
                format!("producer[{CLIENTS_MAX}]")
            } else {
                format!("consumer[{}]", CLIENTS_MAX - self.producers.len())
            };
            return Err(Invalid::new(
                field,
                format!(
                    "one client too many: {} producers and {} consumers, at most {CLIENTS_MAX} \
                     clients in all",
                    self.producers.len(),
                    self.consumers.len()
                ),
            ));
        }
        for (i, producer) in self.producers.iter().enumerate() {
            self.check_topic(
                &format!("producer[{i}].topic"),
                &producer.topic,
                "[[producer]]",
            )?;
            if producer.rate_per_sec == 0 || producer.rate_per_sec > 100_000 {
                return Err(Invalid::new(
                    format!("producer[{i}].rate_per_sec"),
                    format!("{} is not in 1..=100000", producer.rate_per_sec),
                ));
            }
            if let KeyMode::Keyed(0) = producer.keys {
                return Err(Invalid::new(
                    format!("producer[{i}].keys"),
                    "'keyed:0' has no keys: keyed needs at least one (\"keyed:1\")",
                ));
            }
            if producer.idempotence && producer.acks != Acks::All {
                return Err(Invalid::new(
                    format!("producer[{i}].acks"),
                    format!(
                        "{} needs idempotence = false: idempotence requires acks = \"all\" (as \
                         Kafka's enable.idempotence does)",
                        producer.acks
                    ),
                ));
            }
            if !(1..=5).contains(&producer.max_in_flight) {
                return Err(Invalid::new(
                    format!("producer[{i}].max_in_flight"),
                    format!("{} is not in 1..=5", producer.max_in_flight),
                ));
            }
            if !producer.idempotence && producer.max_in_flight > 1 {
                return Err(Invalid::new(
                    format!("producer[{i}].max_in_flight"),
                    format!(
                        "{} needs idempotence: without it a batch sent behind an unanswered one \
                         may be written before it (Kafka's warning for \
                         max.in.flight.requests.per.connection); use 1",
                        producer.max_in_flight
                    ),
                ));
            }
            if producer.request_timeout_ms < 2 {
                return Err(Invalid::new(
                    format!("producer[{i}].request_timeout_ms"),
                    format!("{} is below 2", producer.request_timeout_ms),
                ));
            }
            if producer.delivery_timeout_ms < producer.linger_ms + producer.request_timeout_ms {
                return Err(Invalid::new(
                    format!("producer[{i}].delivery_timeout_ms"),
                    format!(
                        "{} is below linger_ms + request_timeout_ms ({} + {}), as Kafka requires",
                        producer.delivery_timeout_ms,
                        producer.linger_ms,
                        producer.request_timeout_ms
                    ),
                ));
            }
            if producer.start_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("producer[{i}].start_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        producer.start_ms, self.fault_phase_ms
                    ),
                ));
            }
        }
        for (i, consumer) in self.consumers.iter().enumerate() {
            self.check_topic(
                &format!("consumer[{i}].topic"),
                &consumer.topic,
                "[[consumer]]",
            )?;
            if consumer.members == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].members"),
                    "0 is below 1: a group has at least one member",
                ));
            }
            if consumer.member >= consumer.members {
                return Err(Invalid::new(
                    format!("consumer[{i}].member"),
                    format!(
                        "{} is not below members ({})",
                        consumer.member, consumer.members
                    ),
                ));
            }
            if consumer.assignment != Assignment::Modulo {
                // The coordinator's group.min/max.session.timeout.ms.
                let limits = broker::coordinator::GroupConfig::default();
                let (min, max) = (limits.min_session_timeout_ms, limits.max_session_timeout_ms);
                if !(min..=max).contains(&consumer.session_timeout_ms) {
                    return Err(Invalid::new(
                        format!("consumer[{i}].session_timeout_ms"),
                        format!(
                            "{} is outside the coordinator's {min}..={max}",
                            consumer.session_timeout_ms
                        ),
                    ));
                }
                if consumer.heartbeat_interval_ms == 0
                    || consumer.heartbeat_interval_ms >= consumer.session_timeout_ms
                {
                    return Err(Invalid::new(
                        format!("consumer[{i}].heartbeat_interval_ms"),
                        format!(
                            "{} is not between 1 and the session timeout ({}) exclusive",
                            consumer.heartbeat_interval_ms, consumer.session_timeout_ms
                        ),
                    ));
                }
                if consumer.rebalance_timeout_ms == 0 {
                    return Err(Invalid::new(
                        format!("consumer[{i}].rebalance_timeout_ms"),
                        "0 is below 1",
                    ));
                }
                if consumer.instance_id.as_deref() == Some("") {
                    return Err(Invalid::new(
                        format!("consumer[{i}].instance_id"),
                        "an empty group.instance.id",
                    ));
                }
            }
            if consumer.fetch_buffer_records == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].fetch_buffer_records"),
                    "0 is below 1",
                ));
            }
            if consumer.fetch_max_bytes == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].fetch_max_bytes"),
                    "0 is below 1",
                ));
            }
            if consumer.fetch_max_wait_ms >= CONSUMER_REQUEST_TIMEOUT_MS {
                return Err(Invalid::new(
                    format!("consumer[{i}].fetch_max_wait_ms"),
                    format!(
                        "{} is not below the consumer's request timeout ({CONSUMER_REQUEST_TIMEOUT_MS} \
                         ms): the answer to a held fetch would come too late",
                        consumer.fetch_max_wait_ms
                    ),
                ));
            }
            if consumer.commit == CommitMode::Manual && consumer.commit_every_records == 0 {
                return Err(Invalid::new(
                    format!("consumer[{i}].commit_every_records"),
                    "0 is below 1 (commit = \"manual\" commits every that many records)",
                ));
            }
            if consumer.start_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("consumer[{i}].start_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        consumer.start_ms, self.fault_phase_ms
                    ),
                ));
            }
        }
        if self.faults.len() > FAULTS_MAX {
            return Err(Invalid::new(
                format!("fault[{FAULTS_MAX}]"),
                format!(
                    "one fault too many: {} faults, at most {FAULTS_MAX}",
                    self.faults.len()
                ),
            ));
        }
        for (i, fault) in self.faults.iter().enumerate() {
            if fault.at_ms >= self.fault_phase_ms {
                return Err(Invalid::new(
                    format!("fault[{i}].at_ms"),
                    format!(
                        "{} is not inside the fault phase (fault_phase_ms = {})",
                        fault.at_ms, self.fault_phase_ms
                    ),
                ));
            }
            self.check_fault(i, &fault.fault)?;
            self.check_trigger(i, fault)?;
        }
        if self.liveness_phase_ms < 1_000 {
            return Err(Invalid::new(
                "liveness_phase_ms",
                format!("{} is below 1000", self.liveness_phase_ms),
            ));
        }
        Ok(())
    }

    /// The topics, for messages: `'orders', 'payments'`.
    fn topic_names(&self) -> String {
        let names: Vec<String> = self
            .topics
            .iter()
            .map(|t| format!("'{}'", t.name))
            .collect();
        names.join(", ")
    }

    /// `field` names a topic: it must be one of the scenario's.
    fn check_topic(&self, field: &str, topic: &str, table: &str) -> Result<(), Invalid> {
        if topic.is_empty() {
            Err(Invalid::new(
                field,
                format!(
                    "missing or empty: every {table} names its topic (this scenario has {})",
                    self.topic_names()
                ),
            ))
        } else if self.topics.iter().any(|t| t.name == topic) {
            Ok(())
        } else {
            Err(Invalid::new(
                field,
                format!(
                    "no topic named '{topic}' (this scenario has {})",
                    self.topic_names()
                ),
            ))
        }
    }

    /// `field` is a fault's target: it must exist in this scenario.
    fn check_target(&self, field: &str, target: &Target) -> Result<(), Invalid> {
        let range = |what: &str, first: u32, count: usize| {
            if count == 0 {
                format!("the scenario has no {what}s")
            } else if count == 1 {
                format!("the scenario has one {what}, {what}-{first}")
            } else {
                format!(
                    "the scenario has {what}s {first}..={}",
                    first as usize + count - 1
                )
            }
        };
        let problem = match target {
            Target::Broker(id) if !(1..=self.cluster.brokers).contains(id) => {
                Some(range("broker", 1, self.cluster.brokers as usize))
            }
            Target::Producer(index) if *index as usize >= self.producers.len() => {
                Some(range("producer", 0, self.producers.len()))
            }
            Target::Consumer(index) if *index as usize >= self.consumers.len() => {
                Some(range("consumer", 0, self.consumers.len()))
            }
            Target::LeaderOf { topic, .. }
            | Target::FollowerOf { topic, .. }
            | Target::SuccessorOf { topic, .. }
                if !self.topics.iter().any(|t| &t.name == topic) =>
            {
                Some(format!(
                    "no topic named '{topic}'; the scenario has {}",
                    self.topic_names()
                ))
            }
            _ => None,
        };
        match problem {
            None => Ok(()),
            Some(detail) => Err(Invalid::new(
                field,
                format!("{target} does not exist ({detail})"),
            )),
        }
    }

    /// A fault's `when`, `on` and `within_ms` fit together, and a `trigger` target has an event
    /// that names a broker.
    fn check_trigger(&self, i: usize, timed: &TimedFault) -> Result<(), Invalid> {
        let field = |name: &str| format!("fault[{i}].{name}");
        let aims_at_trigger = timed.fault.targets().contains(&&Target::Trigger);
        match timed.when {
            None => {
                let needs_when = if timed.on.is_some() {
                    Some("on")
                } else if timed.within_ms.is_some() {
                    Some("within_ms")
                } else if aims_at_trigger {
                    Some("target")
                } else {
                    None
                };
                if let Some(name) = needs_when {
                    return Err(Invalid::new(
                        field(name),
                        format!(
                            "{name} applies only to a fault that waits for an event: add `when`                              (one of {})",
                            Trigger::names()
                        ),
                    ));
                }
            }
            Some(trigger) => {
                if aims_at_trigger && !trigger.names_broker() {
                    return Err(Invalid::new(
                        field("target"),
                        format!("trigger: a {trigger} event names no broker to aim at"),
                    ));
                }
                if let Some(filter) = &timed.on {
                    if !trigger.names_topic() {
                        return Err(Invalid::new(
                            field("on"),
                            format!("{filter}: a {trigger} event names no topic"),
                        ));
                    }
                    self.check_topic(&field("on"), &filter.topic, "`on` filter")?;
                }
                if timed.within_ms.is_some_and(|ms| ms > self.fault_phase_ms) {
                    return Err(Invalid::new(
                        field("within_ms"),
                        format!(
                            "{} is longer than the fault phase ({} ms)",
                            timed.within_ms.unwrap_or(0),
                            self.fault_phase_ms
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_fault(&self, i: usize, fault: &Fault) -> Result<(), Invalid> {
        let field = |name: &str| format!("fault[{i}].{name}");
        let rate = |name: &str, rate: f64| {
            if (0.0..=1.0).contains(&rate) {
                Ok(())
            } else {
                Err(Invalid::new(
                    field(name),
                    format!("{rate} is not in [0, 1]"),
                ))
            }
        };
        match fault {
            Fault::WipeDisk { target } | Fault::IsolateFromController { target } => {
                self.check_target(&field("target"), target)?;
                if matches!(
                    target,
                    Target::Controller | Target::Producer(_) | Target::Consumer(_)
                ) {
                    Err(Invalid::new(
                        field("target"),
                        format!("{target} is not a broker: this fault applies to brokers"),
                    ))
                } else {
                    Ok(())
                }
            }
            Fault::Crash { target, .. }
            | Fault::Pause { target }
            | Fault::Isolate { target }
            | Fault::IsolateFromCluster { target } => self.check_target(&field("target"), target),
            Fault::Close { target } => {
                self.check_target(&field("target"), target)?;
                if matches!(target, Target::Producer(_) | Target::Consumer(_)) {
                    Ok(())
                } else {
                    Err(Invalid::new(
                        field("target"),
                        format!(
                            "{target} is not a client: close applies to a producer or consumer"
                        ),
                    ))
                }
            }
            Fault::Retention { target, topic, .. }
            | Fault::TruncateFollower { target, topic, .. } => {
                self.check_target(&field("target"), target)?;
                self.check_topic(&field("topic"), topic, "[[fault]] of this kind")
            }
            Fault::Disk {
                target,
                read_error_rate,
                write_error_rate,
                ..
            } => {
                self.check_target(&field("target"), target)?;
                rate("read_error_rate", *read_error_rate)?;
                rate("write_error_rate", *write_error_rate)
            }
            Fault::Clog { from, to } => {
                self.check_target(&field("from"), from)?;
                self.check_target(&field("to"), to)
            }
            Fault::Partition { side } => {
                for (j, target) in side.iter().enumerate() {
                    self.check_target(&format!("fault[{i}].side[{j}]"), target)?;
                }
                Ok(())
            }
            Fault::PacketLoss { rate: loss } => rate("rate", *loss),
            Fault::Latency { min_ms, max_ms } => {
                if min_ms < max_ms {
                    Ok(())
                } else {
                    Err(Invalid::new(
                        field("min_ms"),
                        format!("{min_ms} is not below max_ms ({max_ms})"),
                    ))
                }
            }
            Fault::ExpirePids { topic, .. } | Fault::AddPartitions { topic, .. } => {
                self.check_topic(&field("topic"), topic, "[[fault]] of this kind")
            }
        }
    }
}
