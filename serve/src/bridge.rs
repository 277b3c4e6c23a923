//! The bridge: real TCP connections from outside the process, carried byte for byte to madsim
//! TCP connections inside the simulation.
//!
//! [`run`] runs on a node of its own inside the simulation. Every pacing step ([`STEP`] of
//! simulated time, paced to the wall clock) it accepts the connections waiting on each real,
//! non-blocking [`std::net::TcpListener`] of a [`Route`], and for each one opens a
//! [`madsim::net::TcpStream`] to the route's target in a task of its own. Then it moves bytes:
//! real → simulated with non-blocking reads of the real socket (handed to the connection's task,
//! which writes them to the madsim stream), simulated → real with the task's reads of the madsim
//! stream (written to the real socket without blocking; what the socket does not take now waits
//! for the next step). When either side closes or fails — the target refuses the connection (no
//! listener, a crashed or cut-off node), a crash drops it, the real client hangs up — the other
//! side is closed too.
//!
//! The bridge never blocks the simulation's thread: real sockets are non-blocking, and the only
//! blocking is the pacer's, on purpose.

use crate::pacer::{Pacer, STEP};
use madsim::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

/// Bytes read from one socket in one go.
const CHUNK_BYTES: usize = 64 * 1024;
/// The most bytes read from one real connection per step (the rest waits for the next step).
const READ_PER_STEP_MAX: usize = 4 << 20;
/// While this many bytes wait to be written to a real connection, the bridge stops taking more
/// from its madsim side (they wait in the connection's channel).
const PENDING_MAX: usize = 8 << 20;

/// A real listener and the simulated address its connections are carried to.
#[derive(Debug)]
pub struct Route {
    /// Must be non-blocking (`set_nonblocking(true)`): the bridge polls it.
    pub listener: std::net::TcpListener,
    pub target: SocketAddr,
}

/// What the bridge did (for the end-of-run summary and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Real connections accepted.
    pub accepted: u64,
    /// Of those, carried to an open madsim connection.
    pub connected: u64,
    /// Of those, whose madsim connection was refused (no listener, node down or cut off).
    pub refused: u64,
    /// Bytes carried from real clients into the simulation, and back out.
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Shared, readable during and after the run.
pub type SharedStats = Arc<Mutex<BridgeStats>>;

fn update(stats: &SharedStats, change: impl FnOnce(&mut BridgeStats)) {
    change(&mut stats.lock().unwrap_or_else(|p| p.into_inner()));
}

/// Runs the bridge until `stop` is set: each step sleeps [`STEP`] of simulated time, lets the
/// pacer catch the wall clock up, then accepts and pumps. Call it inside the simulation, on a
/// node of its own (its connections are that node's). On return every real connection is closed.
pub async fn run(routes: Vec<Route>, pacer: Pacer, stop: Arc<AtomicBool>, stats: SharedStats) {
    let mut connections: Vec<Connection> = Vec::new();
    loop {
        madsim::time::sleep(STEP).await;
        pacer.step();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        for route in &routes {
            accept_all(route, &mut connections, &stats);
        }
        connections.retain_mut(|connection| connection.pump(&stats));
    }
}

