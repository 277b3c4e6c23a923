//! Checking a history read from a file on all cores: parsing is most of a check's work and every line
//! parses on its own, so the input is taken in blocks of whole lines, each block's lines are parsed by
//! several threads at once (one part of the block each), and the parsed events are then checked in line
//! order on one thread. With more than one thread the work is a pipeline: while the calling thread
//! checks one block's events, the other threads already parse the next block. The verdict, and the first
//! error in line order, are exactly those of reading the history one line at a time with
//! [`HistoryReader`](crate::HistoryReader) (tested in `tests/parallel_check.rs`).

use std::io::BufRead;

use crate::check::Checker;
use crate::event::Event;
use crate::reader::{find_newline, parse_line_bytes, parse_line_into, HistoryError};
use crate::result::CheckResult;

/// The most bytes parsed as one block: bounds the parsed events held at once.
const BLOCK_BYTES_MAX: usize = 4 << 20;

/// A block is split among the threads only when each gets at least this many bytes.
const PART_BYTES_MIN: usize = 64 << 10;

/// A part's parsed lines, numbered from 1 within the part: its events with their lines, in order, up to
/// its first bad line.
struct Parsed<'a> {
    events: Vec<(u64, Event<'a>)>,
    /// The first line that does not parse, and its number in the part. Its error is made again when
    /// the part is checked, with the line's number in the whole input.
    bad: Option<(u64, &'a [u8])>,
    /// Lines in the part (when none is bad).
    lines: u64,
}

/// `events` emptied, for events that borrow from another block: the allocation is kept (the standard
/// library collects a mapped `vec::IntoIter` in place when the item layouts agree, as here).
fn recycle<'b>(mut events: Vec<(u64, Event<'_>)>) -> Vec<(u64, Event<'b>)> {
    events.clear();
    events
        .into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// Reads and checks a history with `threads` parsing threads (1: all on the calling thread).
pub(crate) fn check_reader(
    reader: impl BufRead,
    threads: usize,
) -> Result<CheckResult, HistoryError> {
    let mut state = Sequence {
        checker: Checker::new(),
        lines: 0,
        previous: None,
        spare: Vec::new(),
    };
    if threads > 1 {
        state.pipeline(reader, threads)?;
    } else {
        state.in_place(reader)?;
    }
    Ok(state.checker.finish())
}

/// What carries from one block to the next.
struct Sequence {
    checker: Checker,
    /// Lines read so far (the number of the last one).
    lines: u64,
    /// `(time_ns, line)` of the last event.
    previous: Option<(u64, u64)>,
    /// Emptied event vectors of earlier blocks, to parse into again.
    spare: Vec<Vec<(u64, Event<'static>)>>,
}

impl Sequence {
    fn read_error(&self, source: std::io::Error) -> HistoryError {
        HistoryError::Read {
            line: self.lines + 1,
            source,
        }
    }

    /// An empty event vector to parse into, reusing one an earlier part left.
    fn spare_buffer<'b>(&mut self) -> Vec<(u64, Event<'b>)> {
        recycle(self.spare.pop().unwrap_or_default())
    }

    /// One thread: each block is parsed where the reader holds it (no copy), then checked.
    fn in_place(&mut self, mut reader: impl BufRead) -> Result<(), HistoryError> {
        // A line that straddles the end of the reader's buffer (or is longer than a block), copied whole.
        let mut straddling = Vec::new();
        loop {
            let available = match reader.fill_buf() {
                Ok(available) => available,
                Err(source) => return Err(self.read_error(source)),
            };
            if available.is_empty() {
                return Ok(());
            }
            let window = &available[..available.len().min(BLOCK_BYTES_MAX)];
            match window.iter().rposition(|&byte| byte == b'\n') {
                Some(last_newline) => {
                    let buffer = self.spare_buffer();
                    self.check(parse_part(&window[..=last_newline], buffer))?;
                    reader.consume(last_newline + 1);
                }
                None => {
                    straddling.clear();
                    if let Err(source) = reader.read_until(b'\n', &mut straddling) {
                        return Err(self.read_error(source));
                    }
                    let buffer = self.spare_buffer();
                    self.check(parse_part(&straddling, buffer))?;
                }
            }
        }
    }

    /// Several threads, as a pipeline over two block buffers taken in turns: while the calling thread
    /// checks the events of one block, the other threads parse the next; the calling thread then parses
    /// a smaller first part of that next block itself and checks it (see [`split`]).
    fn pipeline(&mut self, reader: impl BufRead, threads: usize) -> Result<(), HistoryError> {
        let mut blocks = BlockReader {
            reader,
            carry: Vec::new(),
            failed: None,
            ended: false,
        };
        let (mut even, mut odd) = (Vec::new(), Vec::new());
        // The parts of the block last parsed whose events are not checked yet.
        let mut even_parsed = Vec::new();
        if blocks.next(&mut even) {
            even_parsed = self.overlap(&even, Vec::new(), threads)?;
        }
        loop {
            if !blocks.next(&mut odd) {
                return self.finish_pipeline(even_parsed, blocks.failed);
            }
            let odd_parsed = self.overlap(&odd, even_parsed, threads)?;
            if !blocks.next(&mut even) {
                return self.finish_pipeline(odd_parsed, blocks.failed);
            }
            even_parsed = self.overlap(&even, odd_parsed, threads)?;
        }
    }

    /// Checks the parts of the last block, then reports the read error that ended the input, if any: it
    /// comes after every line read before it.
    fn finish_pipeline(
        &mut self,
        parsed: Vec<Parsed<'_>>,
        failed: Option<std::io::Error>,
    ) -> Result<(), HistoryError> {
        for parsed in parsed {
            self.check(parsed)?;
        }
        match failed {
            Some(source) => Err(self.read_error(source)),
            None => Ok(()),
        }
    }

    /// One step of the pipeline: `block`'s parts after the first are parsed on other threads while the
    /// calling thread checks `unchecked` (the parts of the block before, in order), then parses `block`'s
    /// first part and checks it. Returns the other parts of `block`, parsed, to check next.
    fn overlap<'b>(
        &mut self,
        block: &'b [u8],
        unchecked: Vec<Parsed<'_>>,
        threads: usize,
    ) -> Result<Vec<Parsed<'b>>, HistoryError> {
        let parts = split(block, threads);
        let mut buffers: Vec<Vec<(u64, Event<'b>)>> =
            (0..parts.len()).map(|_| self.spare_buffer()).collect();
        let first = buffers.remove(0);
        std::thread::scope(|scope| {
            let helpers: Vec<_> = parts[1..]
                .iter()
                .zip(buffers)
                .map(|(&part, buffer)| scope.spawn(move || parse_part(part, buffer)))
                .collect();
            for parsed in unchecked {
                self.check(parsed)?;
            }
            self.check(parse_part(parts[0], first))?;
            Ok(helpers
                .into_iter()
                .map(|helper| {
                    helper
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect())
        })
    }

    /// Checks a part's parsed lines in order, numbered after the lines read so far: time must not go
    /// backwards; the first error ends the check.
    fn check(&mut self, parsed: Parsed<'_>) -> Result<(), HistoryError> {
        let before = self.lines;
        // By reference: an event is large, and moving each out costs a copy.
        for &(relative, ref event) in &parsed.events {
            let line = before + relative;
            if let Some((previous_time_ns, previous_line)) = self.previous {
                if event.time_ns < previous_time_ns {
                    return Err(HistoryError::TimeWentBackwards {
                        line,
                        time_ns: event.time_ns,
                        previous_time_ns,
                        previous_line,
                    });
                }
            }
            self.previous = Some((event.time_ns, line));
            self.checker.observe(line, event);
        }
        self.spare.push(recycle(parsed.events));
        match parsed.bad {
            Some((relative, bytes)) => Err(parse_line_bytes(bytes, before + relative)
                .expect_err("a line that did not parse does not parse")),
            None => {
                self.lines += parsed.lines;
                Ok(())
            }
        }
    }
}

/// The input in blocks of whole lines, copied into buffers of the pipeline's own (a parsed block's
/// events borrow its text while the next block is read).
struct BlockReader<R> {
    reader: R,
    /// The start of a line read with the block before, which ended inside it.
    carry: Vec<u8>,
    /// The read error that ended the input; the lines read before it are checked first.
    failed: Option<std::io::Error>,
    ended: bool,
}

impl<R: BufRead> BlockReader<R> {
    /// Fills `block` with the next whole lines: up to [`BLOCK_BYTES_MAX`] bytes, more only for a line
    /// longer than that; the last line of the input may lack its newline. `false` when nothing is left.
    fn next(&mut self, block: &mut Vec<u8>) -> bool {
        block.clear();
        block.append(&mut self.carry);
        while !self.ended && block.len() < BLOCK_BYTES_MAX {
            match self.reader.fill_buf() {
                Ok([]) => self.ended = true,
                Ok(available) => {
                    let taken = available.len().min(BLOCK_BYTES_MAX - block.len());
                    block.extend_from_slice(&available[..taken]);
                    self.reader.consume(taken);
                }
                Err(error) => {
                    self.failed = Some(error);
                    self.ended = true;
                }
            }
        }
        if !block.ends_with(b"\n") {
            match block.iter().rposition(|&byte| byte == b'\n') {
                // A line ends inside the block: the rest waits for the next one (or, after a read
                // error, is the line the error names).
                Some(last_newline) if !self.ended || self.failed.is_some() => {
                    self.carry.extend_from_slice(&block[last_newline + 1..]);
                    block.truncate(last_newline + 1);
                }
                // A line longer than a block: read on to its end.
                None if !self.ended => {
                    if let Err(error) = self.reader.read_until(b'\n', block) {
                        self.failed = Some(error);
                        self.ended = true;
                        std::mem::swap(&mut self.carry, block);
                    }
                }
                // The end of the input, after a read error: the partial line is the one it names.
                None if self.failed.is_some() => std::mem::swap(&mut self.carry, block),
                // The last line of the input, without its newline.
                _ => {}
            }
        }
        !block.is_empty()
    }
}

/// Checking an event costs about this share of parsing its line (measured on generated histories in the
/// form streamsim writes: 97M instructions checking 100k events against 186M parsing them, and checking
/// misses the cache more); the calling thread, which also checks, gets a smaller part to parse so all
/// threads finish together.
const CHECK_OVER_PARSE: f64 = 0.55;

/// `block` cut into up to `threads` parts at line ends: the first, for the calling thread, smaller by what
/// checking costs it (see [`CHECK_OVER_PARSE`]), the others of equal size. Per block the calling thread
/// checks every event (in the pipeline, the block before's other parts, then its own part) and parses
/// its part, while each other thread parses one part: with `r` = [`CHECK_OVER_PARSE`] and `n` threads,
/// the first part is `(1 - (n - 1) r) / n` of the block (none when that is below zero).
fn split(block: &[u8], threads: usize) -> Vec<&[u8]> {
    let threads = threads.clamp(1, (block.len() / PART_BYTES_MIN).max(1));
    if threads == 1 {
        return vec![block];
    }
    let helper_share = (1.0 + CHECK_OVER_PARSE) / threads as f64;
    let first_share = (helper_share - CHECK_OVER_PARSE).max(0.0);
    let helper_share = (1.0 - first_share) / (threads - 1) as f64;
    let mut parts = Vec::with_capacity(threads);
    let mut start = 0;
    for index in 0..threads - 1 {
        let share = first_share + helper_share * index as f64;
        let target = ((block.len() as f64 * share) as usize).clamp(start, block.len());
        // The part ends at the end of the line that holds byte `target`; an empty first part is fine.
        let end = if target == 0 {
            0
        } else {
            match find_newline(&block[target - 1..]) {
                Some(newline) => target + newline,
                None => break,
            }
        };
        parts.push(&block[start..end]);
        start = end;
    }
    parts.push(&block[start..]);
    parts
}

/// Parses the lines of `part` into `events` (empty), numbering them from 1; stops at the first bad line.
fn parse_part<'a>(part: &'a [u8], mut events: Vec<(u64, Event<'a>)>) -> Parsed<'a> {
    let mut rest = part;
    let mut line = 0;
    let bad = loop {
        if rest.is_empty() {
            break None;
        }
        let length = find_newline(rest).map_or(rest.len(), |newline| newline + 1);
        let (bytes, after) = rest.split_at(length);
        rest = after;
        line += 1;
        if parse_line_into(bytes, line, &mut events).is_err() {
            break Some((line, bytes));
        }
    };
    Parsed {
        events,
        bad,
        lines: line,
    }
}
