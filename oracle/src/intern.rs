//! Small building blocks of the checker: a fast deterministic hasher for lookup tables, and a set of offsets
//! stored as ranges.

use std::collections::BTreeMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast deterministic hasher for the checker's lookup tables: each 8-byte word is mixed in with a folded
/// 64x64->128-bit multiply (as in wyhash/foldhash), so every output bit depends on every input bit (plain Fx
/// leaves the low bits, which pick the bucket, weak for strings sharing a prefix like `producer-0-`).
/// The checker's hash maps are lookup tables only; nothing is ever iterated out of them, so their order cannot
/// leak into a result.
#[derive(Clone, Copy)]
pub(crate) struct MixHasher {
    hash: u64,
}

impl Default for MixHasher {
    fn default() -> Self {
        MixHasher {
            hash: 0x243f_6a88_85a3_08d3,
        }
    }
}

const MIX_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl MixHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.hash ^ word) * u128::from(MIX_MULTIPLIER);
        self.hash = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for MixHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(
                chunk.try_into().expect("chunks_exact(8) yields 8 bytes"),
            ));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type MixBuildHasher = BuildHasherDefault<MixHasher>;
/// A lookup table. Never iterate one: results must not depend on hash order.
pub(crate) type LookupMap<K, V> = std::collections::HashMap<K, V, MixBuildHasher>;

/// Interns the values of a history: value text -> dense id, and id -> text.
///
/// Most values a producer writes are numbered: `<prefix>-<n>`, `n` in canonical decimal (`producer-0-12345`,
/// as streamsim's producers and generator write them). Such a value is found in its prefix's **family**: an
/// array indexed by `n`. A producer numbers its values in order and consumers read them roughly in that order,
/// so these lookups walk the arrays nearly in sequence and stay in cache at a million values, where a hashed
/// probe lands anywhere. A family takes a number only while it stays at least about a quarter full (`n` at
/// most four times its values, plus a little: a reader of one partition in three still fits), and there are
/// at most [`FAMILIES_MAX`] families, so no history can make them outgrow the hashed table by much. A number
/// too far ahead goes to the hashed table and its family remembers that one did (`spilled`), so that the
/// family's later misses look there first: one text always keeps one id.
///
/// Every other value goes to an open-addressing table of 8-byte slots (a 32-bit fingerprint of the text and
/// the id), probed linearly, at most 7/8 full: a lookup reads one slot's cache line, and only a matching
/// fingerprint leads to comparing the text in the arena. The fingerprint's low bits are the slot a text starts
/// probing at, so growing the table moves slots in order without hashing any text again. The texts of all
/// values live in one arena, one after the other in id order, not in one allocation each.
pub(crate) struct ValueTable {
    /// (fingerprint, id + 1); id + 1 == 0 marks an empty slot. The length is a power of two.
    slots: Vec<(u32, u32)>,
    /// How many values are in `slots`.
    hashed: usize,
    /// prefix -> index in `families`.
    family_ids: LookupMap<Box<str>, u32>,
    families: Vec<Family>,
    /// Every value's text, in id order.
    arena: String,
    /// id -> where its text starts in `arena`; one more entry than values, the last being `arena.len()`.
    starts: Vec<usize>,
}

/// The numbered values of one prefix.
#[derive(Default)]
struct Family {
    /// n -> id + 1; 0 where `<prefix>-<n>` has no id here.
    ids: Vec<u32>,
    /// How many entries of `ids` are taken.
    taken: usize,
    /// Whether a value of this prefix went to the hashed table (its number was too far ahead).
    spilled: bool,
}

/// How many times its values a family's numbers may reach, plus [`FAMILY_SLACK`] (a new family takes `-0` to
/// `-16`).
const FAMILY_SPREAD: usize = 4;
const FAMILY_SLACK: usize = 16;
/// The most families a table keeps; a prefix first seen after that is hashed (as are all its values, since
/// families are never dropped). Prefixes that are not one producer's, like a date's (`event-2024-01-15`),
/// would otherwise give every few values a family of their own.
const FAMILIES_MAX: usize = 1 << 16;

