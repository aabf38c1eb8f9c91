//! The pure core: no browser types, no clock, no randomness. Tested natively
//! with `cargo test`.

pub mod checksum;
pub mod fingerprint;
pub mod part_size;
pub mod plan;
pub mod ramp;
pub mod reconcile;
pub mod record;
pub mod retry;
pub mod text;
pub mod watch;
