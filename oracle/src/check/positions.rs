//! The compact table of what is known at each (partition, offset).

use super::*;

/// What is known at one (partition, offset): the first value named there, its text (in the partition's text
/// log) and the line that named it; whether a poll delivered the offset; the first read of that value there.
#[derive(Debug, Clone, Copy)]
pub(super) struct PositionSlot {
    pub(super) line: u64,
    /// The first poll that delivered `value` here (0: none); reads of other values here go to `ValueReads`.
    pub(super) first_read_line: u64,
    /// Where the text of `value` starts in `PartitionState::texts`.
    pub(super) text_at: u64,
    pub(super) value: ValueId,
    pub(super) first_read_process: ProcessId,
    pub(super) text_length: u32,
    /// Did a poll deliver this offset (with any value)?
    pub(super) read: bool,
}

const NO_VALUE: ValueId = ValueId::MAX;

impl PositionSlot {
    const EMPTY: PositionSlot = PositionSlot {
        line: 0,
        first_read_line: 0,
        text_at: 0,
        value: NO_VALUE,
        first_read_process: 0,
        text_length: 0,
        read: false,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.value == NO_VALUE
    }

    pub(super) fn text<'t>(&self, texts: &'t str) -> &'t str {
        let start = self.text_at as usize;
        &texts[start..start + self.text_length as usize]
    }
}

/// Every known (partition, offset), in chunks of `POSITION_CHUNK_OFFSETS` consecutive offsets of one partition.
/// A partition's offsets are dense and consumers read them in order, so neighbours share a chunk (and cache
/// lines) instead of scattering over a hash table. A sparse offset costs a whole chunk (256 bytes): still
/// O(distinct offsets).
#[derive(Default)]
pub(super) struct PositionTable {
    pub(super) chunk_ids: LookupMap<(PartitionId, u64), u32>,
    pub(super) chunks: Vec<[PositionSlot; POSITION_CHUNK_OFFSETS]>,
    /// chunk id -> (partition, chunk number)
    pub(super) chunk_keys: Vec<(PartitionId, u64)>,
    /// The chunk used last: ((partition, chunk number), chunk id).
    pub(super) last_chunk: Option<((PartitionId, u64), u32)>,
}

const POSITION_CHUNK_OFFSETS: usize = 16;

impl PositionTable {
    pub(super) fn split(partition: PartitionId, offset: u64) -> ((PartitionId, u64), usize) {
        let chunk_offsets = POSITION_CHUNK_OFFSETS as u64;
        (
            (partition, offset / chunk_offsets),
            (offset % chunk_offsets) as usize,
        )
    }

    /// The slot of (partition, offset) when something is known there.
    pub(super) fn get_mut(
        &mut self,
        partition: PartitionId,
        offset: u64,
    ) -> Option<&mut PositionSlot> {
        let (key, index) = Self::split(partition, offset);
        let chunk = match self.last_chunk {
            Some((last_key, chunk)) if last_key == key => chunk,
            _ => {
                let chunk = *self.chunk_ids.get(&key)?;
                self.last_chunk = Some((key, chunk));
                chunk
            }
        };
        let slot = &mut self.chunks[chunk as usize][index];
        (!slot.is_empty()).then_some(slot)
    }

    /// What is known at (partition, offset), without touching the lookup cache.
    pub(super) fn peek(&self, partition: PartitionId, offset: u64) -> Option<PositionSlot> {
        let (key, index) = Self::split(partition, offset);
        let chunk = *self.chunk_ids.get(&key)?;
        let slot = self.chunks[chunk as usize][index];
        (!slot.is_empty()).then_some(slot)
    }

    /// The slot of (partition, offset), empty when nothing is known there yet.
    pub(super) fn slot(&mut self, partition: PartitionId, offset: u64) -> &mut PositionSlot {
        let (key, index) = Self::split(partition, offset);
        let chunk = match self.last_chunk {
            Some((last_key, chunk)) if last_key == key => chunk,
            _ => {
                let next_chunk = u32::try_from(self.chunks.len()).expect("fewer than 2^32 chunks");
                let chunk = *self.chunk_ids.entry(key).or_insert(next_chunk);
                if chunk == next_chunk {
                    self.chunks
                        .push([PositionSlot::EMPTY; POSITION_CHUNK_OFFSETS]);
                    self.chunk_keys.push(key);
                }
                self.last_chunk = Some((key, chunk));
                chunk
            }
        };
        &mut self.chunks[chunk as usize][index]
    }

    /// Every known (partition, offset) and its slot, chunk by chunk (in order of first use), offsets ascending
    /// within a chunk.
    pub(super) fn known(&self) -> impl Iterator<Item = (PartitionId, u64, PositionSlot)> + '_ {
        self.chunks
            .iter()
            .zip(&self.chunk_keys)
            .flat_map(|(chunk, &(partition, chunk_number))| {
                chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, slot)| !slot.is_empty())
                    .map(move |(index, slot)| {
                        (
                            partition,
                            chunk_number * POSITION_CHUNK_OFFSETS as u64 + index as u64,
                            *slot,
                        )
                    })
            })
    }
}
