//! Switches for historical broker bugs. All off by default: the correct broker is the default.
//!
//! Each [`BrokerBug`] re-creates the mechanism of a real bug so that scenarios can show the
//! oracle catching it (`streamsim run --bug NAME`). Names are kebab-case and stable: they appear
//! on command lines, in scenario files and in reports.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One historical broker bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerBug {
    /// `stale-segment-read` — fluvio #3891, fixed by PR #3902. The log reads through a cached
    /// view of its segments that retention does not invalidate. A fetch of an offset whose
    /// segment retention deleted reopens the deleted file and answers the storage's "not found"
    /// (or "segment not found" below the cached view) as an internal error, instead of
    /// `OffsetEvicted { offset, next_available }` with the current log start.
    /// Implemented in [`crate::log`].
    StaleSegmentRead,
    /// `hw-before-isr` — the leader advances the high watermark before every in-sync replica
    /// has the offset (acks=all acknowledged too early; a leader change then loses the record).
    /// Implemented in the replica layer.
    HwBeforeIsr,
    /// `no-follower-truncation` — a follower skips the KIP-101 truncation by leader epoch when
    /// the leader changes, keeping a divergent tail (inconsistent offsets across replicas).
    /// Implemented in the replica layer.
    NoFollowerTruncation,
    /// `unclean-election` — the controller elects a leader outside the ISR (Kafka's
    /// `unclean.leader.election.enable=true`), losing acknowledged records.
    /// Implemented in the controller.
    UncleanElection,
}

impl BrokerBug {
    /// Every bug, in a fixed order.
    pub const ALL: [BrokerBug; 4] = [
        BrokerBug::StaleSegmentRead,
        BrokerBug::HwBeforeIsr,
        BrokerBug::NoFollowerTruncation,
        BrokerBug::UncleanElection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BrokerBug::StaleSegmentRead => "stale-segment-read",
            BrokerBug::HwBeforeIsr => "hw-before-isr",
            BrokerBug::NoFollowerTruncation => "no-follower-truncation",
            BrokerBug::UncleanElection => "unclean-election",
        }
    }

    pub fn from_name(name: &str) -> Option<BrokerBug> {
        BrokerBug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

impl fmt::Display for BrokerBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The set of bugs switched on. Empty (the correct broker) by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BugSet(BTreeSet<BrokerBug>);

impl BugSet {
    /// No bug: the correct broker.
    pub fn none() -> BugSet {
        BugSet::default()
    }

    pub fn of(bugs: impl IntoIterator<Item = BrokerBug>) -> BugSet {
        BugSet(bugs.into_iter().collect())
    }

    pub fn with(mut self, bug: BrokerBug) -> BugSet {
        self.0.insert(bug);
        self
    }

    pub fn insert(&mut self, bug: BrokerBug) -> bool {
        self.0.insert(bug)
    }

    pub fn remove(&mut self, bug: BrokerBug) -> bool {
        self.0.remove(&bug)
    }

    pub fn is_on(&self, bug: BrokerBug) -> bool {
        self.0.contains(&bug)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = BrokerBug> + '_ {
        self.0.iter().copied()
    }

    /// Parses bug names; the error names the first unknown one.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<BugSet, UnknownBug> {
        names
            .into_iter()
            .map(|name| {
                BrokerBug::from_name(name).ok_or_else(|| UnknownBug {
                    name: name.to_string(),
                })
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(BugSet)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown broker bug {name:?} (known: stale-segment-read, hw-before-isr, no-follower-truncation, unclean-election)")]
pub struct UnknownBug {
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_kebab_case() {
        for bug in BrokerBug::ALL {
            assert_eq!(BrokerBug::from_name(bug.name()), Some(bug));
            assert!(bug
                .name()
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'-'));
        }
        assert_eq!(BrokerBug::from_name("Stale-Segment-Read"), None);
        assert_eq!(BrokerBug::ALL[0].name(), "stale-segment-read");
    }

    #[test]
    fn default_is_the_correct_broker() {
        let bugs = BugSet::default();
        assert!(BrokerBug::ALL.iter().all(|bug| !bugs.is_on(*bug)));
        let bugs = BugSet::from_names(["stale-segment-read"]).unwrap();
        assert!(bugs.is_on(BrokerBug::StaleSegmentRead));
        assert_eq!(
            BugSet::from_names(["nope"]),
            Err(UnknownBug {
                name: "nope".into()
            })
        );
    }
}
