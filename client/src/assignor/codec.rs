//! Kafka's consumer protocol: the member metadata a consumer sends in JoinGroup
//! (`ConsumerProtocolSubscription`) and the member assignment the leader sends in SyncGroup
//! (`ConsumerProtocolAssignment`), each an `int16` version followed by the message in that
//! version (Kafka's `ConsumerProtocol.serializeSubscription` / `deserializeSubscription`).
//!
//! Written: subscription v3 (topics, user data, owned partitions, generation id, rack id) and
//! assignment v3 (assigned partitions, user data; the layout is the same in v0-v3), as Kafka 3.5+
//! clients write them; user data is always null. Read: v0-v3; a newer version is read as v3 and
//! the bytes after what v3 holds are ignored (Kafka: "assume all higher versions can be parsed"
//! as the newest known, since versions only add fields at the end); trailing bytes are ignored
//! at every version, as Kafka does. Decoding never panics: anything malformed is a
//! [`ConsumerProtocolError`].

use super::Subscription;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedTopic;
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use protocol::api::TopicPartition;
use std::collections::BTreeMap;

/// The `ConsumerProtocolSubscription` version [`encode_subscription`] writes.
pub const SUBSCRIPTION_VERSION: i16 = 3;
/// The `ConsumerProtocolAssignment` version [`encode_assignment`] writes.
pub const ASSIGNMENT_VERSION: i16 = 3;
/// The newest version of either message this code knows.
const NEWEST_KNOWN_VERSION: i16 = 3;

/// Why consumer protocol bytes could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerProtocolError {
    #[error("consumer protocol {what}: {len} byte(s), too short for the int16 version")]
    MissingVersion { what: &'static str, len: usize },
    #[error("consumer protocol {what}: negative version {version}")]
    NegativeVersion { what: &'static str, version: i16 },
    #[error("consumer protocol {what} v{version}: {reason}")]
    Malformed {
        what: &'static str,
        version: i16,
        reason: String,
    },
    #[error(
        "consumer protocol {what} v{version}: topic {topic:?} has negative partition {partition}"
    )]
    NegativePartition {
        what: &'static str,
        version: i16,
        topic: String,
        partition: i32,
    },
    #[error("consumer protocol {what} cannot be written: {reason}")]
    Unencodable { what: &'static str, reason: String },
}

