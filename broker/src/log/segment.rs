//! One segment of a partition log: a `.log` file of consecutive batches and its sparse index.

use super::index::SparseIndex;
use crate::batch::{verify_bytes, BatchHeader, BATCH_HEADER_BYTES};
use crate::storage::{Storage, StorageError};

const OFFSET_DIGITS: usize = 20;

pub(crate) fn log_file_name(dir: &str, base_offset: u64) -> String {
    segment_file_name(dir, base_offset, ".log")
}

pub(crate) fn index_file_name(dir: &str, base_offset: u64) -> String {
    segment_file_name(dir, base_offset, ".index")
}

/// `{dir}{base_offset:020}{suffix}`, without the formatting machinery: recovery builds two names
/// per segment on every open, and the state checker opens every replica's log at each sample.
fn segment_file_name(dir: &str, base_offset: u64, suffix: &str) -> String {
    // u64::MAX has 20 digits: the zero-padded form is always exactly OFFSET_DIGITS long.
    let mut digits = [b'0'; OFFSET_DIGITS];
    let mut rest = base_offset;
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut name = String::with_capacity(dir.len() + OFFSET_DIGITS + suffix.len());
    name.push_str(dir);
    name.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    name.push_str(suffix);
    name
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegmentFileKind {
    Log,
    Index,
}

/// Parses `{dir}{base_offset:020}.log` / `.index`; anything else is not a segment file.
pub(crate) fn parse_segment_file(dir: &str, name: &str) -> Option<(u64, SegmentFileKind)> {
    let rest = name.strip_prefix(dir)?;
    let (digits, kind) = if let Some(digits) = rest.strip_suffix(".log") {
        (digits, SegmentFileKind::Log)
    } else {
        (rest.strip_suffix(".index")?, SegmentFileKind::Index)
    };
    if digits.len() != OFFSET_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, kind))
}

/// The in-memory view of one segment.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    /// Unique within one opened log; a new id whenever the segment's content is cut, so that a
    /// read planned against the old content notices.
    pub(crate) id: u64,
    pub(crate) base_offset: u64,
    /// Offset after the last batch (= `base_offset` when empty).
    pub(crate) next_offset: u64,
    pub(crate) size_bytes: u64,
    /// Bytes known synced.
    pub(crate) durable_size_bytes: u64,
    /// Largest timestamp of the first batch: the segment's age for `segment_ms`.
    pub(crate) first_batch_timestamp_ms: Option<i64>,
    /// Largest timestamp of any batch: the segment's age for `retention_ms`.
    pub(crate) max_timestamp_ms: Option<i64>,
    pub(crate) index: SparseIndex,
    /// Shared with the read plans and views that name it (a read copies no name).
    pub(crate) log_file: std::sync::Arc<str>,
    pub(crate) index_file: String,
}

impl Segment {
    pub(crate) fn empty(id: u64, dir: &str, base_offset: u64) -> Segment {
        Segment {
            id,
            base_offset,
            next_offset: base_offset,
            size_bytes: 0,
            durable_size_bytes: 0,
            first_batch_timestamp_ms: None,
            max_timestamp_ms: None,
            index: SparseIndex::new_dirty(),
            log_file: log_file_name(dir, base_offset).into(),
            index_file: index_file_name(dir, base_offset),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.size_bytes == 0
    }

    /// Accounts for a batch written at the end of the file.
    pub(crate) fn on_appended(&mut self, header: &BatchHeader, index_interval_bytes: u64) {
        assert_eq!(
            header.base_offset, self.next_offset,
            "segment {}: batch at {} appended after offset {}",
            self.log_file, header.base_offset, self.next_offset
        );
        self.index.on_batch(
            header.base_offset,
            self.size_bytes,
            header.batch_bytes(),
            index_interval_bytes,
        );
        self.size_bytes += header.batch_bytes();
        self.next_offset = header.next_offset();
        if self.first_batch_timestamp_ms.is_none() {
            self.first_batch_timestamp_ms = Some(header.max_timestamp_ms);
        }
        self.max_timestamp_ms = Some(
            self.max_timestamp_ms
                .map_or(header.max_timestamp_ms, |max| {
                    max.max(header.max_timestamp_ms)
                }),
        );
    }

    pub(crate) fn sync(&mut self, storage: &impl Storage) -> Result<(), StorageError> {
        if self.durable_size_bytes < self.size_bytes {
            storage.sync(&self.log_file)?;
            self.durable_size_bytes = self.size_bytes;
        }
        self.index.flush(storage, &self.index_file)
    }

    pub(crate) fn needs_sync(&self) -> bool {
        self.durable_size_bytes < self.size_bytes || self.index.needs_flush()
    }
}

/// One batch found by a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScannedBatch {
    pub(crate) position: u64,
    pub(crate) header: BatchHeader,
}

