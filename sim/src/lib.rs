//! The simulated world: seeded randomness, madsim runtime per seed, simulated disk, network faults, trace hash.

#[cfg(not(madsim))]
compile_error!(
    "streamsim must be compiled with `--cfg madsim` (simulation mode). The workspace's \
     .cargo/config.toml sets it, but any RUSTFLAGS or CARGO_BUILD_RUSTFLAGS environment variable \
     silently replaces those flags: unset it, or add `--cfg madsim` to it, e.g. \
     RUSTFLAGS=\"--cfg madsim\"."
);

pub mod disk;
pub mod seed;

pub use seed::Seed;