/// Accepts every connection waiting on `route`'s listener.
fn accept_all(route: &Route, connections: &mut Vec<Connection>, stats: &SharedStats) {
    loop {
        match route.listener.accept() {
            Ok((real, _peer)) => {
                update(stats, |s| s.accepted += 1);
                if real.set_nonblocking(true).is_err() {
                    continue; // dropped: closed
                }
                let _ = real.set_nodelay(true);
                connections.push(Connection::open(real, route.target, stats.clone()));
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock: none waiting. Anything else (e.g. out of file descriptors) is retried
            // at the next step.
            Err(_) => return,
        }
    }
}

/// One bridged connection, as the bridge loop holds it.
struct Connection {
    real: std::net::TcpStream,
    /// Bytes for the madsim side (dropping it, with the connection, closes that side).
    to_sim: mpsc::UnboundedSender<Vec<u8>>,
    /// Bytes from the madsim side; disconnected when it has closed.
    from_sim: mpsc::UnboundedReceiver<Vec<u8>>,
    /// Bytes from the madsim side not yet taken by the real socket.
    pending: VecDeque<u8>,
    sim_closed: bool,
}

impl Connection {
    fn open(real: std::net::TcpStream, target: SocketAddr, stats: SharedStats) -> Connection {
        let (to_sim, to_sim_receiver) = mpsc::unbounded_channel();
        let (from_sim_sender, from_sim) = mpsc::unbounded_channel();
        madsim::task::spawn(carry(target, to_sim_receiver, from_sim_sender, stats));
        Connection {
            real,
            to_sim,
            from_sim,
            pending: VecDeque::new(),
            sim_closed: false,
        }
    }

    /// Moves what is ready in both directions; false when the connection is over (dropping it
    /// closes the real socket and, through the channel, the madsim one).
    fn pump(&mut self, stats: &SharedStats) -> bool {
        // Simulated → real.
        while self.pending.len() < PENDING_MAX {
            match self.from_sim.try_recv() {
                Ok(bytes) => self.pending.extend(bytes),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.sim_closed = true;
                    break;
                }
            }
        }
        while !self.pending.is_empty() {
            let (front, _) = self.pending.as_slices();
            match self.real.write(front) {
                Ok(0) => return false,
                Ok(written) => {
                    self.pending.drain(..written);
                    update(stats, |s| s.bytes_out += written as u64);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        if self.sim_closed && self.pending.is_empty() {
            return false;
        }
        // Real → simulated.
        let mut read = 0;
        let mut buffer = [0u8; CHUNK_BYTES];
        while read < READ_PER_STEP_MAX {
            match self.real.read(&mut buffer) {
                Ok(0) => return false, // the client hung up
                Ok(count) => {
                    read += count;
                    update(stats, |s| s.bytes_in += count as u64);
                    if self.to_sim.send(buffer[..count].to_vec()).is_err() {
                        // The madsim side is gone; what it sent is still written above.
                        self.sim_closed = true;
                        break;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    }
}

/// The madsim side of one connection: connects to `target`, then writes what the real side sent
/// and hands back what the target sends, until either side closes.
async fn carry(
    target: SocketAddr,
    mut to_sim: mpsc::UnboundedReceiver<Vec<u8>>,
    from_sim: mpsc::UnboundedSender<Vec<u8>>,
    stats: SharedStats,
) {
    let mut stream = match TcpStream::connect(target).await {
        Ok(stream) => stream,
        Err(_) => {
            update(&stats, |s| s.refused += 1);
            return; // dropping `from_sim` closes the real side
        }
    };
    update(&stats, |s| s.connected += 1);
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        enum Next {
            Out(Option<Vec<u8>>),
            In(io::Result<usize>),
        }
        let next = tokio::select! {
            biased;
            bytes = to_sim.recv() => Next::Out(bytes),
            read = read(&mut stream, &mut buffer) => Next::In(read),
        };
        match next {
            Next::Out(Some(bytes)) => {
                if write_all(&mut stream, &bytes).await.is_err() {
                    return;
                }
            }
            Next::Out(None) => return, // the real side closed: dropping the stream closes ours
            Next::In(Ok(0)) | Next::In(Err(_)) => return,
            Next::In(Ok(count)) => {
                if from_sim.send(buffer[..count].to_vec()).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads what is available from a madsim stream (waiting for at least one byte); 0 at the end.
pub async fn read(stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|context| {
        let mut read_buf = ReadBuf::new(buffer);
        match Pin::new(&mut *stream).poll_read(context, &mut read_buf) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(read_buf.filled().len())),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Writes all of `bytes` to a madsim stream and flushes them onto the simulated network.
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let count = std::future::poll_fn(|context| {
            Pin::new(&mut *stream).poll_write(context, &bytes[written..])
        })
        .await?;
        if count == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += count;
    }
    std::future::poll_fn(|context| Pin::new(&mut *stream).poll_flush(context)).await
}
