//! The simulated disk: one per node, named files, crash semantics of a real disk with a write cache.
//!
//! madsim's own file system has no crash semantics (`sync_all` is a no-op, `power_fail` is a TODO),
//! so streamsim models the disk itself. The model is deliberately small and stated here in full;
//! everything a node stores goes through it.
//!
//! # Fault model
//!
//! - **Files** are flat, named byte strings (`"p/orders-0/00000000000000000000.log"`). A node's disk
//!   is a [`Disk`] handle; clones share the same disk. Names are listed in sorted order.
//! - **Writes** (`append`) land in a volatile cache. They are visible to reads at once, but they are
//!   durable only after `sync` of that file moves its *durable watermark* to its current length.
//! - **Crash** ([`Disk::crash`], called by the world when it kills the node): every file loses its
//!   unsynced tail. With torn writes on (the default), a random prefix of that tail may survive — a
//!   torn write — so the survivor is `synced prefix ++ prefix(unsynced tail)`. Synced bytes are never
//!   lost, never changed by a crash.
//! - **Metadata** operations — `create`, `delete`, `truncate` — are durable at once, as on a file
//!   system that journals its metadata. A `truncate` below the durable watermark lowers it.
//!   Because `create` is durable but its content is not, a file created and written but never synced
//!   survives a crash empty (or with a torn prefix).
//! - **Bad tails** ([`Disk::crash_leaving`]): a crash may instead leave garbage or zeros where
//!   the unsynced bytes were (at most as many), as disks whose metadata reached the platter
//!   before the data do. **Wipe** ([`Disk::wipe`]): every file gone, as a replaced drive.
//! - **Injected faults** (scheduled by scenarios, drawn from the disk's own seeded stream):
//!   read errors and write errors (a rate, or "the next n"), latency (a range the node shell
//!   sleeps for each operation), and a file that vanishes (deleted behind its owner's back, as
//!   when an operator or another process removes it). A failed write writes nothing. A failed
//!   read returns no data. Faults never corrupt synced data silently except through
//!   [`Disk::corrupt_byte`], which tests use to exercise checksums.
//! - **Not modelled**: reordering of writes between files (each file's tail is kept or lost on its
//!   own, in order), partial sector writes inside the synced region, running out of space,
//!   directory fsync, rename.
//!
//! The disk survives a node restart: the world keeps one `Disk` per node name and hands the same
//! handle to every incarnation of the node. Tests inspect it with [`Disk::files`],
//! [`Disk::contents`] and [`Disk::durable_contents`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// An error answered by the disk. These are operating errors: the caller handles them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    #[error("file not found: {name}")]
    NotFound { name: String },
    #[error("file already exists: {name}")]
    AlreadyExists { name: String },
    #[error("injected read error on {name}")]
    ReadFault { name: String },
    #[error("injected write error on {name}")]
    WriteFault { name: String },
    #[error("position {position} is beyond the end of {name} (length {len})")]
    BeyondEnd {
        name: String,
        position: u64,
        len: u64,
    },
}

/// Size and durability of one file, for inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub len: u64,
    pub durable_len: u64,
}

/// Counters of what the disk did, for benchmarks and coverage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub bytes_written: u64,
    pub bytes_read: u64,
    pub syncs: u64,
    pub crashes: u64,
    pub bytes_lost_in_crashes: u64,
    pub injected_read_errors: u64,
    pub injected_write_errors: u64,
    pub files_vanished: u64,
}

/// The faults currently injected into one disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskFaults {
    /// Probability that a read fails, in [0, 1].
    pub read_error_rate: f64,
    /// Probability that a write (append, truncate) fails, in [0, 1].
    pub write_error_rate: f64,
    /// The next this-many reads fail, whatever the rate.
    pub fail_next_reads: u32,
    /// The next this-many writes fail, whatever the rate.
    pub fail_next_writes: u32,
    /// Latency of one operation, slept by the node shell. Empty range = none.
    pub latency: Range<Duration>,
    /// Whether a crash may keep a torn prefix of each file's unsynced tail.
    pub torn_writes: bool,
}