/// `(prefix, n)` when `text` is `<prefix>-<n>` with `n` in canonical decimal (no sign, no leading zero but in
/// `0` itself) and below 10^9.
#[inline]
fn numbered(text: &str) -> Option<(&str, usize)> {
    let dash = text.as_bytes().iter().rposition(|&byte| byte == b'-')?;
    let digits = &text.as_bytes()[dash + 1..];
    if digits.is_empty() || digits.len() > 9 || (digits[0] == b'0' && digits.len() > 1) {
        return None;
    }
    let mut number = 0usize;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        number = number * 10 + usize::from(digit - b'0');
    }
    Some((&text[..dash], number))
}

const VALUE_TABLE_SLOTS_INITIAL: usize = 1024;

impl Default for ValueTable {
    fn default() -> Self {
        ValueTable {
            slots: vec![(0, 0); VALUE_TABLE_SLOTS_INITIAL],
            hashed: 0,
            family_ids: LookupMap::default(),
            families: Vec::new(),
            arena: String::new(),
            starts: vec![0],
        }
    }
}

/// A 64-bit hash of a text: its 8-byte words folded in with a 64x64->128-bit multiply, then its length.
#[inline]
fn hash_text(text: &str) -> u64 {
    let mut hasher = MixHasher::default();
    hasher.write(text.as_bytes());
    hasher.write_usize(text.len());
    hasher.finish()
}

