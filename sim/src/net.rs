//! Typed datagrams over madsim's simulated network.
//!
//! Messages are Rust values moved through madsim's raw endpoint API, so nothing is serialized on
//! the wire. The network may drop, delay and reorder them (latency ranges, loss, clogs); protocols
//! on top must tolerate that with timeouts and retries, as over UDP.

use std::any::Any;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;

/// The tag all streamsim datagrams use on their endpoint.
const DATAGRAM_TAG: u64 = 0x5354_524d;

/// A bound socket sending and receiving messages of type `M`.
pub struct Socket<M> {
    endpoint: madsim::net::Endpoint,
    _message: PhantomData<fn() -> M>,
}

impl<M: Any + Send + Sync + 'static> Socket<M> {
    pub async fn bind(addr: SocketAddr) -> io::Result<Socket<M>> {
        Ok(Socket {
            endpoint: madsim::net::Endpoint::bind(addr).await?,
            _message: PhantomData,
        })
    }

    /// Binds an ephemeral port on the node's address.
    pub async fn bind_any() -> io::Result<Socket<M>> {
        Self::bind("0.0.0.0:0".parse().expect("valid address")).await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint
            .local_addr()
            .expect("a bound endpoint has an address")
    }

    /// Sends a message; like UDP, success means nothing about delivery.
    pub async fn send(&self, to: SocketAddr, message: M) {
        // An error here means the node is going down; the message is simply lost.
        let _ = self
            .endpoint
            .send_to_raw(to, DATAGRAM_TAG, Box::new(message))
            .await;
    }

    /// Receives the next message. Errors only when the node's network is torn down.
    pub async fn recv(&self) -> io::Result<(M, SocketAddr)> {
        let (payload, from) = self.endpoint.recv_from_raw(DATAGRAM_TAG).await?;
        let message = payload.downcast::<M>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message from {from} is not of the socket's message type"),
            )
        })?;
        Ok((*message, from))
    }
}

/// A cancel-safe receiver: a task moves every datagram from the socket into a channel.
///
/// `Socket::recv` is NOT cancel-safe: madsim's raw receive sleeps a few microseconds after
/// taking the message off the mailbox, so a `select!` that drops it at that moment loses the
/// message. Shells that `select!` between receiving and a timer must receive through an
/// `Inbox` (the channel's `recv` is cancel-safe).
pub struct Inbox<M> {
    received: tokio::sync::mpsc::UnboundedReceiver<(M, SocketAddr)>,
}

impl<M: Any + Send + Sync + 'static> Inbox<M> {
    /// Starts the receiving task on the current node; it ends when the node's network goes
    /// down or the inbox is dropped.
    pub fn spawn(socket: std::sync::Arc<Socket<M>>) -> Inbox<M> {
        let (sender, received) = tokio::sync::mpsc::unbounded_channel();
        madsim::task::spawn(async move {
            loop {
                match socket.recv().await {
                    Ok(message) => {
                        if sender.send(message).is_err() {
                            return;
                        }
                    }
                    // Not our message type: ignore it, like a stray datagram.
                    Err(error) if error.kind() == io::ErrorKind::InvalidData => continue,
                    Err(_) => return,
                }
            }
        });
        Inbox { received }
    }

    /// The next message; None when the socket is gone.
    pub async fn recv(&mut self) -> Option<(M, SocketAddr)> {
        self.received.recv().await
    }
}
