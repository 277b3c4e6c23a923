//! The simulated world: seeded randomness, madsim runtime per seed, simulated disk, network faults,
//! trace hash.
//!
//! - [`Seed`]: named, independent ChaCha8 streams derived from the run seed.
//! - [`runner::run`]: one madsim runtime per seed on its own thread, with limits; panics become
//!   outcomes.
//! - [`World`]: named nodes (start, kill, restart, pause, resume), their [`disk::Disk`]s, network
//!   faults (partitions, one-way clogs, loss, latency) and the [`trace::Trace`].
//! - [`net::Socket`]: typed datagrams over the simulated network.

#[cfg(not(madsim))]
compile_error!(
    "streamsim must be compiled with `--cfg madsim` (simulation mode). The workspace's \
     .cargo/config.toml sets it, but any RUSTFLAGS or CARGO_BUILD_RUSTFLAGS environment variable \
     silently replaces those flags: unset it, or add `--cfg madsim` to it, e.g. \
     RUSTFLAGS=\"--cfg madsim\"."
);

pub mod baseline;
pub mod disk;
pub mod net;
pub mod runner;
pub mod seed;
pub mod shell;
pub mod time;
pub mod trace;
pub mod world;

pub use runner::{run, RunLimits, RunOutcome, RunStatus};
pub use seed::Seed;
pub use trace::{Trace, TraceHash};
pub use world::{NodeContext, NodeState, WakeupCounter, World};
