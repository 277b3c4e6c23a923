//! Truncation: follower truncation and restarting the log at an offset.

use super::*;

impl<S: Storage + Clone> Log<S> {
    // ---- truncation ---------------------------------------------------------------------------

    /// Removes every batch at or above `offset` (follower truncation, KIP-101). The batch that
    /// contains `offset` goes entirely, so the new log end is that batch's base offset, which
    /// may be below `offset`. Truncating below the first segment empties the log and restarts
    /// it at `offset` (the log start moves back: the leader will re-send those records);
    /// a log start above the new end is lowered to it. A no-op at or past the log end.
    pub fn truncate_to(&mut self, offset: u64) -> Result<(), LogError> {
        self.ensure_online()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let first_base = *self.segments.keys().next().expect("non-empty");
        if offset < first_base {
            return self.truncate_fully_and_start_at(offset);
        }

        // Read-only pass: where to cut, and the producer state below the cut.
        let (&cut_base, cut_segment) = self
            .segments
            .range(..=offset)
            .next_back()
            .expect("offset is at or above the first segment");
        let cut_log_file = cut_segment.log_file.clone();
        let cut_scan = scan_segment(&self.storage, &cut_log_file, cut_base, false)?;
        let Some(cut_batch) = cut_scan
            .batches
            .iter()
            .position(|scanned| scanned.header.next_offset() > offset)
        else {
            return Err(LogError::CorruptSegment {
                segment_base_offset: cut_base,
                position: cut_scan.valid_bytes,
                reason: format!("no batch holds offset {offset}"),
            });
        };
        let cut_position = cut_scan.batches[cut_batch].position;
        let new_end = cut_scan.batches[cut_batch].header.base_offset;
        let mut producers = ProducerStateTable::new();
        for segment in self.segments.range(..cut_base).map(|(_, segment)| segment) {
            let scan = scan_segment(&self.storage, &segment.log_file, segment.base_offset, false)?;
            for scanned in &scan.batches {
                record_header(&mut producers, &scanned.header);
            }
        }
        let kept = &cut_scan.batches[..cut_batch];
        for scanned in kept {
            record_header(&mut producers, &scanned.header);
        }
        let kept_max_timestamp_ms = kept
            .iter()
            .map(|scanned| scanned.header.max_timestamp_ms)
            .max();

        // Once something changed, a failure leaves memory and disk apart: the log goes
        // offline. A failure of the first change leaves everything as it was.
        let later: Vec<u64> = self
            .segments
            .range(cut_base + 1..)
            .map(|(&base, _)| base)
            .rev()
            .collect();
        let mut changed = false;
        for base in later {
            let segment = &self.segments[&base];
            if let Err(error) = delete_if_exists(&self.storage, &segment.log_file) {
                if changed {
                    self.go_offline(format!("truncation to {offset} failed: {error}"));
                }
                return Err(error.into());
            }
            changed = true;
            let _ = delete_if_exists(&self.storage, &segment.index_file);
            self.segments.remove(&base);
        }
        if let Err(error) = self.storage.truncate(&cut_log_file, cut_position) {
            if changed {
                self.go_offline(format!("truncation to {offset} failed: {error}"));
            }
            return Err(error.into());
        }
        let id = self.new_segment_id();
        let segment = self.segments.get_mut(&cut_base).expect("present");
        segment.id = id;
        segment.size_bytes = cut_position;
        segment.durable_size_bytes = segment.durable_size_bytes.min(cut_position);
        segment.next_offset = new_end;
        segment.max_timestamp_ms = kept_max_timestamp_ms;
        if kept.is_empty() {
            segment.first_batch_timestamp_ms = None;
        }
        segment.index.truncate_to_position(cut_position);

        self.durable_end_offset = self.durable_end_offset.min(new_end);
        self.epochs.retain(|entry| entry.start_offset < new_end);
        if new_end < self.log_start_offset {
            self.log_start_offset = new_end;
            if let Err(error) = self.persist_log_start(new_end) {
                self.go_offline(format!("checkpoint of log start {new_end} failed: {error}"));
                return Err(error.into());
            }
        }
        producers.expire_below(self.log_start_offset);
        self.producers = producers;
        self.read_view.rebuild(&self.segments);
        self.check_invariants();
        Ok(())
    }

    /// Empties the log and restarts it at `offset`, which becomes both log start and log end
    /// (Kafka's `truncateFullyAndStartAt`: a follower whose log is entirely below, or entirely
    /// divergent from, the leader's). The new log start is checkpointed first.
    pub fn truncate_fully_and_start_at(&mut self, offset: u64) -> Result<(), LogError> {
        self.ensure_online()?;
        assert!(offset <= OFFSET_MAX, "log start {offset} beyond OFFSET_MAX");
        self.persist_log_start(offset)?;
        let bases: Vec<u64> = self.segments.keys().rev().copied().collect();
        for base in bases {
            let segment = &self.segments[&base];
            if let Err(error) = delete_if_exists(&self.storage, &segment.log_file) {
                self.go_offline(format!("full truncation failed: {error}"));
                return Err(error.into());
            }
            let _ = delete_if_exists(&self.storage, &segment.index_file);
        }
        self.segments.clear();
        match self.create_segment(offset) {
            Ok(segment) => {
                self.segments.insert(offset, segment);
            }
            Err(error) => {
                // Keep the in-memory log well-formed while offline.
                let id = self.new_segment_id();
                self.segments
                    .insert(offset, Segment::empty(id, &self.dir, offset));
                self.go_offline(format!("full truncation failed: {error}"));
                self.log_start_offset = offset;
                self.durable_end_offset = offset;
                return Err(error.into());
            }
        }
        self.log_start_offset = offset;
        self.durable_end_offset = offset;
        self.producers = ProducerStateTable::new();
        self.epochs.clear();
        self.read_view.rebuild(&self.segments);
        self.check_invariants();
        Ok(())
    }
}
