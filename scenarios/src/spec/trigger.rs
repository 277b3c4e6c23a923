//! Protocol-aware faults: a fault may fire on a cluster event instead of at a fixed time.
//!
//! Replication bugs live in narrow windows - the new leader dies within a fetch round trip of
//! its election, a leader dies between appending a batch and committing it, a follower crashes
//! right after truncating. Faults at random absolute times almost never land there. A fault
//! with `when = "leader-elected"` is *armed* at its `at_ms` and fires a delay drawn from the
//! seed, between 0 and `within_ms`, after the first matching event (optionally only events of
//! one partition or topic, `on = "orders/0"` or `on = "orders"`); its target may be `"trigger"`,
//! the broker the event names. A fault whose event never comes before the fault phase ends
//! does not fire (the fault log says so).

use serde::{Deserialize, Serialize};

/// Default bound on the delay between the event and the fault.
pub const WITHIN_MS_DEFAULT: u64 = 100;

/// A cluster event a fault can wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// A partition's new leader took office (it learned of an election after the first, within
    /// a heartbeat of the controller's decision); names the new leader.
    LeaderElected,
    /// A partition's ISR lost members; names the leader.
    IsrShrunk,
    /// A partition's ISR gained members; names a member that joined.
    IsrExpanded,
    /// A follower cut its log back; names the follower.
    FollowerTruncated,
    /// A leader appended a batch that its high watermark does not cover yet (written, not yet
    /// committed); names the leader.
    Appended,
    /// A replica's log start moved (retention); names that replica's broker.
    LogStartAdvanced,
    /// A topic grew; names no broker.
    PartitionsAdded,
    /// The controller fenced a broker (silent too long, or restarted); names that broker, and
    /// no partition.
    BrokerFenced,
    /// A replica forgot a producer's state; names that replica's broker.
    ProducerExpired,
}

impl Trigger {
    pub const ALL: [Trigger; 9] = [
        Trigger::LeaderElected,
        Trigger::IsrShrunk,
        Trigger::IsrExpanded,
        Trigger::FollowerTruncated,
        Trigger::Appended,
        Trigger::LogStartAdvanced,
        Trigger::PartitionsAdded,
        Trigger::BrokerFenced,
        Trigger::ProducerExpired,
    ];

    /// The name files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::LeaderElected => "leader-elected",
            Trigger::IsrShrunk => "isr-shrunk",
            Trigger::IsrExpanded => "isr-expanded",
            Trigger::FollowerTruncated => "follower-truncated",
            Trigger::Appended => "appended",
            Trigger::LogStartAdvanced => "log-start-advanced",
            Trigger::PartitionsAdded => "partitions-added",
            Trigger::BrokerFenced => "broker-fenced",
            Trigger::ProducerExpired => "producer-expired",
        }
    }

    /// Whether its events name a broker (a `"trigger"` target needs one).
    pub fn names_broker(self) -> bool {
        self != Trigger::PartitionsAdded
    }

    /// Whether its events name a topic (an `on` filter needs one).
    pub fn names_topic(self) -> bool {
        self != Trigger::BrokerFenced
    }

    /// The names, for messages: `leader-elected, isr-shrunk, ...`.
    pub fn names() -> String {
        let names: Vec<&str> = Trigger::ALL.iter().map(|t| t.as_str()).collect();
        names.join(", ")
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which events of a trigger count: one topic's, or one partition's. In files `"orders"` or
/// `"orders/0"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventFilter {
    pub topic: String,
    pub partition: Option<u32>,
}

impl EventFilter {
    /// Whether an event about `topic` (and `partition`, when it names one) passes.
    pub fn matches(&self, topic: &str, partition: Option<u32>) -> bool {
        self.topic == topic
            && match (self.partition, partition) {
                (Some(wanted), Some(partition)) => wanted == partition,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

impl std::fmt::Display for EventFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.partition {
            Some(partition) => write!(f, "{}/{partition}", self.topic),
            None => f.write_str(&self.topic),
        }
    }
}

impl From<EventFilter> for String {
    fn from(filter: EventFilter) -> String {
        filter.to_string()
    }
}

impl TryFrom<String> for EventFilter {
    type Error = String;
    fn try_from(text: String) -> Result<EventFilter, String> {
        let invalid = || format!("on '{text}' is neither \"TOPIC\" nor \"TOPIC/PARTITION\"");
        match text.rsplit_once('/') {
            Some((topic, partition)) => {
                let partition = partition.parse::<u32>().map_err(|_| invalid())?;
                if topic.is_empty() {
                    return Err(invalid());
                }
                Ok(EventFilter {
                    topic: topic.to_string(),
                    partition: Some(partition),
                })
            }
            None if !text.is_empty() => Ok(EventFilter {
                topic: text,
                partition: None,
            }),
            None => Err(invalid()),
        }
    }
}

/// One cluster event, as the runtime matches it against armed faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMoment {
    pub trigger: Trigger,
    pub topic: Option<String>,
    pub partition: Option<u32>,
    /// The broker the event names (the new leader, the truncated follower, ...).
    pub broker: Option<u32>,
}

impl ClusterMoment {
    /// Whether a fault waiting for `trigger` with `filter` fires on this event.
    pub fn matches(&self, trigger: Trigger, filter: Option<&EventFilter>) -> bool {
        self.trigger == trigger
            && match (filter, &self.topic) {
                (None, _) => true,
                (Some(filter), Some(topic)) => filter.matches(topic, self.partition),
                (Some(_), None) => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for trigger in Trigger::ALL {
            let text = format!("\"{}\"", trigger.as_str());
            let parsed: Trigger = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, trigger);
        }
    }

    #[test]
    fn filters_parse_and_match() {
        let partition = EventFilter::try_from("orders/1".to_string()).unwrap();
        let topic = EventFilter::try_from("orders".to_string()).unwrap();
        assert!(partition.matches("orders", Some(1)));
        assert!(!partition.matches("orders", Some(0)));
        assert!(!partition.matches("orders", None));
        assert!(topic.matches("orders", Some(7)));
        assert!(topic.matches("orders", None));
        assert!(!topic.matches("payments", Some(1)));
        assert!(EventFilter::try_from("/1".to_string()).is_err());
        assert!(EventFilter::try_from("orders/x".to_string()).is_err());
        assert!(EventFilter::try_from(String::new()).is_err());
        assert_eq!(partition.to_string(), "orders/1");
    }

    #[test]
    fn moments_match_their_trigger_and_filter() {
        let moment = ClusterMoment {
            trigger: Trigger::LeaderElected,
            topic: Some("orders".to_string()),
            partition: Some(0),
            broker: Some(2),
        };
        assert!(moment.matches(Trigger::LeaderElected, None));
        assert!(!moment.matches(Trigger::IsrShrunk, None));
        let other = EventFilter::try_from("orders/1".to_string()).unwrap();
        assert!(!moment.matches(Trigger::LeaderElected, Some(&other)));
        let fenced = ClusterMoment {
            trigger: Trigger::BrokerFenced,
            topic: None,
            partition: None,
            broker: Some(1),
        };
        let topic = EventFilter::try_from("orders".to_string()).unwrap();
        assert!(!fenced.matches(Trigger::BrokerFenced, Some(&topic)));
    }
}
