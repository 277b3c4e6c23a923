//! Appends (as leader and as follower), syncing and rolling segments.

use super::*;

impl<S: Storage + Clone> Log<S> {
    // ---- appends ------------------------------------------------------------------------------

    /// Appends a producer's batch as the leader of `leader_epoch`: checks it and its producer
    /// sequence, stamps the base offset (the log end) and the epoch, writes it. A duplicate of
    /// one of the producer's last batches writes nothing and answers the original offsets.
    ///
    /// The batch's bytes are stored as the producer sent them but for the two stamped fields,
    /// which its CRC does not cover: nothing is decoded or encoded again.
    pub fn append_as_leader(
        &mut self,
        batch: impl IntoStored,
        leader_epoch: u32,
        now_ms: i64,
    ) -> Result<AppendOutcome, LogError> {
        self.ensure_online()?;
        let batch = batch.into_stored()?;
        let base_offset = self.log_end_offset();
        let record_count = batch.header.record_count as u64;
        if base_offset > OFFSET_MAX - (record_count - 1) {
            return Err(LogError::InvalidBatch(BatchError::OffsetOverflow {
                base_offset,
                record_count,
            }));
        }
        let batch = stamped(batch, base_offset, leader_epoch);
        if let Some(producer_batch) = producer_batch_of_header(&batch.header) {
            if let SequenceCheck::Duplicate {
                base_offset,
                last_offset,
            } = self.producers.check(producer_batch)?
            {
                return Ok(AppendOutcome::Duplicate {
                    base_offset,
                    last_offset,
                });
            }
        }
        let last_offset = batch.header.last_offset();
        self.write_batch(&batch, now_ms)?;
        self.sync_if_configured(base_offset, last_offset)?;
        Ok(AppendOutcome::Appended {
            base_offset,
            last_offset,
        })
    }

    /// Appends batches fetched from the leader, keeping their offsets and epochs. Each must
    /// start at the log end. On an error the batches before the failing one stay appended
    /// (see [`Log::log_end_offset`]). Returns the new log end.
    pub fn append_replicated<B>(&mut self, batches: &[B], now_ms: i64) -> Result<u64, LogError>
    where
        for<'a> &'a B: IntoStored,
    {
        self.ensure_online()?;
        let first_base = self.log_end_offset();
        let mut last_offset = None;
        for batch in batches {
            let batch = batch.into_stored()?;
            if batch.header.base_offset != self.log_end_offset() {
                return Err(LogError::NonContiguous {
                    base_offset: batch.header.base_offset,
                    log_end: self.log_end_offset(),
                });
            }
            self.write_batch(&batch, now_ms)?;
            last_offset = Some(batch.header.last_offset());
        }
        if let Some(last_offset) = last_offset {
            self.sync_if_configured(first_base, last_offset)?;
        }
        Ok(self.log_end_offset())
    }

    /// Writes one valid batch at the log end, rolling first if due.
    fn write_batch(&mut self, batch: &StoredBatch, now_ms: i64) -> Result<(), LogError> {
        let header = batch.header;
        assert_eq!(header.base_offset, self.log_end_offset());
        let bytes = &batch.bytes;
        if self.roll_is_due(header.batch_bytes(), now_ms) {
            self.roll_active()?;
        }
        let log_file = self.active().log_file.clone();
        if let Err(error) = self.storage.append(&log_file, bytes) {
            if error.is_not_found() {
                self.go_offline(format!("active segment {log_file} vanished"));
            }
            return Err(error.into());
        }
        let interval = self.config.index_interval_bytes;
        self.active_mut().on_appended(&header, interval);
        if let Some(producer_batch) = producer_batch_of_header(&header) {
            self.producers
                .record(producer_batch, header.base_offset, header.last_offset());
        }
        self.note_epoch(header.partition_leader_epoch, header.base_offset);
        self.read_view.note_active(&self.segments);
        self.check_invariants();
        Ok(())
    }

    fn sync_if_configured(&mut self, base_offset: u64, last_offset: u64) -> Result<(), LogError> {
        if self.config.sync != SyncPolicy::EveryAppend {
            return Ok(());
        }
        match self.sync() {
            Ok(_) => Ok(()),
            Err(LogError::Storage(source)) => Err(LogError::NotDurable {
                base_offset,
                last_offset,
                source,
            }),
            Err(other) => Err(other),
        }
    }

