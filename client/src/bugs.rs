//! Client bug switches: each one puts a real, historical client bug back, faithfully to its
//! mechanism, so that a scenario can show the oracle catching it. All are off by default; the
//! correct client is what runs unless a switch is named.
//!
//! | name | real bug | mechanism reintroduced |
//! |---|---|---|
//! | `evicted-offset-retry-loop` | fluvio #4514 (fixed by PR #4511) | on `OffsetEvicted` the consumer fetches the same evicted offset again, forever |
//! | `last-record-never-committed` | fluvio #4505 (fixed by PR #4504) | yielding record N commits N-1 (Kafka convention: commits N instead of N+1) |
//! | `commit-on-fetch` | (classic at-most-once consumer) | the commit position advances when records are fetched, before the application gets them |
//! | `producer-fixed-partitions` | fluvio #4079 (fixed by PR #4090) | the producer's partition set of a topic is fixed when it first sees the topic |
//! | `pid-reset-without-bump` | pre-KIP-360 clients, KIP-360 "unsafe" case | on `UnknownProducerId` sequences restart at 0 under the same epoch, without waiting for in-flight batches |
//! | `pid-loss-fatal` | franz-go `StopOnDataLoss`-like fatal handling | `UnknownProducerId` fails every pending and every later send |
//! | `follower-ooor-spin` | franz-go #885 (fixed by PR #886) | out-of-range from a KIP-392 follower: the consumer keeps asking that follower |

use std::collections::BTreeSet;
use std::fmt;

/// One client bug switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientBug {
    /// fluvio #4514: on `OffsetEvicted` the consumer retries the same evicted offset forever.
    EvictedOffsetRetryLoop,
    /// fluvio #4505: yielding record N commits N-1, so the last record is never committed.
    LastRecordNeverCommitted,
    /// Offsets are committed when fetched, before the application receives the records.
    CommitOnFetch,
    /// fluvio #4079: the producer never uses partitions added after it first saw the topic.
    ProducerFixedPartitions,
    /// KIP-360's unsafe case: reset sequences to 0 under the same epoch on `UnknownProducerId`.
    PidResetWithoutBump,
    /// `UnknownProducerId` is fatal: every pending and later send fails.
    PidLossFatal,
    /// franz-go #885: out-of-range from a follower, and the consumer keeps asking the follower.
    FollowerOoorSpin,
}

impl ClientBug {
    /// Every switch, in catalog order.
    pub const ALL: [ClientBug; 7] = [
        ClientBug::EvictedOffsetRetryLoop,
        ClientBug::LastRecordNeverCommitted,
        ClientBug::CommitOnFetch,
        ClientBug::ProducerFixedPartitions,
        ClientBug::PidResetWithoutBump,
        ClientBug::PidLossFatal,
        ClientBug::FollowerOoorSpin,
    ];

    /// The kebab-case name used on the command line (`--bug NAME`) and in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            ClientBug::EvictedOffsetRetryLoop => "evicted-offset-retry-loop",
            ClientBug::LastRecordNeverCommitted => "last-record-never-committed",
            ClientBug::CommitOnFetch => "commit-on-fetch",
            ClientBug::ProducerFixedPartitions => "producer-fixed-partitions",
            ClientBug::PidResetWithoutBump => "pid-reset-without-bump",
            ClientBug::PidLossFatal => "pid-loss-fatal",
            ClientBug::FollowerOoorSpin => "follower-ooor-spin",
        }
    }

    pub fn from_name(name: &str) -> Option<ClientBug> {
        ClientBug::ALL.into_iter().find(|bug| bug.name() == name)
    }

    /// The real issue this switch reproduces.
    pub fn source(self) -> &'static str {
        match self {
            ClientBug::EvictedOffsetRetryLoop => "fluvio #4514 (fixed by PR #4511)",
            ClientBug::LastRecordNeverCommitted => "fluvio #4505 (fixed by PR #4504)",
            ClientBug::CommitOnFetch => {
                "at-most-once commit before processing (fluvio RFC #3856 discussion)"
            }
            ClientBug::ProducerFixedPartitions => "fluvio #4079 (fixed by PR #4090)",
            ClientBug::PidResetWithoutBump => {
                "KIP-360 (resetting sequences under the same epoch is unsafe)"
            }
            ClientBug::PidLossFatal => "franz-go #805 (data-loss handling treated as fatal)",
            ClientBug::FollowerOoorSpin => "franz-go #885 (fixed by PR #886)",
        }
    }
}

impl fmt::Display for ClientBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of client bug switches; empty (the correct client) by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientBugs {
    enabled: BTreeSet<ClientBug>,
}

impl ClientBugs {
    /// No bug: the correct client.
    pub fn none() -> ClientBugs {
        ClientBugs::default()
    }

    pub fn with(mut self, bug: ClientBug) -> ClientBugs {
        self.enabled.insert(bug);
        self
    }

    pub fn enable(&mut self, bug: ClientBug) {
        self.enabled.insert(bug);
    }

    pub fn is_enabled(&self, bug: ClientBug) -> bool {
        self.enabled.contains(&bug)
    }

    pub fn is_empty(&self) -> bool {
        self.enabled.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = ClientBug> + '_ {
        self.enabled.iter().copied()
    }

    /// Parses names as given to `--bug`; an unknown name is an error naming it.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<ClientBugs, String> {
        let mut bugs = ClientBugs::none();
        for name in names {
            let bug =
                ClientBug::from_name(name).ok_or_else(|| format!("unknown client bug {name:?}"))?;
            bugs.enable(bug);
        }
        Ok(bugs)
    }
}

impl FromIterator<ClientBug> for ClientBugs {
    fn from_iter<I: IntoIterator<Item = ClientBug>>(iter: I) -> Self {
        ClientBugs {
            enabled: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        for bug in ClientBug::ALL {
            assert_eq!(ClientBug::from_name(bug.name()), Some(bug));
            assert!(bug
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
        }
        assert_eq!(ClientBug::from_name("no-such-bug"), None);
    }

    #[test]
    fn sets_parse_and_default_to_none() {
        assert!(ClientBugs::default().is_empty());
        let bugs = ClientBugs::from_names(["pid-loss-fatal", "commit-on-fetch"]).unwrap();
        assert!(bugs.is_enabled(ClientBug::PidLossFatal));
        assert!(bugs.is_enabled(ClientBug::CommitOnFetch));
        assert!(!bugs.is_enabled(ClientBug::FollowerOoorSpin));
        assert!(ClientBugs::from_names(["nope"]).is_err());
    }
}
