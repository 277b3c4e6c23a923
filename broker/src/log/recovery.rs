//! Opening a log: crash recovery from what is on disk.

use super::*;

impl<S: Storage + Clone> Log<S> {
    // ---- opening and recovery ---------------------------------------------------------------

    /// Opens the log under `dir` (creating it if empty), recovering from whatever a crash left.
    pub fn open(
        storage: S,
        dir: &str,
        config: LogConfig,
    ) -> Result<(Log<S>, RecoveryReport), LogError> {
        Log::open_scanned(storage, dir, config, None, None)
    }

    /// [`Log::open`], also returning every batch the recovered log holds from the batch holding
    /// its log start to its log end, in order: what reading the log from its log start to its
    /// end returns, taken from the bytes the recovery scan read and checked (each segment file
    /// is read once; recovery truncated every kept file to the batches it checked).
    /// `scans` are the scans kept from earlier openings (on other snapshots of the disk), which
    /// spare scanning again the batches they checked (see [`SegmentScans`]).
    pub(crate) fn open_with_batches(
        storage: S,
        dir: &str,
        config: LogConfig,
        scans: &mut SegmentScans,
    ) -> Result<(Log<S>, Vec<StoredBatch>), LogError> {
        let mut scanned = BTreeMap::new();
        let (log, _) = Log::open_scanned(storage, dir, config, Some(&mut scanned), Some(scans))?;
        let log_start = log.log_start_offset;
        let mut batches = Vec::new();
        for base in log.segments.keys() {
            // A segment recovery created (an empty log) was not scanned: it holds nothing.
            let Some((bytes, scanned_batches)) = scanned.remove(base) else {
                continue;
            };
            for batch in scanned_batches {
                if batch.header.next_offset() <= log_start {
                    continue;
                }
                let position = batch.position as usize;
                batches.push(StoredBatch {
                    header: batch.header,
                    bytes: bytes.slice(position..position + batch.header.batch_bytes() as usize),
                });
            }
        }
        Ok((log, batches))
    }

