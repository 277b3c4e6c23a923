//! [`SegmentViewPolicy::CachedIgnoringRetention`]: reads planned from a cached segment view that
//! retention never invalidates, and executed as planned (fluvio #3891's reader).
//!
//! The view is rebuilt from the log's segments when the log opens and after truncations, and
//! the active segment is written into it after every append and roll; segments retention
//! deletes stay in it. A read of an offset below the log start is planned against a deleted
//! segment file, whose "not found" becomes [`LogError::Internal`]; an offset below the view's
//! first segment gets the view's "segment not found".

use super::{planned, PlannedSegment, ReadPlan, ReadResult};
use crate::log::{InternalCause, Log, LogError, Segment};
use crate::policy::SegmentViewPolicy;
use crate::storage::Storage;
use std::collections::BTreeMap;

/// What the log keeps for its reads besides its segments, by [`SegmentViewPolicy`].
#[derive(Debug)]
pub(in crate::log) enum ReadView {
    /// [`SegmentViewPolicy::Current`]: reads look at the log's segments; nothing more to keep.
    Current,
    /// [`SegmentViewPolicy::CachedIgnoringRetention`]: the cached view, by base offset.
    Cached(BTreeMap<u64, CachedSegment>),
}

/// A segment as the cached view remembers it.
#[derive(Debug, Clone)]
pub(in crate::log) struct CachedSegment {
    id: u64,
    log_file: std::sync::Arc<str>,
    size_bytes: u64,
}

impl CachedSegment {
    fn of(segment: &Segment) -> CachedSegment {
        CachedSegment {
            id: segment.id,
            log_file: segment.log_file.clone(),
            size_bytes: segment.size_bytes,
        }
    }
}

impl ReadView {
    pub(in crate::log) fn new(policy: SegmentViewPolicy) -> ReadView {
        match policy {
            SegmentViewPolicy::Current => ReadView::Current,
            SegmentViewPolicy::CachedIgnoringRetention => ReadView::Cached(BTreeMap::new()),
        }
    }

    /// The view becomes the log's segments (on open and after a truncation).
    pub(in crate::log) fn rebuild(&mut self, segments: &BTreeMap<u64, Segment>) {
        if let ReadView::Cached(view) = self {
            *view = segments
                .iter()
                .map(|(&base, segment)| (base, CachedSegment::of(segment)))
                .collect();
        }
    }

    /// The active (last) segment enters the view, or is updated in it, after an append or a
    /// roll; deletions never leave it (fluvio #3891).
    pub(in crate::log) fn note_active(&mut self, segments: &BTreeMap<u64, Segment>) {
        if let ReadView::Cached(view) = self {
            let active = segments
                .values()
                .next_back()
                .expect("a log always has an active segment");
            view.insert(active.base_offset, CachedSegment::of(active));
        }
    }
}

impl<S: Storage + Clone> Log<S> {
    /// Plans from the cached view; no check against the log start.
    pub(super) fn plan_read_cached(
        &self,
        view: &BTreeMap<u64, CachedSegment>,
        offset: u64,
        max_bytes: u64,
        end_offset: u64,
    ) -> Result<ReadPlan, LogError> {
        if offset > end_offset {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: end_offset,
            });
        }
        let target = if offset == end_offset {
            None
        } else {
            let Some((&base, entry)) = view.range(..=offset).next_back() else {
                return Err(LogError::Internal {
                    offset,
                    cause: InternalCause::SegmentNotFound,
                });
            };
            let live = self
                .segments
                .get(&base)
                .filter(|segment| segment.id == entry.id);
            Some(match live {
                Some(segment) => planned(segment, segment.index.lookup(offset)),
                None => PlannedSegment {
                    id: entry.id,
                    base_offset: base,
                    log_file: entry.log_file.clone(),
                    position: 0,
                    size_bytes: entry.size_bytes,
                },
            })
        };
        Ok(ReadPlan {
            offset,
            max_bytes,
            end_offset,
            target,
        })
    }

    /// Trusts the plan: no check against the log start, no check that the segment still
    /// exists.
    pub(super) fn execute_read_cached(&self, plan: &ReadPlan) -> Result<ReadResult, LogError> {
        let end_offset = plan.end_offset.min(self.log_end_offset());
        let Some(target) = &plan.target else {
            if plan.offset > end_offset {
                return Err(LogError::OffsetOutOfRange {
                    offset: plan.offset,
                    log_start: self.log_start_offset,
                    log_end: end_offset,
                });
            }
            return Ok(self.result(Vec::new()));
        };
        let size_bytes = self
            .segments
            .get(&target.base_offset)
            .filter(|segment| segment.id == target.id)
            .map_or(target.size_bytes, |segment| segment.size_bytes);
        match self.read_segment(target, size_bytes, plan.offset, plan.max_bytes, end_offset) {
            Err(LogError::Storage(error)) if error.is_not_found() => Err(LogError::Internal {
                offset: plan.offset,
                cause: InternalCause::Io(error),
            }),
            other => other.map(|batches| self.result(batches)),
        }
    }
}
