//! The madsim host of a broker's Kafka gateway ([`wire::Gateway`]): Kafka clients connect over
//! madsim TCP to `(broker ip, KAFKA_PORT)`.
//!
//! Tasks, all on the broker's node (a crash kills them with the listener and every connection,
//! which is what a Kafka client sees of a broker crash):
//! - the acceptor: accepts connections, numbers them and starts a connection task for each;
//! - one task per connection: madsim's `TcpStream` has no `into_split`, so one task owns the
//!   stream and both reads (forwarding the bytes to the gateway task) and writes (the frames
//!   the gateway task sends it); dropping its channel closes the connection;
//! - the gateway task: owns the [`wire::Gateway`] and a [`Socket`] bound on the same node at
//!   `KAFKA_PORT + 1` for its internal requests, and `select!`s (biased) over its inbox, the
//!   connection events and its timer, like `sim::shell` does for the cores.
//!
//! Binding a socket and accepting draw on madsim's random number generator, and every task that
//! wakes is scheduled by it: the host runs only when [`super::KafkaListeners::enabled`] is set,
//! so runs without Kafka clients keep their trace hashes.

use crate::api::Envelope;
use sim::net::{Inbox, Socket};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use wire::{ConnId, Gateway, GatewayConfig, GatewayOutput};

/// Bytes read from a connection at a time.
const READ_CHUNK: usize = 64 * 1024;

/// What a connection tells the gateway task.
enum ConnEvent {
    Accepted {
        conn: ConnId,
        writer: mpsc::UnboundedSender<bytes::Bytes>,
    },
    Bytes {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
}

/// Serves Kafka on `(ip, KAFKA_PORT)` with a gateway configured by `config`. Runs until the node
/// goes down; a bind failure is logged and ends the Kafka front end only.
pub(super) async fn serve(config: GatewayConfig) {
    let ip = config.broker_addr.ip();
    let listen = SocketAddr::new(ip, config.kafka_port);
    let listener = match madsim::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%listen, %error, "kafka listener cannot bind");
            return;
        }
    };
    let internal = SocketAddr::new(ip, config.kafka_port.wrapping_add(1));
    let socket = match Socket::<Envelope>::bind(internal).await {
        Ok(socket) => Arc::new(socket),
        Err(error) => {
            tracing::warn!(%internal, %error, "kafka gateway cannot bind its internal socket");
            return;
        }
    };
    let (events, received) = mpsc::unbounded_channel();
    madsim::task::spawn(accept_loop(listener, events));
    gateway_loop(Gateway::new(config), socket, received).await;
}

async fn accept_loop(listener: madsim::net::TcpListener, events: mpsc::UnboundedSender<ConnEvent>) {
    let mut next = 1u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "kafka listener stops accepting");
                return;
            }
        };
        let conn = ConnId(next);
        next += 1;
        tracing::debug!(%conn, %peer, "kafka connection accepted");
        let (writer, writes) = mpsc::unbounded_channel();
        if events.send(ConnEvent::Accepted { conn, writer }).is_err() {
            return;
        }
        madsim::task::spawn(connection(conn, stream, writes, events.clone()));
    }
}

/// Reads from and writes to one connection until either side closes it.
async fn connection(
    conn: ConnId,
    mut stream: madsim::net::TcpStream,
    mut writes: mpsc::UnboundedReceiver<bytes::Bytes>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            biased;
            write = writes.recv() => {
                // None: the gateway closed the connection (bad input); dropping the stream
                // closes it.
                let Some(bytes) = write else { return };
                if write_all(&mut stream, &bytes).await.is_err() {
                    let _ = events.send(ConnEvent::Closed { conn });
                    return;
                }
            }
            read = read_some(&mut stream, &mut chunk) => {
                match read {
                    Ok(0) | Err(_) => {
                        let _ = events.send(ConnEvent::Closed { conn });
                        return;
                    }
                    Ok(n) => {
                        let bytes = chunk[..n].to_vec();
                        if events.send(ConnEvent::Bytes { conn, bytes }).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// One read: the number of bytes read, 0 at the end of the stream. Cancel-safe: bytes are only
/// taken from the stream by the poll that returns them.
async fn read_some(
    stream: &mut madsim::net::TcpStream,
    chunk: &mut [u8],
) -> std::io::Result<usize> {
    poll_fn(|cx| {
        let mut buf = ReadBuf::new(chunk);
        match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(Ok(buf.filled().len())),
            std::task::Poll::Ready(Err(error)) => std::task::Poll::Ready(Err(error)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

async fn write_all(stream: &mut madsim::net::TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, &bytes[written..])).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

async fn gateway_loop(
    mut gateway: Gateway,
    socket: Arc<Socket<Envelope>>,
    mut events: mpsc::UnboundedReceiver<ConnEvent>,
) {
    let mut inbox = Inbox::spawn(socket.clone());
    let clock = madsim::time::TimeHandle::current();
    let base = clock.now_instant() - clock.elapsed();
    let now = || clock.elapsed();
    let mut timer = sim::time::Timer::at(clock.now_instant() + Duration::from_secs(3600));
    let mut armed = false;
    let mut writers: BTreeMap<ConnId, mpsc::UnboundedSender<bytes::Bytes>> = BTreeMap::new();
    let mut outputs = Vec::new();
    loop {
        tokio::select! {
            biased;
            received = inbox.recv() => {
                let Some((envelope, from)) = received else { return };
                gateway.on_message(now(), from, envelope);
            }
            event = events.recv() => {
                match event {
                    // The acceptor is gone (the node is going down).
                    None => return,
                    Some(ConnEvent::Accepted { conn, writer }) => {
                        writers.insert(conn, writer);
                    }
                    Some(ConnEvent::Bytes { conn, bytes }) => {
                        if writers.contains_key(&conn) {
                            gateway.on_bytes(now(), conn, &bytes);
                        }
                    }
                    Some(ConnEvent::Closed { conn }) => {
                        writers.remove(&conn);
                        gateway.on_closed(conn);
                    }
                }
            }
            _ = &mut timer, if armed => {
                gateway.on_tick(now());
            }
        }
        gateway.take_outputs(&mut outputs);
        for output in outputs.drain(..) {
            match output {
                GatewayOutput::Send { to, envelope } => socket.send(to, envelope).await,
                GatewayOutput::Write { conn, bytes } => {
                    if let Some(writer) = writers.get(&conn) {
                        let _ = writer.send(bytes);
                    }
                }
                GatewayOutput::Close { conn, reason } => {
                    tracing::debug!(%conn, %reason, "kafka connection closed by the gateway");
                    // Dropping the sender ends the connection task, which drops the stream.
                    writers.remove(&conn);
                }
            }
        }
        let at = now();
        match gateway.next_tick() {
            Some(next) => {
                timer.reset_at(base + next, base + at);
                armed = true;
            }
            None => armed = false,
        }
    }
}
