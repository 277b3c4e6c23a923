//! What both sans-IO cores share: the actions they emit, the table of requests in flight with
//! their deadlines, backoff with seeded jitter, the metadata cache and its refresher.
//!
//! Nothing here touches a runtime: time is an argument (`now_ms`), randomness is a ChaCha stream
//! handed in by the shell.

use crate::history::Op;
use protocol::api::{
    BrokerId, ClusterMetadata, MetadataRequest, PartitionMetadata, Request, TopicMetadata,
    TopicPartition,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Where a client finds the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddrs {
    /// Brokers to ask for metadata before the client knows any (any subset of the brokers).
    pub bootstrap: Vec<SocketAddr>,
    /// The controller: InitProducerId, OffsetCommit, OffsetFetch, CreateTopic, CreatePartitions,
    /// and Metadata too.
    pub controller: SocketAddr,
}

/// What a core asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `request` to `to` with this correlation id; the answer echoes it.
    Send {
        to: SocketAddr,
        correlation_id: u64,
        request: Request,
    },
    /// Record a history event of this client process (the shell stamps the time).
    Record(Op),
}

/// One request awaiting its answer.
#[derive(Debug, Clone)]
pub(crate) struct Pending<K> {
    pub to: SocketAddr,
    pub deadline_ms: u64,
    pub kind: K,
}

/// Requests in flight, by correlation id, each with a deadline. Late answers (after the
/// deadline expired the request) find nothing here and are dropped by the core.
#[derive(Debug)]
pub(crate) struct InFlight<K> {
    next_correlation_id: u64,
    pending: BTreeMap<u64, Pending<K>>,
}

/// Most requests one client may have in flight at once; more is a bug in a core.
pub(crate) const REQUESTS_IN_FLIGHT_MAX: usize = 10_000;

impl<K> InFlight<K> {
    /// `first_correlation_id` differs per incarnation so that a late answer to a previous
    /// incarnation's request never matches a new one.
    pub fn new(first_correlation_id: u64) -> InFlight<K> {
        InFlight {
            next_correlation_id: first_correlation_id,
            pending: BTreeMap::new(),
        }
    }

    pub fn start(&mut self, to: SocketAddr, deadline_ms: u64, kind: K) -> u64 {
        assert!(
            self.pending.len() < REQUESTS_IN_FLIGHT_MAX,
            "more than {REQUESTS_IN_FLIGHT_MAX} requests in flight"
        );
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        self.pending.insert(
            correlation_id,
            Pending {
                to,
                deadline_ms,
                kind,
            },
        );
        correlation_id
    }

    /// A correlation id for a request that gets no answer (a produce with acks=0): nothing is
    /// awaited.
    pub fn unanswered(&mut self) -> u64 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        correlation_id
    }

    /// The request this answer belongs to, if it is still awaited and the answer comes from
    /// where the request went (anything else is dropped, as a stray datagram).
    pub fn take(&mut self, correlation_id: u64, from: SocketAddr) -> Option<Pending<K>> {
        if self.pending.get(&correlation_id)?.to != from {
            tracing::debug!(correlation_id, %from, "answer from an unexpected address; dropped");
            return None;
        }
        self.pending.remove(&correlation_id)
    }

    /// Forgets a request: its answer, if any comes, will be dropped.
    pub fn forget(&mut self, correlation_id: u64) {
        self.pending.remove(&correlation_id);
    }

    /// Removes and returns the requests whose deadline passed, oldest correlation id first.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(u64, Pending<K>)> {
        // Asked at every tick; mostly nothing is due.
        if !self
            .pending
            .values()
            .any(|pending| pending.deadline_ms <= now_ms)
        {
            return Vec::new();
        }
        let expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| pending.deadline_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        expired
            .into_iter()
            .filter_map(|id| self.pending.remove(&id).map(|pending| (id, pending)))
            .collect()
    }
}

/// Correlation ids of incarnation `n` start at `n << 40`.
pub(crate) fn first_correlation_id(incarnation: u64) -> u64 {
    (incarnation & 0xff_ffff) << 40
}

/// Exponential backoff: `base_ms * 2^attempt`, capped at `max_ms`, with up to 20% of jitter
/// drawn from the core's seeded stream.
pub(crate) fn backoff_ms(rng: &mut ChaCha8Rng, attempt: u32, base_ms: u64, max_ms: u64) -> u64 {
    let exponential = base_ms.saturating_mul(1u64 << attempt.min(20));
    let capped = exponential.min(max_ms).max(1);
    let jitter = rng.gen_range(0..=capped / 5);
    capped - jitter
}

/// The keyed partitioner's hash: FNV-1a, 64-bit, fixed across platforms, builds and runs.
pub use protocol::stable_hash as stable_key_hash;

/// The freshest cluster metadata seen, by `version`.
#[derive(Debug, Clone, Default)]
pub struct MetadataCache {
    current: Option<ClusterMetadata>,
    /// When the current metadata (or an equally fresh copy) last arrived.
    received_ms: Option<u64>,
}

impl MetadataCache {
    /// Takes `metadata` when it is at least as fresh as what the cache holds; answers whether
    /// it was taken.
    pub fn update(&mut self, metadata: ClusterMetadata, now_ms: u64) -> bool {
        let fresher = self
            .current
            .as_ref()
            .is_none_or(|current| metadata.version >= current.version);
        if fresher {
            self.current = Some(metadata);
            self.received_ms = Some(now_ms);
        }
        fresher
    }