impl ValueTable {
    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// The fingerprint kept in the slot for `hash`: its high half, of which the low bits pick the slot to start
    /// probing at (`home`).
    #[inline]
    fn fingerprint(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The slot to start probing at for a fingerprint.
    #[inline]
    fn home(&self, fingerprint: u32) -> usize {
        fingerprint as usize & (self.slots.len() - 1)
    }

    /// The id of `text`, and whether it is new.
    #[inline]
    pub(crate) fn intern(&mut self, text: &str) -> (u32, bool) {
        if let Some((prefix, number)) = numbered(text) {
            if let Some(found) = self.intern_numbered(text, prefix, number) {
                return found;
            }
        }
        self.intern_hashed(text)
    }

    /// [`intern`](Self::intern) for `<prefix>-<number>`; None when its family does not take the number.
    #[inline]
    fn intern_numbered(&mut self, text: &str, prefix: &str, number: usize) -> Option<(u32, bool)> {
        let family = match self.family_ids.get(prefix) {
            Some(&family) => family as usize,
            None if self.families.len() >= FAMILIES_MAX => return None,
            None => {
                let family = self.families.len();
                self.families.push(Family::default());
                self.family_ids.insert(
                    prefix.into(),
                    u32::try_from(family).expect("fewer families than values"),
                );
                family
            }
        };
        let entry = &self.families[family];
        match entry.ids.get(number) {
            Some(&id) if id != 0 => return Some((id - 1, false)),
            Some(_) => {}
            None if number > FAMILY_SPREAD * entry.taken + FAMILY_SLACK => {
                self.families[family].spilled = true;
                return None;
            }
            None => {}
        }
        if entry.spilled {
            if let Some(id) = self.find_hashed(text) {
                return Some((id, false));
            }
        }
        let id = self.push_text(text);
        let entry = &mut self.families[family];
        if entry.ids.len() <= number {
            entry.ids.resize(number + 1, 0);
        }
        entry.ids[number] = id + 1;
        entry.taken += 1;
        Some((id, true))
    }

    /// Where `text` is or would go in the hashed table: the slot's index and its fingerprint.
    #[inline]
    fn probe(&self, text: &str) -> (usize, u32) {
        let mask = self.slots.len() - 1;
        let fingerprint = Self::fingerprint(hash_text(text));
        let mut index = self.home(fingerprint);
        loop {
            let (slot_fingerprint, slot_id) = self.slots[index];
            if slot_id == 0 || (slot_fingerprint == fingerprint && self.text(slot_id - 1) == text) {
                return (index, fingerprint);
            }
            index = (index + 1) & mask;
        }
    }

    /// The id of `text` in the hashed table, if it is there.
    fn find_hashed(&self, text: &str) -> Option<u32> {
        let (index, _) = self.probe(text);
        self.slots[index].1.checked_sub(1)
    }

    /// [`intern`](Self::intern) in the hashed table.
    #[inline]
    fn intern_hashed(&mut self, text: &str) -> (u32, bool) {
        if (self.hashed + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let (index, fingerprint) = self.probe(text);
        if let Some(id) = self.slots[index].1.checked_sub(1) {
            return (id, false);
        }
        let id = self.push_text(text);
        self.slots[index] = (fingerprint, id + 1);
        self.hashed += 1;
        (id, true)
    }

    /// Gives `text` the next id.
    fn push_text(&mut self, text: &str) -> u32 {
        let id = u32::try_from(self.len()).expect("fewer than 2^32 - 1 distinct values");
        assert!(id < u32::MAX, "fewer than 2^32 - 1 distinct values");
        self.arena.push_str(text);
        self.starts.push(self.arena.len());
        id
    }

    /// Doubles the table and places every value again, taking the old slots in order: a slot's fingerprint says
    /// where it starts probing, so no text is read or hashed, and the new table is written nearly in order.
    #[cold]
    fn grow(&mut self) {
        assert!(
            self.slots.len() <= 1 << 31,
            "a value table of at most 2^32 slots"
        );
        let slots = vec![(0, 0); self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, slots);
        debug_assert_eq!(old.iter().filter(|(_, id)| *id != 0).count(), self.hashed);
        let mask = self.slots.len() - 1;
        for (fingerprint, id) in old {
            if id == 0 {
                continue;
            }
            let mut index = self.home(fingerprint);
            while self.slots[index].1 != 0 {
                index = (index + 1) & mask;
            }
            self.slots[index] = (fingerprint, id);
        }
    }

    pub(crate) fn text(&self, id: u32) -> &str {
        let id = id as usize;
        &self.arena[self.starts[id]..self.starts[id + 1]]
    }
}

/// A set of offsets kept as disjoint, non-adjacent inclusive ranges, each with the line of the event that
/// delivered its first offset. A consumer delivers mostly consecutive offsets, so this stays a handful of ranges,
/// and the range being extended is kept outside the map (`open`) so a consecutive delivery costs O(1).
#[derive(Debug, Default, Clone)]
pub(crate) struct OffsetRanges {
    /// first offset -> (last offset, line that added the first offset); never overlaps or touches `open`.
    ranges: BTreeMap<u64, (u64, u64)>,
    /// The range that holds the highest offset: (first, last, line).
    open: Option<(u64, u64, u64)>,
}

impl OffsetRanges {
    pub(crate) fn insert(&mut self, offset: u64, line: u64) {
        match self.open {
            Some((_, last, _)) if last.checked_add(1) == Some(offset) => {
                if let Some(open) = &mut self.open {
                    open.1 = offset;
                }
            }
            Some((_, last, _)) if offset > last => {
                let (first, last, first_line) = self.open.take().expect("matched Some");
                self.ranges.insert(first, (last, first_line));
                self.open = Some((offset, offset, line));
            }
            None => self.open = Some((offset, offset, line)),
            Some(_) => {
                // At or below the open range: merge everything into the map, insert there, reopen the top range.
                let (first, last, first_line) = self.open.take().expect("matched Some");
                self.ranges.insert(first, (last, first_line));
                self.insert_into_map(offset, line);
                let (&first, &(last, first_line)) =
                    self.ranges.iter().next_back().expect("just inserted");
                self.ranges.remove(&first);
                self.open = Some((first, last, first_line));
            }
        }
    }

    fn insert_into_map(&mut self, offset: u64, line: u64) {
        let below = self
            .ranges
            .range(..=offset)
            .next_back()
            .map(|(&first, &(last, first_line))| (first, last, first_line));
        if let Some((_, last, _)) = below {
            if last >= offset {
                return;
            }
        }
        let above = offset
            .checked_add(1)
            .and_then(|next| self.ranges.get(&next).copied().map(|range| (next, range)));
        match (below, above) {
            (Some((first, last, first_line)), Some((next_first, (next_last, _))))
                if last + 1 == offset =>
            {
                self.ranges.remove(&next_first);
                self.ranges.insert(first, (next_last, first_line));
            }
            (Some((first, last, first_line)), _) if last + 1 == offset => {
                self.ranges.insert(first, (offset, first_line));
            }
            (_, Some((next_first, (next_last, _)))) => {
                self.ranges.remove(&next_first);
                self.ranges.insert(offset, (next_last, line));
            }
            _ => {
                self.ranges.insert(offset, (offset, line));
            }
        }
    }

    /// `Some((first offset, last offset, line))` of the range holding `offset`.
    pub(crate) fn find(&self, offset: u64) -> Option<(u64, u64, u64)> {
        if let Some((first, last, line)) = self.open {
            if (first..=last).contains(&offset) {
                return Some((first, last, line));
            }
        }
        let (&first, &(last, line)) = self.ranges.range(..=offset).next_back()?;
        (last >= offset).then_some((first, last, line))
    }

    pub(crate) fn clear(&mut self) {
        self.ranges.clear();
        self.open = None;
    }

    #[cfg(test)]
    fn ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = self
            .ranges
            .iter()
            .map(|(&first, &(last, _))| (first, last))
            .collect();
        ranges.extend(self.open.map(|(first, last, _)| (first, last)));
        ranges.sort_unstable();
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_ranges_merge_neighbours_and_keep_the_first_line() {
        let mut ranges = OffsetRanges::default();
        for (offset, line) in [
            (5, 1),
            (6, 2),
            (7, 3),
            (10, 4),
            (9, 5),
            (8, 6),
            (3, 7),
            (6, 8),
            (0, 9),
            (1, 10),
        ] {
            ranges.insert(offset, line);
        }
        assert_eq!(ranges.ranges(), vec![(0, 1), (3, 3), (5, 10)]);
        assert_eq!(ranges.find(7), Some((5, 10, 1)));
        assert_eq!(ranges.find(10), Some((5, 10, 1)));
        assert_eq!(ranges.find(2), None);
        assert_eq!(ranges.find(11), None);
        assert_eq!(ranges.find(0), Some((0, 1, 9)));
        ranges.insert(2, 11);
        assert_eq!(ranges.ranges(), vec![(0, 3), (5, 10)]);
        ranges.insert(u64::MAX, 12);
        assert_eq!(ranges.find(u64::MAX), Some((u64::MAX, u64::MAX, 12)));
        assert_eq!(ranges.ranges(), vec![(0, 3), (5, 10), (u64::MAX, u64::MAX)]);
    }

    #[test]
    fn values_intern_to_dense_ids_short_and_long() {
        let mut table = ValueTable::default();
        let long = "a value that is longer than twenty-three bytes";
        assert_eq!(table.intern("a"), (0, true));
        assert_eq!(table.text(0), "a");
        assert_eq!(table.intern(long), (1, true));
        assert_eq!(table.intern(""), (2, true));
        assert_eq!(table.intern("a\0"), (3, true));
        assert_eq!(table.intern("12345678901234567890123"), (4, true));
        assert_eq!(table.intern("a"), (0, false));
        assert_eq!(table.intern(long), (1, false));
        assert_eq!(table.intern(""), (2, false));
        assert_eq!(table.intern("a\0"), (3, false));
        assert_eq!(table.text(1), long);
        assert_eq!(table.text(3), "a\0");
        assert_eq!(table.text(4), "12345678901234567890123");
    }

    /// Interns `texts` in order into a fresh table and checks every answer against a plain map: the same text
    /// always the same id, ids dense in first-seen order, and each id's text.
    fn agree_with_a_plain_map(texts: impl IntoIterator<Item = String>) -> ValueTable {
        let mut table = ValueTable::default();
        let mut plain: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
        for text in texts {
            let expected_id = plain.len() as u32;
            let (id, new) = table.intern(&text);
            match plain.get(&text) {
                Some(&known) => assert_eq!((id, new), (known, false), "{text}"),
                None => {
                    assert_eq!((id, new), (expected_id, true), "{text}");
                    plain.insert(text, id);
                }
            }
        }
        for (text, &id) in &plain {
            assert_eq!(table.text(id), text);
            assert_eq!(table.intern(text), (id, false));
        }
        table
    }

    #[test]
    fn the_value_table_agrees_with_a_plain_map_across_growth() {
        // Enough values to grow the hashed table several times (the texts are not numbered); every third one
        // comes back.
        let table = agree_with_a_plain_map(
            (0..20_000u32).map(|round| format!("producer-{}-{}x", round % 7, round / 3)),
        );
        assert!(table.slots.len() >= 16384);
        assert!(table.families.is_empty());
        // The same numbered: seven families, nothing hashed.
        let table = agree_with_a_plain_map(
            (0..20_000u32).map(|round| format!("producer-{}-{}", round % 7, round / 3)),
        );
        assert_eq!((table.families.len(), table.hashed), (7, 0));
    }

    #[test]
    fn numbered_values_are_canonical_decimals_after_the_last_dash() {
        assert_eq!(numbered("producer-0-12"), Some(("producer-0", 12)));
        assert_eq!(numbered("-0"), Some(("", 0)));
        assert_eq!(numbered("a--7"), Some(("a-", 7)));
        assert_eq!(numbered("a-999999999"), Some(("a", 999_999_999)));
        for text in [
            "a-1000000000",
            "a-01",
            "a-00",
            "a-",
            "a-+1",
            "a-1x",
            "a-x1",
            "a",
            "",
            "a-１",
        ] {
            assert_eq!(numbered(text), None, "{text}");
        }
    }

    #[test]
    fn a_number_too_far_ahead_goes_to_the_hashed_table_and_keeps_its_id() {
        let mut table = ValueTable::default();
        assert_eq!(table.intern("p-0"), (0, true));
        // Past four times the family's values plus the slack: hashed, and the family knows it spilled.
        assert_eq!(table.intern("p-100"), (1, true));
        assert_eq!((table.hashed, table.families[0].spilled), (1, true));
        // Fill the family up to 100 and past it: `p-100` keeps its id, found in the hashed table.
        for number in 1..100 {
            assert_eq!(table.intern(&format!("p-{number}")), (number + 1, true));
        }
        assert_eq!(table.intern("p-100"), (1, false));
        assert_eq!(table.intern("p-101"), (101, true));
        assert_eq!(table.families[0].ids.get(100), Some(&0));
        assert_eq!(table.text(1), "p-100");
    }

    #[test]
    fn prefixes_past_the_families_cap_are_hashed_and_keep_their_ids() {
        let texts = || (0..FAMILIES_MAX + 10).map(|prefix| format!("f{prefix}-0"));
        let table = agree_with_a_plain_map(texts().chain(texts()).chain(["f0-1".to_string()]));
        assert_eq!((table.families.len(), table.hashed), (FAMILIES_MAX, 10));
        assert_eq!(table.families[0].taken, 2);
    }

    proptest::proptest! {
        /// Numbered values of a few prefixes, with numbers in order, jumping ahead (past what a family takes),
        /// back, and non-canonical or not numbered at all, interleaved.
        #[test]
        fn the_value_table_agrees_with_a_plain_map_on_any_texts(
            texts in proptest::collection::vec(
                (0u8..4, 0usize..3, 0usize..400),
                0..600,
            )
        ) {
            agree_with_a_plain_map(texts.into_iter().map(|(shape, prefix, number)| match shape {
                0 | 1 => format!("p{prefix}-{number}"),
                2 => format!("p{prefix}-0{number}"),
                _ => format!("p{prefix}-{number}x"),
            }));
        }
    }

    #[test]
    fn offset_ranges_agree_with_a_plain_set() {
        // A deterministic walk mixing consecutive runs, jumps forward and jumps back.
        let mut ranges = OffsetRanges::default();
        let mut plain = std::collections::BTreeSet::new();
        let mut offset: u64 = 50;
        let mut state: u64 = 7;
        for line in 1..5000u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            offset = match state >> 60 {
                0 => offset.saturating_sub(state >> 58 & 31),
                1 => offset + (state >> 57 & 15),
                _ => offset + 1,
            };
            ranges.insert(offset, line);
            plain.insert(offset);
        }
        let mut expected = Vec::new();
        for &offset in &plain {
            match expected.last_mut() {
                Some((_, last)) if *last + 1 == offset => *last = offset,
                _ => expected.push((offset, offset)),
            }
        }
        assert_eq!(ranges.ranges(), expected);
        for probe in 0..offset + 2 {
            assert_eq!(
                ranges.find(probe).is_some(),
                plain.contains(&probe),
                "offset {probe}"
            );
        }
    }
}