    fn open_scanned(
        storage: S,
        dir: &str,
        config: LogConfig,
        mut scanned: Option<&mut BTreeMap<u64, (bytes::Bytes, Vec<segment::ScannedBatch>)>>,
        mut scans: Option<&mut SegmentScans>,
    ) -> Result<(Log<S>, RecoveryReport), LogError> {
        config.validate()?;
        let dir = normalize_dir(dir);
        let (log_start_journal, log_start_checkpoint) =
            open_log_start_journal(storage.clone(), &dir)?;

        let mut log_bases = BTreeSet::new();
        let mut index_bases = BTreeSet::new();
        for name in storage.list(&dir)? {
            match parse_segment_file(&dir, &name) {
                Some((base, SegmentFileKind::Log)) => {
                    log_bases.insert(base);
                }
                Some((base, SegmentFileKind::Index)) => {
                    index_bases.insert(base);
                }
                None => {}
            }
        }

        let read_view = ReadView::new(config.segment_view_policy);
        let mut log = Log {
            storage,
            dir,
            config,
            segments: BTreeMap::new(),
            log_start_offset: 0,
            durable_end_offset: 0,
            producers: ProducerStateTable::new(),
            epochs: Vec::new(),
            log_start_journal,
            read_view,
            next_segment_id: 0,
            offline: None,
        };
        let mut report = RecoveryReport {
            log_start_checkpoint,
            ..RecoveryReport::default()
        };

        // Scan the segments in order; after a cut or a gap, everything later goes.
        let mut headers: Vec<BatchHeader> = Vec::new();
        let mut expected_base: Option<u64> = None;
        let mut cut = false;
        for &base in &log_bases {
            let log_file = segment::log_file_name(&log.dir, base);
            if cut || expected_base.is_some_and(|expected| expected != base) {
                if !cut {
                    report.cut = Some(RecoveryCut {
                        segment_base_offset: base,
                        position: 0,
                        reason: format!(
                            "gap: segment at {base} follows a log ending at {}",
                            expected_base.unwrap_or(0)
                        ),
                    });
                    cut = true;
                }
                delete_if_exists(&log.storage, &log_file)?;
                report.segments_deleted.push(base);
                continue;
            }
            let (scan, bytes) = match scans.as_deref_mut() {
                Some(scans) => scans.scan(&log.storage, &log_file, base)?,
                None => {
                    let (scan, bytes) = scan_segment_bytes(&log.storage, &log_file, base, true)?;
                    (scan, bytes::Bytes::from(bytes))
                }
            };
            let id = log.new_segment_id();
            let mut segment = Segment::empty(id, &log.dir, base);
            for scanned in &scan.batches {
                segment.on_appended(&scanned.header, log.config.index_interval_bytes);
                headers.push(scanned.header);
            }
            if let Some(reason) = scan.stopped {
                tracing::warn!(dir = %log.dir, base, position = scan.valid_bytes, %reason, "recovery cuts the log");
                log.storage.truncate(&log_file, scan.valid_bytes)?;
                report.bytes_dropped += scan.file_bytes - scan.valid_bytes;
                report.cut = Some(RecoveryCut {
                    segment_base_offset: base,
                    position: scan.valid_bytes,
                    reason,
                });
                cut = true;
            }
            expected_base = Some(segment.next_offset);
            log.segments.insert(base, segment);
            if let Some(scanned) = scanned.as_deref_mut() {
                scanned.insert(base, (bytes, scan.batches));
            }
        }

        // The log start: the checkpoint or the first segment, whichever is later.
        let first_base = log.segments.keys().next().copied();
        let log_start = log_start_checkpoint
            .unwrap_or(0)
            .max(first_base.unwrap_or(0));
        // Segments wholly below it (a crash between the checkpoint and their deletion).
        while log.segments.len() > 1 {
            let (&base, first) = log.segments.iter().next().expect("non-empty");
            if first.next_offset > log_start {
                break;
            }
            delete_if_exists(&log.storage, &first.log_file)?;
            report.segments_deleted.push(base);
            log.segments.remove(&base);
        }
        let log_end = log
            .segments
            .values()
            .next_back()
            .map(|last| last.next_offset);
        if log_end.is_none_or(|end| end < log_start) {
            // Nothing, or not even up to the announced log start, survived: start empty there.
            for (&base, segment) in &log.segments {
                delete_if_exists(&log.storage, &segment.log_file)?;
                report.segments_deleted.push(base);
            }
            log.segments.clear();
            let segment = log.create_segment(log_start)?;
            log.segments.insert(log_start, segment);
            if log_end.is_some() || log_start_checkpoint.is_some() {
                report.restarted_empty_at = Some(log_start);
            }
        }
        log.log_start_offset = log_start;
        let first_kept = *log.segments.keys().next().expect("non-empty");
        let log_end = log.log_end_offset();

        // Producer state and leader epochs from the retained batches.
        for header in headers
            .iter()
            .filter(|header| header.base_offset >= first_kept && header.next_offset() <= log_end)
        {
            if let Some(producer_batch) = producer_batch_of_header(header) {
                log.producers
                    .record(producer_batch, header.base_offset, header.last_offset());
            }
            log.note_epoch(header.partition_leader_epoch, header.base_offset);
            report.batches += 1;
        }
        log.producers.expire_below(log_start);
        log.clamp_epochs_to_log_start();

        // Orphaned index files (their segment is gone).
        for base in index_bases {
            if !log.segments.contains_key(&base) {
                let _ = log
                    .storage
                    .delete(&segment::index_file_name(&log.dir, base));
            }
        }
        log.read_view.rebuild(&log.segments);
        // Everything that survived is made durable (a reopen without a crash may find
        // unsynced bytes), and the index files are rewritten.
        for segment in log.segments.values_mut() {
            segment.durable_size_bytes = 0;
        }
        log.durable_end_offset = log_start;
        log.sync()?;
        report.segments = log.segments.len();
        report.log_start_offset = log.log_start_offset;
        report.log_end_offset = log.log_end_offset();
        log.check_invariants();
        tracing::debug!(dir = %log.dir, ?report, "log opened");
        Ok((log, report))
    }
}

/// The names of the files of the journal of a log's start under `dir` (a directory name ending
/// in `/`) start with this.
pub(crate) fn log_start_journal_prefix(dir: &str) -> String {
    format!("{dir}log-start-offset-")
}

/// Opens the journal of the log start under `dir` (writing one when there is none), and the
/// log start it last recorded.
pub(crate) fn open_log_start_journal<S: Storage>(
    storage: S,
    dir: &str,
) -> Result<(Journal<S>, Option<u64>), StorageError> {
    let (journal, recovery) = Journal::open(storage, &log_start_journal_prefix(dir))?;
    let checkpoint = recovery
        .entries
        .last()
        .or(Some(&recovery.snapshot))
        .and_then(|payload| decode_checkpoint(payload));
    Ok((journal, checkpoint))
}
