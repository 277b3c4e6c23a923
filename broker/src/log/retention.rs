//! Retention, log start advances and producer expiry.

use super::*;

impl<S: Storage + Clone> Log<S> {
    // ---- retention ----------------------------------------------------------------------------

    /// Deletes whole segments by age (`retention_ms`), then by size (`retention_bytes`), then
    /// those wholly below the log start, oldest first; never the active segment, never one
    /// that holds an offset at or above `high_watermark`. Advances the log start to the first
    /// remaining segment and expires producers whose last batch fell below it.
    pub fn apply_retention(
        &mut self,
        now_ms: i64,
        high_watermark: u64,
    ) -> Result<RetentionOutcome, LogError> {
        self.ensure_online()?;
        let limit = high_watermark.min(self.log_end_offset());
        let mut outcome = RetentionOutcome::default();
        let result = self.delete_by_retention(now_ms, limit, &mut outcome);
        self.finish_log_start_change(&mut outcome);
        result.map(|()| outcome)
    }

    fn delete_by_retention(
        &mut self,
        now_ms: i64,
        limit: u64,
        outcome: &mut RetentionOutcome,
    ) -> Result<(), LogError> {
        if let Some(retention_ms) = self.config.retention_ms {
            let cutoff_ms = now_ms.saturating_sub(retention_ms as i64);
            while let Some(oldest) = self.deletable_oldest(limit) {
                if oldest.max_timestamp_ms.is_none_or(|max| max >= cutoff_ms) {
                    break;
                }
                self.delete_oldest_segment(outcome)?;
            }
        }
        if let Some(retention_bytes) = self.config.retention_bytes {
            while let Some(oldest) = self.deletable_oldest(limit) {
                if self.size_bytes() - oldest.size_bytes < retention_bytes {
                    break;
                }
                self.delete_oldest_segment(outcome)?;
            }
        }
        self.delete_below_log_start(outcome)
    }

    fn delete_below_log_start(&mut self, outcome: &mut RetentionOutcome) -> Result<(), LogError> {
        while let Some(oldest) = self.deletable_oldest(u64::MAX) {
            if oldest.next_offset > self.log_start_offset {
                break;
            }
            self.delete_oldest_segment(outcome)?;
        }
        Ok(())
    }

    /// The oldest segment, if it is not the active one and ends at or below `limit`.
    fn deletable_oldest(&self, limit: u64) -> Option<&Segment> {
        if self.segments.len() < 2 {
            return None;
        }
        let oldest = self.segments.values().next().expect("non-empty");
        (oldest.next_offset <= limit).then_some(oldest)
    }

    fn delete_oldest_segment(&mut self, outcome: &mut RetentionOutcome) -> Result<(), LogError> {
        assert!(self.segments.len() >= 2, "never delete the active segment");
        let (&base, oldest) = self.segments.iter().next().expect("non-empty");
        delete_if_exists(&self.storage, &oldest.log_file)?;
        if let Err(error) = delete_if_exists(&self.storage, &oldest.index_file) {
            tracing::debug!(dir = %self.dir, %error, "index file left behind; dropped on the next open");
        }
        let removed = self.segments.remove(&base).expect("present");
        outcome.segments_deleted.push(base);
        outcome.bytes_deleted += removed.size_bytes;
        let new_first = *self
            .segments
            .keys()
            .next()
            .expect("the active segment remains");
        self.log_start_offset = self.log_start_offset.max(new_first);
        self.durable_end_offset = self.durable_end_offset.max(self.log_start_offset);
        Ok(())
    }

    /// Moves the log start forward to `offset` (Kafka's DeleteRecords; fault injection uses it
    /// to make a follower's log start run ahead of the leader's). Checkpoints it durably first,
    /// then deletes the segments wholly below it. A no-op for an offset at or below the log
    /// start.
    pub fn advance_log_start(&mut self, offset: u64) -> Result<RetentionOutcome, LogError> {
        self.ensure_online()?;
        let mut outcome = RetentionOutcome {
            log_start_offset: self.log_start_offset,
            ..RetentionOutcome::default()
        };
        if offset <= self.log_start_offset {
            return Ok(outcome);
        }
        if offset > self.log_end_offset() {
            return Err(LogError::LogStartBeyondEnd {
                requested: offset,
                log_end: self.log_end_offset(),
            });
        }
        self.persist_log_start(offset)?;
        self.log_start_offset = offset;
        self.durable_end_offset = self.durable_end_offset.max(offset);
        let result = self.delete_below_log_start(&mut outcome);
        self.finish_log_start_change(&mut outcome);
        result.map(|()| outcome)
    }

    fn finish_log_start_change(&mut self, outcome: &mut RetentionOutcome) {
        outcome.log_start_offset = self.log_start_offset;
        outcome
            .producers_expired
            .extend(self.producers.expire_below(self.log_start_offset));
        self.clamp_epochs_to_log_start();
        self.check_invariants();
    }

    /// Forgets one producer's state (fault injection `expire-pid`): its next batch with a
    /// sequence other than 0 gets `UnknownProducerId`. Recovery or a truncation, which rebuild
    /// the state from the log, bring it back while its batches are retained.
    pub fn expire_producer(&mut self, producer_id: i64) -> bool {
        self.producers.expire_producer(producer_id)
    }

    pub(super) fn persist_log_start(&mut self, offset: u64) -> Result<(), StorageError> {
        let payload = offset.to_be_bytes();
        if self.log_start_journal.needs_rewrite() {
            return self.log_start_journal.rewrite(&payload);
        }
        self.log_start_journal.append(&payload)?;
        if self.log_start_journal.size_bytes() > LOG_START_JOURNAL_BYTES_MAX {
            // Compaction failing is harmless: the entry is durable, and a failed rewrite
            // leaves the journal asking for another.
            let _ = self.log_start_journal.rewrite(&payload);
        }
        Ok(())
    }
}