/// What a scan of a whole segment file found: the valid batches from the start, and why it
/// stopped early, if it did.
#[derive(Debug, Clone)]
pub(crate) struct SegmentScan {
    pub(crate) batches: Vec<ScannedBatch>,
    pub(crate) valid_bytes: u64,
    pub(crate) file_bytes: u64,
    pub(crate) stopped: Option<String>,
}

/// Reads a segment file and walks its batches from position 0, expecting the first at
/// `base_offset` and each next one right after the previous. With `verify`, each batch is fully
/// decoded (CRC and record structure); without, only headers are read (a trusted file).
pub(crate) fn scan_segment(
    storage: &impl Storage,
    log_file: &str,
    base_offset: u64,
    verify: bool,
) -> Result<SegmentScan, StorageError> {
    Ok(scan_segment_bytes(storage, log_file, base_offset, verify)?.0)
}

/// [`scan_segment`], also returning the file's bytes as read.
pub(crate) fn scan_segment_bytes(
    storage: &impl Storage,
    log_file: &str,
    base_offset: u64,
    verify: bool,
) -> Result<(SegmentScan, Vec<u8>), StorageError> {
    let bytes = storage.read(log_file, 0, usize::MAX)?;
    let scan = scan_from(&bytes, Vec::new(), 0, base_offset, verify);
    Ok((scan, bytes))
}

/// The scan of `bytes` from `position`, where the batch at `expected_offset` should start, after
/// `batches` (the valid batches before `position`). Each batch's verdict depends only on its own
/// bytes, its position, the offset expected there and whether the file holds all of it.
pub(crate) fn scan_from(
    bytes: &[u8],
    mut batches: Vec<ScannedBatch>,
    mut position: u64,
    mut expected_offset: u64,
    verify: bool,
) -> SegmentScan {
    let file_bytes = bytes.len() as u64;
    let stopped = loop {
        if position == file_bytes {
            break None;
        }
        let rest = &bytes[position as usize..];
        if (rest.len() as u64) < BATCH_HEADER_BYTES {
            break Some(format!(
                "{} bytes at the end: a torn batch header",
                rest.len()
            ));
        }
        let header = match BatchHeader::decode(rest) {
            Ok(header) => header,
            Err(error) => break Some(error.to_string()),
        };
        if header.batch_bytes() > rest.len() as u64 {
            break Some(format!(
                "batch of {} bytes, {} left: a torn batch",
                header.batch_bytes(),
                rest.len()
            ));
        }
        if verify {
            if let Err(error) = verify_bytes(&rest[..header.batch_bytes() as usize]) {
                break Some(error.to_string());
            }
        }
        if header.base_offset != expected_offset {
            break Some(format!(
                "batch at offset {}, expected {expected_offset}",
                header.base_offset
            ));
        }
        batches.push(ScannedBatch { position, header });
        expected_offset = header.next_offset();
        position += header.batch_bytes();
    };
    SegmentScan {
        batches,
        valid_bytes: position,
        file_bytes,
        stopped,
    }
}