    /// Syncs every segment with unsynced bytes, oldest first, and returns the durable end.
    /// Index files are flushed too; an index flush failure is not reported (the index is a
    /// cache; the flush is retried by the next sync).
    pub fn sync(&mut self) -> Result<u64, LogError> {
        self.ensure_online()?;
        let mut durable_end = self.durable_end_offset;
        let mut failure = None;
        for segment in self.segments.values_mut() {
            if segment.durable_size_bytes < segment.size_bytes {
                if let Err(error) = self.storage.sync(&segment.log_file) {
                    failure = Some(error);
                    break;
                }
                segment.durable_size_bytes = segment.size_bytes;
            }
            durable_end = durable_end.max(segment.next_offset);
        }
        self.durable_end_offset = durable_end;
        if let Some(error) = failure {
            if error.is_not_found() {
                self.go_offline(format!("segment vanished: {error}"));
            }
            return Err(error.into());
        }
        for segment in self.segments.values_mut() {
            if segment.needs_sync() {
                if let Err(error) = segment.sync(&self.storage) {
                    tracing::debug!(dir = %self.dir, %error, "index flush failed; retried at the next sync");
                }
            }
        }
        self.check_invariants();
        Ok(self.durable_end_offset)
    }

    // ---- rolling ------------------------------------------------------------------------------

    fn roll_is_due(&self, next_batch_bytes: u64, now_ms: i64) -> bool {
        let active = self.active();
        !active.is_empty()
            && (active.size_bytes + next_batch_bytes > self.config.segment_bytes_max
                || self.segment_age_due(active, now_ms))
    }

    fn segment_age_due(&self, segment: &Segment, now_ms: i64) -> bool {
        match (self.config.segment_ms, segment.first_batch_timestamp_ms) {
            (Some(segment_ms), Some(first_ms)) => {
                now_ms.saturating_sub(first_ms) >= segment_ms as i64
            }
            _ => false,
        }
    }

    /// Starts a new active segment at the log end unless the active one is empty. Does not
    /// sync the old one. Returns whether it rolled.
    pub fn roll(&mut self) -> Result<bool, LogError> {
        self.ensure_online()?;
        if self.active().is_empty() {
            return Ok(false);
        }
        self.roll_active()?;
        Ok(true)
    }

    /// Rolls if the active segment's first batch is at least `segment_ms` old at `now_ms`.
    pub fn roll_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        self.ensure_online()?;
        if self.active().is_empty() || !self.segment_age_due(self.active(), now_ms) {
            return Ok(false);
        }
        self.roll_active()?;
        Ok(true)
    }

    fn roll_active(&mut self) -> Result<(), LogError> {
        let base = self.log_end_offset();
        let segment = self.create_segment(base)?;
        self.segments.insert(base, segment);
        self.read_view.note_active(&self.segments);
        self.check_invariants();
        Ok(())
    }

    /// Creates the file of a new, empty segment. Any file already under that name lies beyond
    /// the log (a leftover) and is emptied.
    pub(super) fn create_segment(&mut self, base_offset: u64) -> Result<Segment, StorageError> {
        let id = self.new_segment_id();
        let segment = Segment::empty(id, &self.dir, base_offset);
        match self.storage.create(&segment.log_file) {
            Ok(()) => {}
            Err(StorageError::AlreadyExists { .. }) => {
                self.storage.truncate(&segment.log_file, 0)?;
            }
            Err(error) => return Err(error),
        }
        Ok(segment)
    }
}

/// `batch` with its base offset and leader epoch stamped into a copy of its bytes.
fn stamped(batch: StoredBatch, base_offset: u64, leader_epoch: u32) -> StoredBatch {
    let mut bytes = bytes::BytesMut::from(&batch.bytes[..]);
    stamp(&mut bytes, base_offset, leader_epoch);
    StoredBatch {
        header: BatchHeader {
            base_offset,
            partition_leader_epoch: leader_epoch,
            ..batch.header
        },
        bytes: bytes.freeze(),
    }
}