impl Default for DiskFaults {
    fn default() -> Self {
        DiskFaults {
            read_error_rate: 0.0,
            write_error_rate: 0.0,
            fail_next_reads: 0,
            fail_next_writes: 0,
            latency: Duration::ZERO..Duration::ZERO,
            torn_writes: true,
        }
    }
}

/// What a crash leaves where a file's unsynced bytes were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrashTail {
    /// A random prefix of the unsynced bytes (a torn write), or nothing.
    #[default]
    Torn,
    /// Random bytes, up to as many as were unsynced.
    Garbage,
    /// Zeros, up to as many as were unsynced (the size reached the platter, the data did not).
    Zeros,
}

#[derive(Debug, Clone, Default)]
struct File {
    data: Vec<u8>,
    durable_len: usize,
    /// Changes whenever `data` does ([`FileMark::version`]).
    version: u64,
    /// The version of the last change that was not an append ([`FileMark::lineage`]).
    lineage: u64,
}

impl File {
    /// The content grew at its end: a new version, the same lineage.
    fn appended(&mut self, last_version: &mut u64) {
        *last_version += 1;
        self.version = *last_version;
    }

    /// The content changed otherwise (created, cut, overwritten): a new version, which starts a
    /// new lineage.
    fn rewritten(&mut self, last_version: &mut u64) {
        self.appended(last_version);
        self.lineage = self.version;
    }
}

/// How a file stands, for telling later what changed in it: see [`Disk::marks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMark {
    pub name: String,
    /// Changes with every change to the file's content; no file on the disk had it before.
    pub version: u64,
    /// Changes with every change other than an append (a creation, a cut, a crash that changed
    /// the file, a corrupted byte). While it stays the same, the file only grew at its end: the
    /// bytes of an earlier look with this lineage start the file now.
    pub lineage: u64,
    /// Bytes, unsynced ones included.
    pub len: u64,
}

#[derive(Debug)]
struct DiskState {
    files: BTreeMap<String, File>,
    faults: DiskFaults,
    rng: ChaCha8Rng,
    stats: DiskStats,
    /// The last version given to a file's content; it only grows, across wipes too.
    version: u64,
}

/// A node's disk. Cloning gives another handle to the same disk.
#[derive(Debug, Clone)]
pub struct Disk {
    state: Arc<Mutex<DiskState>>,
}

