//! Checking a history read from a file on all cores: parsing is most of a check's work and every line
//! parses on its own, so the input is taken in blocks of whole lines, each block's lines are parsed by
//! several threads at once (one part of the block each), and the parsed events are then checked in line
//! order on one thread. The verdict, and the first error in line order, are exactly those of reading the
//! history one line at a time with [`HistoryReader`](crate::HistoryReader) (tested in `tests/parallel_check.rs`).

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
    mut reader: impl BufRead,
    threads: usize,
) -> Result<CheckResult, HistoryError> {
    let mut state = Sequence {
        checker: Checker::new(),
        lines: 0,
        previous: None,
        spare: Vec::new(),
    };
    // A line that straddles the end of the reader's buffer (or is longer than a block), copied whole.
    let mut straddling = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(source) => return Err(state.read_error(source)),
        };
        if available.is_empty() {
            break;
        }
        let window = &available[..available.len().min(BLOCK_BYTES_MAX)];
        match window.iter().rposition(|&byte| byte == b'\n') {
            Some(last_newline) => {
                state.block(&window[..=last_newline], threads)?;
                reader.consume(last_newline + 1);
            }
            None => {
                straddling.clear();
                if let Err(source) = reader.read_until(b'\n', &mut straddling) {
                    return Err(state.read_error(source));
                }
                state.block(&straddling, 1)?;
            }
        }
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

    /// Parses `block` (whole lines; the last may lack its newline only at the end of the input) on up to
    /// `threads` threads and checks its events in order. The calling thread parses a smaller first part
    /// and checks its events while the other threads still parse theirs. Each part numbers its lines from
    /// 1; checking adds the lines before it.
    fn block(&mut self, block: &[u8], threads: usize) -> Result<(), HistoryError> {
        let parts = split(block, threads);
        let mut buffers: Vec<Vec<(u64, Event<'_>)>> = (0..parts.len())
            .map(|_| recycle(self.spare.pop().unwrap_or_default()))
            .collect();
        let first = buffers.remove(0);
        if parts.len() == 1 {
            return self.check(parse_part(parts[0], first));
        }
        std::thread::scope(|scope| {
            let helpers: Vec<_> = parts[1..]
                .iter()
                .zip(buffers)
                .map(|(&part, buffer)| scope.spawn(move || parse_part(part, buffer)))
                .collect();
            self.check(parse_part(parts[0], first))?;
            for helper in helpers {
                let parsed = helper
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                self.check(parsed)?;
            }
            Ok(())
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

/// Checking an event costs about this share of parsing its line (measured on generated histories in the
/// form streamsim writes: 97M instructions checking 100k events against 186M parsing them, and checking
/// misses the cache more); the calling thread, which also checks, gets a smaller part to parse so all
/// threads finish together.
const CHECK_OVER_PARSE: f64 = 0.55;

/// `block` cut into up to `threads` parts at line ends: the first, for the calling thread, smaller by what
/// checking costs it (see [`CHECK_OVER_PARSE`]), the others of equal size.
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