/// Verified scans of segment files kept between openings of logs on snapshots of the same disks
/// (the state checker opens every replica's log at each sample). A file that starts with the
/// bytes of a kept scan that ended cleanly at its end (older segments unchanged, the active one
/// grown by appends) is scanned only past them: the batches there were valid in the kept bytes
/// and are the same bytes now (each verdict depends only on the batch's own bytes; see
/// [`scan_from`]), so the result is the full scan's.
#[derive(Debug, Default)]
pub struct SegmentScans {
    /// Per file name: the clean scans kept (several disks may hold different bytes under it).
    kept: std::collections::BTreeMap<String, Vec<KeptScan>>,
}

#[derive(Debug)]
struct KeptScan {
    base_offset: u64,
    bytes: bytes::Bytes,
    batches: Vec<ScannedBatch>,
}

/// Kept scans per file name at most: one per replica of the partition, and a few to spare.
const KEPT_SCANS_PER_FILE_MAX: usize = 8;

impl SegmentScans {
    /// [`scan_segment_bytes`] with `verify`, from a kept scan when one is a prefix of the file.
    pub(crate) fn scan(
        &mut self,
        storage: &impl Storage,
        log_file: &str,
        base_offset: u64,
    ) -> Result<(SegmentScan, bytes::Bytes), StorageError> {
        let bytes = bytes::Bytes::from(storage.read(log_file, 0, usize::MAX)?);
        let kept = self.kept.entry(log_file.to_string()).or_default();
        // The longest kept clean scan whose bytes start the file.
        let prefix = kept
            .iter()
            .enumerate()
            .filter(|(_, scan)| {
                scan.base_offset == base_offset
                    && scan.bytes.len() <= bytes.len()
                    && scan.bytes[..] == bytes[..scan.bytes.len()]
            })
            .max_by_key(|(_, scan)| scan.bytes.len())
            .map(|(index, _)| index);
        let scan = match prefix {
            Some(index) => {
                let prefix = &kept[index];
                let expected_offset = prefix
                    .batches
                    .last()
                    .map_or(base_offset, |batch| batch.header.next_offset());
                scan_from(
                    &bytes,
                    prefix.batches.clone(),
                    prefix.bytes.len() as u64,
                    expected_offset,
                    true,
                )
            }
            None => scan_from(&bytes, Vec::new(), 0, base_offset, true),
        };
        if scan.stopped.is_none() {
            let kept_scan = KeptScan {
                base_offset,
                bytes: bytes.clone(),
                batches: scan.batches.clone(),
            };
            match prefix {
                // The file grew from the kept bytes: they are not needed any more.
                Some(index) if kept[index].bytes.len() < bytes.len() => kept[index] = kept_scan,
                Some(_) => {}
                None => {
                    if kept.len() == KEPT_SCANS_PER_FILE_MAX {
                        kept.remove(0);
                    }
                    kept.push(kept_scan);
                }
            }
        }
        Ok((scan, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_zero_padded_like_format() {
        for offset in [
            0,
            1,
            9,
            10,
            42,
            99_999,
            1 << 40,
            u64::MAX / 10,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(
                log_file_name("d/", offset),
                format!("d/{offset:0width$}.log", width = OFFSET_DIGITS)
            );
            assert_eq!(
                index_file_name("d/", offset),
                format!("d/{offset:0width$}.index", width = OFFSET_DIGITS)
            );
        }
    }

    #[test]
    fn file_names_round_trip() {
        let dir = "log/orders-0/";
        assert_eq!(
            log_file_name(dir, 42),
            "log/orders-0/00000000000000000042.log"
        );
        assert_eq!(
            parse_segment_file(dir, &log_file_name(dir, 42)),
            Some((42, SegmentFileKind::Log))
        );
        assert_eq!(
            parse_segment_file(dir, &index_file_name(dir, u64::MAX)),
            Some((u64::MAX, SegmentFileKind::Index))
        );
        assert_eq!(parse_segment_file(dir, "log/orders-0/42.log"), None);
        assert_eq!(
            parse_segment_file(
                dir,
                "log/orders-0/log-start-offset-00000000000000000000.journal"
            ),
            None
        );
        assert_eq!(
            parse_segment_file(dir, "log/orders-1/00000000000000000042.log"),
            None
        );
    }
}