impl Disk {
    /// A new, empty disk whose faults and torn writes draw from `rng` (a seeded stream).
    pub fn new(rng: ChaCha8Rng) -> Disk {
        Disk {
            state: Arc::new(Mutex::new(DiskState {
                files: BTreeMap::new(),
                faults: DiskFaults::default(),
                rng,
                stats: DiskStats::default(),
                version: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        // A panic while the lock was held already failed the run; keep the state readable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether two handles name the same disk.
    pub fn same_disk(&self, other: &Disk) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }

    // ---- operations -------------------------------------------------------------------------

    /// Names of all files, sorted.
    pub fn list(&self) -> Vec<String> {
        self.lock().files.keys().cloned().collect()
    }

    /// Names of the files whose name starts with `prefix`, sorted.
    pub fn list_prefix(&self, prefix: &str) -> Vec<String> {
        files_under(&self.lock().files, prefix)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.lock().files.contains_key(name)
    }

    /// Current length of a file (including unsynced bytes).
    pub fn len(&self, name: &str) -> Result<u64, DiskError> {
        let state = self.lock();
        let file = state.files.get(name).ok_or_else(|| not_found(name))?;
        Ok(file.data.len() as u64)
    }

    /// Creates an empty file. Durable at once.
    pub fn create(&self, name: &str) -> Result<(), DiskError> {
        let mut state = self.lock();
        if state.files.contains_key(name) {
            return Err(DiskError::AlreadyExists {
                name: name.to_string(),
            });
        }
        state.inject_write_fault(name)?;
        let mut file = File::default();
        file.rewritten(&mut state.version);
        state.files.insert(name.to_string(), file);
        Ok(())
    }

    /// Reads up to `len` bytes at `position`; shorter at the end of the file, empty past it.
    pub fn read(&self, name: &str, position: u64, len: usize) -> Result<Vec<u8>, DiskError> {
        let mut state = self.lock();
        // One lookup of the file (reads, appends and syncs run for every batch).
        let DiskState {
            files,
            faults,
            rng,
            stats,
            ..
        } = &mut *state;
        let Some(file) = files.get(name) else {
            return Err(not_found(name));
        };
        inject_read_fault(faults, rng, stats, name)?;
        let start = (position as usize).min(file.data.len());
        let end = start.saturating_add(len).min(file.data.len());
        let bytes = file.data[start..end].to_vec();
        stats.bytes_read += bytes.len() as u64;
        Ok(bytes)
    }

    /// Reads a whole file.
    pub fn read_all(&self, name: &str) -> Result<Vec<u8>, DiskError> {
        self.read(name, 0, usize::MAX)
    }

    /// Appends to the end of a file (volatile until `sync`).
    pub fn append(&self, name: &str, data: &[u8]) -> Result<(), DiskError> {
        let mut state = self.lock();
        let DiskState {
            files,
            faults,
            rng,
            stats,
            version,
        } = &mut *state;
        let Some(file) = files.get_mut(name) else {
            return Err(not_found(name));
        };
        inject_write_fault(faults, rng, stats, name)?;
        stats.bytes_written += data.len() as u64;
        file.data.extend_from_slice(data);
        file.appended(version);
        Ok(())
    }

    /// Cuts a file to `len` bytes. Durable at once (a journaled metadata update).
    pub fn truncate(&self, name: &str, len: u64) -> Result<(), DiskError> {
        let mut state = self.lock();
        let current_len = match state.files.get(name) {
            None => return Err(not_found(name)),
            Some(file) => file.data.len() as u64,
        };
        if len > current_len {
            return Err(DiskError::BeyondEnd {
                name: name.to_string(),
                position: len,
                len: current_len,
            });
        }
        state.inject_write_fault(name)?;
        let DiskState { files, version, .. } = &mut *state;
        let file = files.get_mut(name).expect("checked above");
        file.data.truncate(len as usize);
        file.rewritten(version);
        file.durable_len = file.durable_len.min(len as usize);
        Ok(())
    }

    /// Makes every byte written so far to this file durable.
    pub fn sync(&self, name: &str) -> Result<(), DiskError> {
        let mut state = self.lock();
        let DiskState {
            files,
            faults,
            rng,
            stats,
            ..
        } = &mut *state;
        let Some(file) = files.get_mut(name) else {
            return Err(not_found(name));
        };
        inject_write_fault(faults, rng, stats, name)?;
        stats.syncs += 1;
        file.durable_len = file.data.len();
        Ok(())
    }

    /// Deletes a file. Durable at once.
    pub fn delete(&self, name: &str) -> Result<(), DiskError> {
        let mut state = self.lock();
        if !state.files.contains_key(name) {
            return Err(not_found(name));
        }
        state.inject_write_fault(name)?;
        state.files.remove(name);
        Ok(())
    }

    // ---- faults -------------------------------------------------------------------------------

    /// The node crashed: every file keeps its durable prefix and, with torn writes on, a random
    /// prefix of its unsynced tail. Returns the number of bytes lost.
    pub fn crash(&self) -> u64 {
        self.crash_leaving(CrashTail::Torn)
    }

    /// The node crashed, leaving `tail` where each file's unsynced bytes were: a torn prefix of
    /// them (as [`Disk::crash`]), or as many bytes of garbage or of zeros as a torn prefix would
    /// have kept (a file whose size reached the platter before its data did). Synced bytes are
    /// never touched. Returns the number of bytes lost.
    pub fn crash_leaving(&self, tail: CrashTail) -> u64 {
        if tail != CrashTail::Torn {
            return self.crash_with_bad_tail(tail);
        }
        let mut state = self.lock();
        let DiskState {
            files,
            faults,
            rng,
            stats,
            version,
        } = &mut *state;
        let mut lost = 0u64;
        for file in files.values_mut() {
            let unsynced = file.data.len() - file.durable_len;
            let kept = if faults.torn_writes && unsynced > 0 {
                rng.gen_range(0..=unsynced)
            } else {
                0
            };
            lost += (unsynced - kept) as u64;
            if kept < unsynced {
                file.data.truncate(file.durable_len + kept);
                file.rewritten(version);
            }
            // What survived a crash is on the platter now.
            file.durable_len = file.data.len();
        }
        stats.crashes += 1;
        stats.bytes_lost_in_crashes += lost;
        lost
    }

    fn crash_with_bad_tail(&self, tail: CrashTail) -> u64 {
        let mut state = self.lock();
        let DiskState {
            files,
            rng,
            stats,
            version,
            ..
        } = &mut *state;
        let mut lost = 0u64;
        for file in files.values_mut() {
            let unsynced = file.data.len() - file.durable_len;
            if unsynced == 0 {
                continue;
            }
            file.rewritten(version);
            let kept = rng.gen_range(0..=unsynced);
            file.data.truncate(file.durable_len);
            match tail {
                CrashTail::Zeros => file.data.resize(file.durable_len + kept, 0),
                _ => file.data.extend((0..kept).map(|_| rng.gen::<u8>())),
            }
            lost += unsynced as u64;
            file.durable_len = file.data.len();
        }
        stats.crashes += 1;
        stats.bytes_lost_in_crashes += lost;
        lost
    }

    /// The disk is replaced by an empty one (a failed drive swapped, a volume lost): every file
    /// is gone. Returns the number of bytes lost. Only for a node that is down.
    pub fn wipe(&self) -> u64 {
        let mut state = self.lock();
        let lost: u64 = state
            .files
            .values()
            .map(|file| file.data.len() as u64)
            .sum();
        state.files.clear();
        state.stats.bytes_lost_in_crashes += lost;
        lost
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: DiskFaults) {
        assert!((0.0..=1.0).contains(&faults.read_error_rate));
        assert!((0.0..=1.0).contains(&faults.write_error_rate));
        self.lock().faults = faults;
    }

    /// Changes the injected faults in place.
    pub fn update_faults(&self, change: impl FnOnce(&mut DiskFaults)) {
        let mut faults = self.faults();
        change(&mut faults);
        self.set_faults(faults);
    }

    pub fn faults(&self) -> DiskFaults {
        self.lock().faults.clone()
    }

    /// Removes every injected fault (latency, error rates, pending failures). Torn writes stay
    /// as configured: they are a property of the disk, not a fault in progress.
    pub fn heal(&self) {
        let mut state = self.lock();
        let torn_writes = state.faults.torn_writes;
        state.faults = DiskFaults {
            torn_writes,
            ..DiskFaults::default()
        };
    }

    /// A file vanishes behind its owner's back. Returns whether it existed.
    pub fn vanish(&self, name: &str) -> bool {
        let mut state = self.lock();
        let existed = state.files.remove(name).is_some();
        if existed {
            state.stats.files_vanished += 1;
        }
        existed
    }

    /// Flips every bit of one byte of a file (durable or not), to exercise checksums.
    pub fn corrupt_byte(&self, name: &str, position: u64) -> Result<(), DiskError> {
        let mut state = self.lock();
        let DiskState { files, version, .. } = &mut *state;
        let file = files.get_mut(name).ok_or_else(|| not_found(name))?;
        let len = file.data.len() as u64;
        let byte = file
            .data
            .get_mut(position as usize)
            .ok_or_else(|| DiskError::BeyondEnd {
                name: name.to_string(),
                position,
                len,
            })?;
        *byte ^= 0xff;
        file.rewritten(version);
        Ok(())
    }

    /// Draws the latency of one operation from the injected range (zero when none).
    pub fn draw_latency(&self) -> Duration {
        let mut state = self.lock();
        let range = state.faults.latency.clone();
        if range.is_empty() {
            Duration::ZERO
        } else {
            state.rng.gen_range(range)
        }
    }

    // ---- inspection ---------------------------------------------------------------------------

    /// An independent copy of this disk (contents, durability, the random stream, stats), without
    /// injected faults, for inspecting a node's files without touching them: opening a log on the
    /// copy may repair its tail.
    pub fn snapshot(&self) -> Disk {
        let state = self.lock();
        state.copy_with(state.files.clone())
    }

    /// [`Disk::snapshot`] holding only the files whose names start with `prefix`: what reading
    /// one directory needs, without copying the rest of the disk.
    pub fn snapshot_prefix(&self, prefix: &str) -> Disk {
        let state = self.lock();
        let files = files_under(&state.files, prefix)
            .map(|(name, file)| (name.clone(), file.clone()))
            .collect();
        state.copy_with(files)
    }

    /// Every file with its length and durable length, sorted by name.
    pub fn files(&self) -> Vec<(String, FileInfo)> {
        self.lock()
            .files
            .iter()
            .map(|(name, file)| {
                (
                    name.clone(),
                    FileInfo {
                        len: file.data.len() as u64,
                        durable_len: file.durable_len as u64,
                    },
                )
            })
            .collect()
    }

    /// Each file whose name starts with `prefix`, in name order, with its version, lineage and
    /// length: two looks at a file with the same version saw the same bytes; with the same
    /// lineage, the later one's bytes start with the earlier one's. Nothing is read or changed.
    /// A snapshot starts with its disk's marks.
    pub fn marks(&self, prefix: &str) -> Vec<FileMark> {
        files_under(&self.lock().files, prefix)
            .map(|(name, file)| FileMark {
                name: name.clone(),
                version: file.version,
                lineage: file.lineage,
                len: file.data.len() as u64,
            })
            .collect()
    }

    /// The current content of a file (what a read sees), bypassing fault injection.
    pub fn contents(&self, name: &str) -> Option<Vec<u8>> {
        self.contents_from(name, 0)
    }

    /// The current content of a file from `position` on (empty past its end), bypassing fault
    /// injection and counting nothing: a look that leaves the disk as it was.
    pub fn contents_from(&self, name: &str, position: u64) -> Option<Vec<u8>> {
        self.lock().files.get(name).map(|file| {
            let start =
                usize::try_from(position).map_or(file.data.len(), |p| p.min(file.data.len()));
            file.data[start..].to_vec()
        })
    }

    /// The durable content of a file (what a crash keeps for sure), bypassing fault injection.
    pub fn durable_contents(&self, name: &str) -> Option<Vec<u8>> {
        self.lock()
            .files
            .get(name)
            .map(|file| file.data[..file.durable_len].to_vec())
    }

    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }

    /// Total bytes held (current content), for memory accounting.
    pub fn total_bytes(&self) -> u64 {
        self.lock()
            .files
            .values()
            .map(|file| file.data.len() as u64)
            .sum()
    }
}

/// The files whose names start with `prefix`, in name order.
fn files_under<'a>(
    files: &'a BTreeMap<String, File>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a File)> {
    files
        .range(prefix.to_string()..)
        .take_while(move |(name, _)| name.starts_with(prefix))
}

impl DiskState {
    /// A new disk holding `files` and this one's random stream, stats and version count, with no
    /// injected faults (what a snapshot starts from).
    fn copy_with(&self, files: BTreeMap<String, File>) -> Disk {
        Disk {
            state: Arc::new(Mutex::new(DiskState {
                files,
                faults: DiskFaults::default(),
                rng: self.rng.clone(),
                stats: self.stats,
                version: self.version,
            })),
        }
    }

    fn inject_write_fault(&mut self, name: &str) -> Result<(), DiskError> {
        inject_write_fault(&mut self.faults, &mut self.rng, &mut self.stats, name)
    }
}

fn inject_read_fault(
    faults: &mut DiskFaults,
    rng: &mut ChaCha8Rng,
    stats: &mut DiskStats,
    name: &str,
) -> Result<(), DiskError> {
    let failed = draw_fault(&mut faults.fail_next_reads, faults.read_error_rate, rng);
    count_fault(failed, &mut stats.injected_read_errors, || {
        DiskError::ReadFault {
            name: name.to_string(),
        }
    })
}

fn inject_write_fault(
    faults: &mut DiskFaults,
    rng: &mut ChaCha8Rng,
    stats: &mut DiskStats,
    name: &str,
) -> Result<(), DiskError> {
    let failed = draw_fault(&mut faults.fail_next_writes, faults.write_error_rate, rng);
    count_fault(failed, &mut stats.injected_write_errors, || {
        DiskError::WriteFault {
            name: name.to_string(),
        }
    })
}

fn count_fault(
    failed: bool,
    injected: &mut u64,
    error: impl FnOnce() -> DiskError,
) -> Result<(), DiskError> {
    if failed {
        *injected += 1;
        return Err(error());
    }
    Ok(())
}

/// Whether this operation fails: one of the `fail_next` forced failures, else a draw at `rate` (no
/// draw at all when the rate is 0, so a disk without faults consumes no randomness).
fn draw_fault(fail_next: &mut u32, rate: f64, rng: &mut ChaCha8Rng) -> bool {
    if *fail_next > 0 {
        *fail_next -= 1;
        true
    } else {
        rate > 0.0 && rng.gen_bool(rate)
    }
}

fn not_found(name: &str) -> DiskError {
    DiskError::NotFound {
        name: name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::Seed;
    use proptest::prelude::*;

    fn disk() -> Disk {
        Disk::new(Seed::new(1).stream("disk"))
    }

    /// The versions of the files under `prefix`, in name order.
    fn versions(disk: &Disk, prefix: &str) -> Vec<u64> {
        disk.marks(prefix).iter().map(|mark| mark.version).collect()
    }

    #[derive(Debug, Clone)]
    enum DiskOp {
        Create(u8),
        Append(u8, Vec<u8>),
        Truncate(u8, u8),
        Sync(u8),
        Delete(u8),
        Vanish(u8),
        Corrupt(u8, u8),
        Read(u8),
        Crash(u8),
        Wipe,
    }

    fn disk_op() -> impl Strategy<Value = DiskOp> {
        let file = 0u8..3;
        prop_oneof![
            file.clone().prop_map(DiskOp::Create),
            (file.clone(), proptest::collection::vec(0u8..3, 0..4))
                .prop_map(|(file, data)| DiskOp::Append(file, data)),
            (file.clone(), 0u8..6).prop_map(|(file, len)| DiskOp::Truncate(file, len)),
            file.clone().prop_map(DiskOp::Sync),
            file.clone().prop_map(DiskOp::Delete),
            file.clone().prop_map(DiskOp::Vanish),
            (file.clone(), 0u8..6).prop_map(|(file, at)| DiskOp::Corrupt(file, at)),
            file.prop_map(DiskOp::Read),
            (0u8..3).prop_map(DiskOp::Crash),
            Just(DiskOp::Wipe),
        ]
    }

    proptest! {
        /// A version stands for one file and one content: whatever happened in between, a
        /// version seen again is on the same file name with the same bytes; reading and syncing
        /// change no version; a snapshot (whole or of a directory) has its disk's versions. A
        /// lineage stands for one file that only grew: a lineage seen again is on the same file,
        /// whose bytes start with those seen under it before.
        #[test]
        fn a_files_version_names_its_content(ops in proptest::collection::vec(disk_op(), 1..60)) {
            let disk = disk();
            // Each version ever listed, with the file and content it stood for.
            let mut seen: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
            // Each lineage ever listed, with the last content seen under it.
            let mut lineages: BTreeMap<u64, (String, Vec<u8>)> = BTreeMap::new();
            for op in ops {
                let name = |file: u8| format!("d/{file}");
                let before = versions(&disk, "d/");
                let unchanged = matches!(op, DiskOp::Sync(_) | DiskOp::Read(_));
                match op {
                    DiskOp::Create(file) => drop(disk.create(&name(file))),
                    DiskOp::Append(file, data) => drop(disk.append(&name(file), &data)),
                    DiskOp::Truncate(file, len) => drop(disk.truncate(&name(file), len.into())),
                    DiskOp::Sync(file) => drop(disk.sync(&name(file))),
                    DiskOp::Delete(file) => drop(disk.delete(&name(file))),
                    DiskOp::Vanish(file) => drop(disk.vanish(&name(file))),
                    DiskOp::Corrupt(file, at) => drop(disk.corrupt_byte(&name(file), at.into())),
                    DiskOp::Read(file) => drop(disk.read_all(&name(file))),
                    DiskOp::Crash(tail) => drop(disk.crash_leaving(
                        [CrashTail::Torn, CrashTail::Garbage, CrashTail::Zeros][tail as usize],
                    )),
                    DiskOp::Wipe => drop(disk.wipe()),
                }
                let now = versions(&disk, "d/");
                if unchanged {
                    prop_assert_eq!(&now, &before);
                }
                prop_assert_eq!(&versions(&disk.snapshot(), "d/"), &now);
                prop_assert_eq!(&versions(&disk.snapshot_prefix("d/"), "d/"), &now);
                let names = disk.list_prefix("d/");
                prop_assert_eq!(names.len(), now.len());
                let marks = disk.marks("d/");
                prop_assert_eq!(&disk.snapshot_prefix("d/").marks("d/"), &marks);
                for ((name, version), mark) in names.into_iter().zip(now).zip(marks) {
                    let content = disk.contents(&name).expect("listed");
                    prop_assert_eq!((&mark.name, mark.version, mark.len), (&name, version, content.len() as u64));
                    let tail = disk.contents_from(&name, 2).expect("listed");
                    prop_assert_eq!(&tail[..], content.get(2..).unwrap_or_default());
                    // The last content seen under this lineage starts the file now.
                    let earlier = lineages.insert(mark.lineage, (name.clone(), content.clone()));
                    if let Some((earlier_name, earlier)) = earlier {
                        prop_assert_eq!(&earlier_name, &name);
                        prop_assert!(content.starts_with(&earlier), "lineage {}: {:?} then {:?}", mark.lineage, earlier, content);
                    }
                    let now = (name, content);
                    let kept = seen.entry(version).or_insert_with(|| now.clone());
                    prop_assert_eq!(&*kept, &now);
                }
            }
        }
    }

    #[test]
    fn marks_list_only_the_prefix() {
        let disk = disk();
        for name in ["p/b", "p/a", "q/a", "o"] {
            disk.create(name).unwrap();
        }
        assert_eq!(disk.marks("p/").len(), 2);
        assert_eq!(disk.snapshot_prefix("p/").list(), vec!["p/a", "p/b"]);
    }

    #[test]
    fn synced_bytes_survive_a_crash_and_unsynced_ones_may_not() {
        let disk = disk();
        disk.update_faults(|faults| faults.torn_writes = false);
        disk.create("a").unwrap();
        disk.append("a", b"hello ").unwrap();
        disk.sync("a").unwrap();
        disk.append("a", b"world").unwrap();
        assert_eq!(disk.contents("a").unwrap(), b"hello world");
        assert_eq!(disk.crash(), 5);
        assert_eq!(disk.contents("a").unwrap(), b"hello ");
    }

    #[test]
    fn created_but_unsynced_file_survives_empty() {
        let disk = disk();
        disk.update_faults(|faults| faults.torn_writes = false);
        disk.create("new").unwrap();
        disk.append("new", b"data").unwrap();
        disk.crash();
        assert_eq!(disk.contents("new").unwrap(), b"");
    }

    #[test]
    fn truncate_and_delete_are_durable_at_once() {
        let disk = disk();
        disk.create("a").unwrap();
        disk.append("a", b"0123456789").unwrap();
        disk.sync("a").unwrap();
        disk.truncate("a", 4).unwrap();
        disk.crash();
        assert_eq!(disk.contents("a").unwrap(), b"0123");
        disk.delete("a").unwrap();
        disk.crash();
        assert!(!disk.exists("a"));
    }

    #[test]
    fn injected_faults_fail_operations_and_write_nothing() {
        let disk = disk();
        disk.create("a").unwrap();
        disk.update_faults(|faults| {
            faults.fail_next_writes = 1;
            faults.fail_next_reads = 1;
        });
        assert_eq!(
            disk.append("a", b"x"),
            Err(DiskError::WriteFault { name: "a".into() })
        );
        assert_eq!(disk.len("a").unwrap(), 0);
        assert_eq!(
            disk.read("a", 0, 1),
            Err(DiskError::ReadFault { name: "a".into() })
        );
        disk.append("a", b"x").unwrap();
        assert_eq!(disk.read("a", 0, 10).unwrap(), b"x");
        assert_eq!(disk.stats().injected_write_errors, 1);
        assert_eq!(disk.stats().injected_read_errors, 1);
    }

    #[test]
    fn a_vanished_file_is_not_found() {
        let disk = disk();
        disk.create("seg").unwrap();
        assert!(disk.vanish("seg"));
        assert_eq!(
            disk.read("seg", 0, 1),
            Err(DiskError::NotFound { name: "seg".into() })
        );
        assert!(!disk.vanish("seg"));
    }

    #[test]
    fn reads_are_short_at_the_end() {
        let disk = disk();
        disk.create("a").unwrap();
        disk.append("a", b"abc").unwrap();
        assert_eq!(disk.read("a", 1, 10).unwrap(), b"bc");
        assert_eq!(disk.read("a", 7, 10).unwrap(), b"");
    }

    #[test]
    fn list_prefix_is_sorted_and_bounded() {
        let disk = disk();
        for name in ["p/b", "p/a", "q/a", "o"] {
            disk.create(name).unwrap();
        }
        assert_eq!(disk.list_prefix("p/"), vec!["p/a", "p/b"]);
        assert_eq!(disk.list(), vec!["o", "p/a", "p/b", "q/a"]);
    }

    #[test]
    fn clones_share_the_disk() {
        let disk = disk();
        let other = disk.clone();
        other.create("x").unwrap();
        assert!(disk.exists("x"));
        assert!(disk.same_disk(&other));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Append(usize, Vec<u8>),
        Sync(usize),
        Crash,
        Truncate(usize, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3usize, proptest::collection::vec(any::<u8>(), 0..16))
                .prop_map(|(file, data)| Op::Append(file, data)),
            2 => (0..3usize).prop_map(Op::Sync),
            1 => Just(Op::Crash),
            1 => (0..3usize, any::<u8>()).prop_map(|(file, fraction)| Op::Truncate(file, fraction)),
        ]
    }

    proptest! {
        /// After any sequence of writes, syncs and crashes, each file's content is its synced
        /// prefix plus at most a torn prefix of what was unsynced.
        #[test]
        fn crash_keeps_the_synced_prefix_and_at_most_a_torn_prefix(
            seed in any::<u64>(),
            ops in proptest::collection::vec(op(), 0..60),
        ) {
            let disk = Disk::new(Seed::new(seed).stream("disk"));
            let names = ["f0", "f1", "f2"];
            // The model: per file, what is durable and what was written since.
            let mut durable: Vec<Vec<u8>> = vec![Vec::new(); 3];
            let mut unsynced: Vec<Vec<u8>> = vec![Vec::new(); 3];
            for name in names {
                disk.create(name).unwrap();
            }
            for op in ops {
                match op {
                    Op::Append(file, data) => {
                        disk.append(names[file], &data).unwrap();
                        unsynced[file].extend_from_slice(&data);
                    }
                    Op::Sync(file) => {
                        disk.sync(names[file]).unwrap();
                        let tail = std::mem::take(&mut unsynced[file]);
                        durable[file].extend_from_slice(&tail);
                    }
                    Op::Truncate(file, fraction) => {
                        let len = durable[file].len() + unsynced[file].len();
                        let new_len = len * fraction as usize / 255;
                        disk.truncate(names[file], new_len as u64).unwrap();
                        let mut all = durable[file].clone();
                        all.extend_from_slice(&unsynced[file]);
                        all.truncate(new_len);
                        let durable_len = durable[file].len().min(new_len);
                        unsynced[file] = all[durable_len..].to_vec();
                        durable[file] = all[..durable_len].to_vec();
                    }
                    Op::Crash => {
                        disk.crash();
                        for file in 0..3 {
                            let content = disk.contents(names[file]).unwrap();
                            prop_assert!(content.len() >= durable[file].len());
                            prop_assert_eq!(&content[..durable[file].len()], &durable[file][..]);
                            let torn = &content[durable[file].len()..];
                            prop_assert!(torn.len() <= unsynced[file].len());
                            prop_assert_eq!(torn, &unsynced[file][..torn.len()]);
                            // What survived is now the durable state.
                            durable[file] = content;
                            unsynced[file].clear();
                        }
                    }
                }
                // Reads always see everything written.
                for file in 0..3 {
                    let mut expected = durable[file].clone();
                    expected.extend_from_slice(&unsynced[file]);
                    prop_assert_eq!(disk.contents(names[file]).unwrap(), expected);
                }
            }
        }
    }
}
