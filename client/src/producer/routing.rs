//! Routing: partition discovery, the partitioner, routing pending sends to partitions.

use super::*;

/// What [`PartitionDiscoveryPolicy`] needs to remember.
#[derive(Debug)]
pub(super) enum PartitionDiscovery {
    FollowMetadata,
    /// Each topic's partition count when the producer first saw it.
    FixedAtFirstSight(BTreeMap<String, u32>),
}

impl PartitionDiscovery {
    pub(super) fn new(policy: PartitionDiscoveryPolicy) -> PartitionDiscovery {
        match policy {
            PartitionDiscoveryPolicy::FollowMetadata => PartitionDiscovery::FollowMetadata,
            PartitionDiscoveryPolicy::FixedAtFirstSight => {
                PartitionDiscovery::FixedAtFirstSight(BTreeMap::new())
            }
        }
    }
}

impl Producer {
    /// Remembers the partition count of topics seen for the first time, when the partition
    /// discovery policy needs it.
    pub(super) fn note_topics(&mut self) {
        let PartitionDiscovery::FixedAtFirstSight(counts) = &mut self.partition_discovery else {
            return;
        };
        let Some(metadata) = self.metadata.get() else {
            return;
        };
        for topic in &metadata.topics {
            counts
                .entry(topic.name.clone())
                .or_insert(topic.partitions.len() as u32);
        }
    }

    /// The partitions a send to `topic` may use: (all of them, those with a leader).
    fn partition_choice(&self, topic: &str) -> Option<(u32, Vec<u32>)> {
        let metadata = self.metadata.topic(topic)?;
        let mut count = metadata.partitions.len() as u32;
        match &self.partition_discovery {
            PartitionDiscovery::FollowMetadata => {}
            PartitionDiscovery::FixedAtFirstSight(counts) => {
                // fluvio #4079: the partition set was sized when the producer first saw the
                // topic; partitions added later are never used.
                if let Some(fixed) = counts.get(topic) {
                    count = count.min(*fixed);
                }
            }
        }
        let mut available: Vec<u32> = metadata
            .partitions
            .iter()
            .filter(|p| p.partition < count && p.leader.is_some())
            .map(|p| p.partition)
            .collect();
        available.sort_unstable();
        Some((count, available))
    }

    /// Gives partitions to unrouted sends, strictly in invoke order.
    pub(super) fn route(&mut self, now_ms: u64) {
        while let Some(send) = self.unrouted.front() {
            let Some((count, available)) = self.partition_choice(&send.topic) else {
                let answered_after_invoke = self
                    .metadata
                    .received_ms()
                    .is_some_and(|received| received > send.invoked_ms);
                if answered_after_invoke {
                    let send = self.unrouted.pop_front().expect("front exists");
                    let error = SendError::UnknownTopic {
                        topic: send.topic.clone(),
                    };
                    tracing::warn!(%error, "send to an unknown topic fails");
                    self.complete_send(send.value, false, &error.name());
                    continue;
                }
                self.refresher.request_refresh();
                return;
            };
            let partition = match &send.key {
                Some(key) if count > 0 => (stable_key_hash(key.as_bytes()) % count as u64) as u32,
                _ => {
                    if available.is_empty() {
                        self.refresher.request_refresh();
                        return;
                    }
                    let counter = self.round_robin.entry(send.topic.clone()).or_insert(0);
                    let partition = available[(*counter % available.len() as u64) as usize];
                    *counter += 1;
                    partition
                }
            };
            let send = self.unrouted.pop_front().expect("front exists");
            let key = TopicPartition::new(&send.topic, partition);
            self.append(now_ms, key, send);
        }
    }
}