    pub fn get(&self) -> Option<&ClusterMetadata> {
        self.current.as_ref()
    }

    pub fn received_ms(&self) -> Option<u64> {
        self.received_ms
    }

    pub fn topic(&self, topic: &str) -> Option<&TopicMetadata> {
        self.current.as_ref()?.topic(topic)
    }

    pub fn partition(&self, partition: &TopicPartition) -> Option<&PartitionMetadata> {
        self.current.as_ref()?.partition(partition)
    }

    pub fn broker_addr(&self, broker: BrokerId) -> Option<SocketAddr> {
        self.current.as_ref()?.broker_addr(broker)
    }

    /// The partition's leader, its address and the leader epoch, when all are known.
    pub fn leader(&self, partition: &TopicPartition) -> Option<(BrokerId, SocketAddr, u32)> {
        let metadata = self.partition(partition)?;
        let leader = metadata.leader?;
        let addr = self.broker_addr(leader)?;
        Some((leader, addr, metadata.leader_epoch))
    }
}

/// Keeps the metadata cache fresh: a refresh every `max_age_ms`, and soon after someone asks
/// (an error that hints at stale metadata), at most one request in flight, rotating over the
/// controller and the bootstrap brokers.
#[derive(Debug)]
pub(crate) struct MetadataRefresher {
    targets: Vec<SocketAddr>,
    next_target: usize,
    in_flight: bool,
    max_age_ms: u64,
    refresh_backoff_ms: u64,
    /// When the last request went out.
    last_request_ms: Option<u64>,
    /// When a fresh answer last arrived.
    last_answer_ms: Option<u64>,
    urgent: bool,
}

impl MetadataRefresher {
    pub fn new(cluster: &ClusterAddrs, max_age_ms: u64, refresh_backoff_ms: u64) -> Self {
        assert!(max_age_ms > 0, "metadata_max_age_ms must be positive");
        let mut targets = vec![cluster.controller];
        targets.extend(cluster.bootstrap.iter().copied());
        MetadataRefresher {
            targets,
            next_target: 0,
            in_flight: false,
            max_age_ms,
            refresh_backoff_ms,
            last_request_ms: None,
            last_answer_ms: None,
            urgent: true,
        }
    }

    /// Asks for a refresh soon (after the refresh backoff).
    pub fn request_refresh(&mut self) {
        self.urgent = true;
    }

    /// The metadata request to send now, if one is due: (destination, request).
    pub fn due(&mut self, now_ms: u64) -> Option<(SocketAddr, Request)> {
        if self.in_flight {
            return None;
        }
        let backoff_passed = self
            .last_request_ms
            .is_none_or(|last| now_ms >= last + self.refresh_backoff_ms);
        let stale = self
            .last_answer_ms
            .is_none_or(|last| now_ms >= last + self.max_age_ms);
        if !(backoff_passed && (self.urgent || stale)) {
            return None;
        }
        let to = self.targets[self.next_target % self.targets.len()];
        self.next_target = (self.next_target + 1) % self.targets.len();
        self.in_flight = true;
        self.urgent = false;
        self.last_request_ms = Some(now_ms);
        Some((to, Request::Metadata(MetadataRequest { topics: None })))
    }

    pub fn on_answer(&mut self, now_ms: u64) {
        self.in_flight = false;
        self.last_answer_ms = Some(now_ms);
    }

    /// The request timed out or was refused: try the next target soon.
    pub fn on_failure(&mut self) {
        self.in_flight = false;
        self.urgent = true;
    }

    /// Adds the brokers the metadata names to the rotation.
    pub fn learn_brokers(&mut self, metadata: &ClusterMetadata) {
        for (_, addr) in &metadata.brokers {
            if !self.targets.contains(addr) {
                self.targets.push(*addr);
            }
        }
    }
}

pub(crate) use protocol::increment_sequence;

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let first = backoff_ms(&mut rng, 0, 100, 1_000);
        assert!((80..=100).contains(&first), "{first}");
        let late = backoff_ms(&mut rng, 30, 100, 1_000);
        assert!((800..=1_000).contains(&late), "{late}");
    }

    #[test]
    fn key_hash_is_pinned() {
        // The keyed partitioner depends on it: changing it moves every key.
        assert_eq!(stable_key_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn in_flight_expires_by_deadline() {
        let addr: SocketAddr = "10.0.0.1:9092".parse().unwrap();
        let mut in_flight = InFlight::new(first_correlation_id(1));
        let a = in_flight.start(addr, 100, "a");
        let b = in_flight.start(addr, 200, "b");
        assert_eq!(a, 1 << 40);
        assert_eq!(in_flight.expire(150).len(), 1);
        assert!(in_flight.take(a, addr).is_none());
        let elsewhere: SocketAddr = "10.0.0.2:9092".parse().unwrap();
        assert!(
            in_flight.take(b, elsewhere).is_none(),
            "an answer from elsewhere is dropped"
        );
        assert_eq!(in_flight.take(b, addr).unwrap().kind, "b");
    }

    #[test]
    fn metadata_cache_keeps_the_freshest() {
        let mut cache = MetadataCache::default();
        let v = |version| ClusterMetadata {
            version,
            ..Default::default()
        };
        assert!(cache.update(v(5), 0));
        assert!(!cache.update(v(4), 1));
        assert_eq!(cache.get().unwrap().version, 5);
        assert!(cache.update(v(5), 2));
        assert_eq!(cache.received_ms(), Some(2));
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(5, 3), 8);
    }
}