/// A member's JoinGroup metadata, `ConsumerProtocolSubscription` v3 with its version prefix.
/// Owned partitions are written grouped by topic, sorted, without repeats; topics as given; user
/// data null; no generation is -1. Fails only on values Kafka cannot carry: a name over 32767
/// bytes, a partition or generation above `i32::MAX`.
pub fn encode_subscription(subscription: &Subscription) -> Result<Bytes, ConsumerProtocolError> {
    const WHAT: &str = "subscription";
    let generation_id = match subscription.generation {
        None => -1,
        Some(generation) => {
            i32::try_from(generation).map_err(|_| ConsumerProtocolError::Unencodable {
                what: WHAT,
                reason: format!("generation {generation} is above i32::MAX"),
            })?
        }
    };
    let owned = by_topic(&subscription.owned, WHAT)?
        .into_iter()
        .map(|(topic, partitions)| {
            OwnedTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolSubscription::default()
        .with_topics(subscription.topics.iter().map(|t| str_bytes(t)).collect())
        .with_user_data(None)
        .with_owned_partitions(owned)
        .with_generation_id(generation_id)
        .with_rack_id(subscription.rack.as_deref().map(str_bytes));
    write(&message, SUBSCRIPTION_VERSION, WHAT)
}

/// Reads a member's JoinGroup metadata (any version; see the module docs). The generation is
/// the v2+ `generation_id` field when it is not negative; otherwise, when the user data is
/// exactly 4 bytes, their big-endian `int32` if not negative: where Kafka's
/// `CooperativeStickyAssignor` put the generation before the field existed (its
/// `subscriptionUserData`, read back by its `memberData`); otherwise none.
pub fn decode_subscription(bytes: &[u8]) -> Result<Subscription, ConsumerProtocolError> {
    const WHAT: &str = "subscription";
    let (version, mut body) = read_version(bytes, WHAT)?;
    let message =
        ConsumerProtocolSubscription::decode(&mut body, version.min(NEWEST_KNOWN_VERSION))
            .map_err(|e| malformed(WHAT, version, e))?;
    let mut owned = Vec::new();
    for topic in &message.owned_partitions {
        push_partitions(&mut owned, &topic.topic, &topic.partitions, WHAT, version)?;
    }
    let generation = u32::try_from(message.generation_id).ok().or_else(|| {
        let data = message.user_data.as_deref()?;
        let word: [u8; 4] = data.try_into().ok()?;
        u32::try_from(i32::from_be_bytes(word)).ok()
    });
    Ok(Subscription {
        topics: message.topics.iter().map(|t| t.to_string()).collect(),
        owned,
        generation,
        rack: message.rack_id.map(|r| r.to_string()),
    })
}

/// A member's SyncGroup assignment, `ConsumerProtocolAssignment` v3 with its version prefix:
/// the partitions grouped by topic, sorted, without repeats; user data null. Fails only on
/// values Kafka cannot carry (a topic name over 32767 bytes, a partition above `i32::MAX`).
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes, ConsumerProtocolError> {
    const WHAT: &str = "assignment";
    let assigned = by_topic(partitions, WHAT)?
        .into_iter()
        .map(|(topic, partitions)| {
            AssignedTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    let message = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(assigned)
        .with_user_data(None);
    write(&message, ASSIGNMENT_VERSION, WHAT)
}

/// Reads a member's SyncGroup assignment (any version), in the order written. No bytes at all
/// is an empty assignment: the coordinator answers a member the leader gave nothing to with an
/// empty assignment (librdkafka reads it as such).
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<TopicPartition>, ConsumerProtocolError> {
    const WHAT: &str = "assignment";
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (version, mut body) = read_version(bytes, WHAT)?;
    let message = ConsumerProtocolAssignment::decode(&mut body, version.min(NEWEST_KNOWN_VERSION))
        .map_err(|e| malformed(WHAT, version, e))?;
    let mut partitions = Vec::new();
    for topic in &message.assigned_partitions {
        push_partitions(
            &mut partitions,
            &topic.topic,
            &topic.partitions,
            WHAT,
            version,
        )?;
    }
    Ok(partitions)
}

fn write<M: Encodable>(
    message: &M,
    version: i16,
    what: &'static str,
) -> Result<Bytes, ConsumerProtocolError> {
    let mut buf = BytesMut::new();
    buf.put_i16(version);
    message
        .encode(&mut buf, version)
        .map_err(|e| ConsumerProtocolError::Unencodable {
            what,
            reason: format!("{e:#}"),
        })?;
    Ok(buf.freeze())
}

fn read_version<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(i16, &'a [u8]), ConsumerProtocolError> {
    let (head, body) =
        bytes
            .split_first_chunk::<2>()
            .ok_or(ConsumerProtocolError::MissingVersion {
                what,
                len: bytes.len(),
            })?;
    let version = i16::from_be_bytes(*head);
    if version < 0 {
        return Err(ConsumerProtocolError::NegativeVersion { what, version });
    }
    Ok((version, body))
}

fn malformed(what: &'static str, version: i16, e: anyhow::Error) -> ConsumerProtocolError {
    ConsumerProtocolError::Malformed {
        what,
        version,
        reason: format!("{e:#}"),
    }
}

fn push_partitions(
    out: &mut Vec<TopicPartition>,
    topic: &TopicName,
    partitions: &[i32],
    what: &'static str,
    version: i16,
) -> Result<(), ConsumerProtocolError> {
    for &partition in partitions {
        let Ok(partition) = u32::try_from(partition) else {
            return Err(ConsumerProtocolError::NegativePartition {
                what,
                version,
                topic: topic.to_string(),
                partition,
            });
        };
        out.push(TopicPartition {
            topic: topic.to_string().into(),
            partition,
        });
    }
    Ok(())
}

/// Partitions grouped by topic, both sorted, no repeats, as the wire's `int32`s.
fn by_topic<'a>(
    partitions: &'a [TopicPartition],
    what: &'static str,
) -> Result<BTreeMap<&'a str, Vec<i32>>, ConsumerProtocolError> {
    let mut grouped: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        let partition =
            i32::try_from(tp.partition).map_err(|_| ConsumerProtocolError::Unencodable {
                what,
                reason: format!("partition {tp} is above i32::MAX"),
            })?;
        grouped.entry(&*tp.topic).or_default().push(partition);
    }
    for list in grouped.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    Ok(grouped)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn sample() -> Subscription {
        Subscription {
            topics: vec!["orders".into(), "audit".into()],
            owned: vec![tp("audit", 0), tp("orders", 1), tp("orders", 4)],
            generation: Some(7),
            rack: Some("rack-a".into()),
        }
    }

    /// Kafka's wire primitives, by hand, to check the layout independently of kafka-protocol.
    struct Wire(Vec<u8>);

    impl Wire {
        fn i16(mut self, v: i16) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn i32(mut self, v: i32) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn string(self, s: &str) -> Self {
            let mut w = self.i16(s.len() as i16);
            w.0.extend_from_slice(s.as_bytes());
            w
        }
        fn topic_partitions(self, topics: &[(&str, &[i32])]) -> Self {
            let mut w = self.i32(topics.len() as i32);
            for (topic, partitions) in topics {
                w = w.string(topic).i32(partitions.len() as i32);
                for p in *partitions {
                    w = w.i32(*p);
                }
            }
            w
        }
    }

    #[test]
    fn subscription_v3_layout_is_kafkas() {
        let expected = Wire(Vec::new())
            .i16(3)
            .i32(2)
            .string("orders")
            .string("audit")
            .i32(-1) // user data: null
            .topic_partitions(&[("audit", &[0]), ("orders", &[1, 4])])
            .i32(7)
            .string("rack-a")
            .0;
        assert_eq!(encode_subscription(&sample()).unwrap().as_ref(), &expected);
    }

    #[test]
    fn assignment_v3_layout_is_kafkas() {
        let expected = Wire(Vec::new())
            .i16(3)
            .topic_partitions(&[("a", &[0, 2]), ("b", &[1])])
            .i32(-1)
            .0;
        let partitions = [tp("b", 1), tp("a", 2), tp("a", 0), tp("a", 2)];
        assert_eq!(encode_assignment(&partitions).unwrap().as_ref(), &expected);
    }

    #[test]
    fn subscription_round_trips() {
        let sub = sample();
        let decoded = decode_subscription(&encode_subscription(&sub).unwrap()).unwrap();
        assert_eq!(decoded, sub);
        let bare = Subscription {
            topics: vec!["t".into()],
            ..Subscription::default()
        };
        assert_eq!(
            decode_subscription(&encode_subscription(&bare).unwrap()).unwrap(),
            bare
        );
    }

    /// What kafka-protocol's own encoder writes at `version`, with the version prefix.
    fn kafka_protocol_bytes<M: Encodable>(message: &M, version: i16) -> Vec<u8> {
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        message.encode(&mut buf, version).unwrap();
        buf.to_vec()
    }

    #[test]
    fn older_subscription_versions_are_read() {
        let owned = vec![OwnedTopic::default()
            .with_topic(topic_name("t"))
            .with_partitions(vec![3, 1])];
        let full = ConsumerProtocolSubscription::default()
            .with_topics(vec![str_bytes("t"), str_bytes("u")])
            .with_owned_partitions(owned)
            .with_generation_id(5)
            .with_rack_id(Some(str_bytes("r1")));
        let v0 = ConsumerProtocolSubscription::default()
            .with_topics(vec![str_bytes("t"), str_bytes("u")]);
        let v1 = full.clone().with_generation_id(-1).with_rack_id(None);
        let v2 = full.clone().with_rack_id(None);
        let topics = vec!["t".to_string(), "u".to_string()];
        let owned = vec![tp("t", 3), tp("t", 1)];
        let read = |m: &ConsumerProtocolSubscription, v| {
            decode_subscription(&kafka_protocol_bytes(m, v)).unwrap()
        };
        assert_eq!(
            read(&v0, 0),
            Subscription {
                topics: topics.clone(),
                ..Subscription::default()
            }
        );
        assert_eq!(
            read(&v1, 1),
            Subscription {
                topics: topics.clone(),
                owned: owned.clone(),
                ..Subscription::default()
            }
        );
        assert_eq!(
            read(&v2, 2),
            Subscription {
                topics: topics.clone(),
                owned: owned.clone(),
                generation: Some(5),
                rack: None,
            }
        );
        assert_eq!(
            read(&full, 3),
            Subscription {
                topics,
                owned,
                generation: Some(5),
                rack: Some("r1".into()),
            }
        );
    }

    #[test]
    fn pre_v2_cooperative_user_data_carries_the_generation() {
        let v1 = ConsumerProtocolSubscription::default()
            .with_topics(vec![str_bytes("t")])
            .with_user_data(Some(Bytes::from_static(&[0, 0, 0, 9])));
        let sub = decode_subscription(&kafka_protocol_bytes(&v1, 1)).unwrap();
        assert_eq!(sub.generation, Some(9));
        // -1 in the user data, or user data of another shape: no generation.
        let minus_one = v1
            .clone()
            .with_user_data(Some(Bytes::from_static(&[255; 4])));
        assert_eq!(
            decode_subscription(&kafka_protocol_bytes(&minus_one, 1))
                .unwrap()
                .generation,
            None
        );
        let other = v1.with_user_data(Some(Bytes::from_static(&[0, 0, 0, 0, 9])));
        assert_eq!(
            decode_subscription(&kafka_protocol_bytes(&other, 1))
                .unwrap()
                .generation,
            None
        );
    }

    #[test]
    fn newer_versions_are_read_as_the_newest_known() {
        let mut bytes = encode_subscription(&sample()).unwrap().to_vec();
        bytes[..2].copy_from_slice(&9i16.to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3]); // a v9 field this code does not know
        assert_eq!(decode_subscription(&bytes).unwrap(), sample());

        let mut bytes = encode_assignment(&[tp("a", 1)]).unwrap().to_vec();
        bytes[..2].copy_from_slice(&4i16.to_be_bytes());
        bytes.push(0);
        assert_eq!(decode_assignment(&bytes).unwrap(), vec![tp("a", 1)]);
    }

    #[test]
    fn older_assignment_versions_are_read() {
        let message = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(vec![
                AssignedTopic::default()
                    .with_topic(topic_name("x"))
                    .with_partitions(vec![2, 0]),
                AssignedTopic::default()
                    .with_topic(topic_name("a"))
                    .with_partitions(vec![1]),
            ])
            .with_user_data(Some(Bytes::from_static(b"opaque")));
        for version in 0..=3 {
            assert_eq!(
                decode_assignment(&kafka_protocol_bytes(&message, version)).unwrap(),
                vec![tp("x", 2), tp("x", 0), tp("a", 1)],
                "v{version}"
            );
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            decode_subscription(&[0]).unwrap_err(),
            ConsumerProtocolError::MissingVersion {
                what: "subscription",
                len: 1
            }
        );
        assert_eq!(
            decode_assignment(&[0xff, 0xfe]).unwrap_err(),
            ConsumerProtocolError::NegativeVersion {
                what: "assignment",
                version: -2
            }
        );
        let truncated = &encode_subscription(&sample()).unwrap()[..9];
        let err = decode_subscription(truncated).unwrap_err();
        assert!(
            matches!(err, ConsumerProtocolError::Malformed { version: 3, .. }),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with("consumer protocol subscription v3: "));
        let negative = Wire(Vec::new())
            .i16(0)
            .topic_partitions(&[("t", &[-3])])
            .i32(-1)
            .0;
        assert_eq!(
            decode_assignment(&negative).unwrap_err().to_string(),
            "consumer protocol assignment v0: topic \"t\" has negative partition -3"
        );
        let too_big = encode_assignment(&[tp("t", u32::MAX)]).unwrap_err();
        assert!(too_big.to_string().contains("above i32::MAX"), "{too_big}");
        let long = Subscription {
            topics: vec!["x".repeat(40_000)],
            ..Subscription::default()
        };
        assert!(encode_subscription(&long).is_err());
        let generation = Subscription {
            generation: Some(u32::MAX),
            ..Subscription::default()
        };
        assert!(encode_subscription(&generation).is_err());
    }

    #[test]
    fn an_empty_assignment_is_no_partitions() {
        assert_eq!(decode_assignment(&[]).unwrap(), vec![]);
        let none = encode_assignment(&[]).unwrap();
        assert_eq!(decode_assignment(&none).unwrap(), vec![]);
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-z.é_-]{0,12}"
    }

    fn partition() -> impl Strategy<Value = TopicPartition> {
        (name(), 0..=i32::MAX as u32).prop_map(|(topic, partition)| TopicPartition {
            topic: topic.into(),
            partition,
        })
    }

    fn subscription() -> impl Strategy<Value = Subscription> {
        (
            proptest::collection::vec(name(), 0..5),
            proptest::collection::vec(partition(), 0..8),
            proptest::option::of(0..=i32::MAX as u32),
            proptest::option::of(name()),
        )
            .prop_map(|(topics, owned, generation, rack)| Subscription {
                topics,
                owned,
                generation,
                rack,
            })
    }

    fn canonical(partitions: &[TopicPartition]) -> Vec<TopicPartition> {
        let mut sorted = partitions.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_subscription(&bytes);
            let _ = decode_assignment(&bytes);
        }

        #[test]
        fn mangled_encodings_never_panic(
            sub in subscription(),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = encode_subscription(&sub).unwrap().to_vec();
            let at = flip.index(bytes.len());
            bytes[at] = byte;
            let _ = decode_subscription(&bytes);
            let _ = decode_subscription(&bytes[..cut.index(bytes.len())]);
            let _ = decode_assignment(&bytes);
        }

        #[test]
        fn subscriptions_round_trip(sub in subscription()) {
            let decoded = decode_subscription(&encode_subscription(&sub).unwrap()).unwrap();
            prop_assert_eq!(decoded, Subscription { owned: canonical(&sub.owned), ..sub });
        }

        #[test]
        fn assignments_round_trip(partitions in proptest::collection::vec(partition(), 0..12)) {
            let decoded = decode_assignment(&encode_assignment(&partitions).unwrap()).unwrap();
            prop_assert_eq!(decoded, canonical(&partitions));
        }
    }
}
