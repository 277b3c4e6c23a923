//! The leader-epoch cache of one replica (KIP-101 / KIP-279): for each leader epoch, the offset
//! of the first record that leader appended.
//!
//! It answers "where does my log for epoch e end?" ([`EpochCache::end_offset_for`]), which is how a
//! follower of a new leader finds the point where its log diverged from the leader's and truncates
//! there, instead of trusting its high watermark (the cause of KAFKA-1211-style loss and
//! divergence).
//!
//! The cache is rebuilt from the log on recovery: every batch carries the epoch of the leader
//! that appended it, so the cache is exactly "the first offset of each run of equal epochs". A
//! leader additionally records its epoch at its log end when it takes over, before appending
//! anything, so that a follower asking about that epoch learns its start.

/// (epoch, start offset) pairs, both strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<(u32, u64)>,
}

impl EpochCache {
    pub fn new() -> EpochCache {
        EpochCache::default()
    }

    pub fn entries(&self) -> &[(u32, u64)] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<u32> {
        self.entries.last().map(|&(epoch, _)| epoch)
    }

    /// Records that `epoch` starts at `start_offset`. An epoch already known keeps its earlier
    /// start; an older epoch than the latest is ignored (it cannot start after a newer one).
    pub fn assign(&mut self, epoch: u32, start_offset: u64) {
        match self.entries.last() {
            Some(&(latest, _)) if epoch < latest => {}
            Some(&(latest, _)) if epoch == latest => {}
            Some(&(_, latest_start)) => {
                assert!(
                    start_offset >= latest_start,
                    "epoch {epoch} would start at {start_offset}, before the previous epoch's start {latest_start}"
                );
                self.entries.push((epoch, start_offset));
            }
            None => self.entries.push((epoch, start_offset)),
        }
    }

    /// For a follower asking about `epoch`: the largest epoch <= `epoch` this replica knows, and
    /// the offset where that epoch's records end (the start of the next epoch, or `log_end`).
    /// None when every known epoch is newer than `epoch` (the asker's history predates ours).
    pub fn end_offset_for(&self, epoch: u32, log_end: u64) -> Option<(u32, u64)> {
        let position = self.entries.iter().rposition(|&(e, _)| e <= epoch)?;
        let (found, _) = self.entries[position];
        let end = self
            .entries
            .get(position + 1)
            .map_or(log_end, |&(_, next_start)| next_start);
        Some((found, end.min(log_end)))
    }

    /// Forgets every epoch starting at or after `offset` (the log was truncated there).
    pub fn truncate_from(&mut self, offset: u64) {
        self.entries.retain(|&(_, start)| start < offset);
    }

    /// Forgets epochs wholly below the new log start, keeping the one that covers it.
    pub fn truncate_before(&mut self, log_start: u64) {
        let covering = self
            .entries
            .iter()
            .rposition(|&(_, start)| start <= log_start);
        if let Some(index) = covering {
            self.entries.drain(..index);
            if let Some(first) = self.entries.first_mut() {
                first.1 = first.1.max(log_start);
            }
        }
    }

    /// Everything cleared (a follower restarting its log at the leader's log start).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(u32, u64)]) -> EpochCache {
        let mut cache = EpochCache::new();
        for &(epoch, start) in entries {
            cache.assign(epoch, start);
        }
        cache
    }

    #[test]
    fn end_offset_is_the_next_epoch_start_or_log_end() {
        let cache = cache(&[(0, 0), (2, 10), (5, 30)]);
        assert_eq!(cache.end_offset_for(0, 40), Some((0, 10)));
        assert_eq!(cache.end_offset_for(1, 40), Some((0, 10)));
        assert_eq!(cache.end_offset_for(2, 40), Some((2, 30)));
        assert_eq!(cache.end_offset_for(4, 40), Some((2, 30)));
        assert_eq!(cache.end_offset_for(5, 40), Some((5, 40)));
        assert_eq!(cache.end_offset_for(9, 40), Some((5, 40)));
    }

    #[test]
    fn an_epoch_older_than_everything_known_has_no_end() {
        let cache = cache(&[(3, 100)]);
        assert_eq!(cache.end_offset_for(2, 120), None);
    }

    #[test]
    fn assign_keeps_epochs_increasing() {
        let cache = cache(&[(1, 0), (1, 5), (0, 7), (3, 9)]);
        assert_eq!(cache.entries(), &[(1, 0), (3, 9)]);
    }

    #[test]
    fn truncation_forgets_epochs_that_start_after_the_cut() {
        let mut cache = cache(&[(0, 0), (2, 10), (5, 30)]);
        cache.truncate_from(10);
        assert_eq!(cache.entries(), &[(0, 0)]);
        let mut cache2 = self::cache(&[(0, 0), (2, 10), (5, 30)]);
        cache2.truncate_before(15);
        assert_eq!(cache2.entries(), &[(2, 15), (5, 30)]);
    }
}
