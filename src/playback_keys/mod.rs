//! The service's managed playback signing key (DESIGN.md §4, §6): where its private half comes
//! from ([`source`]), the key this process signs with ([`KeyRing`]), and its life in IVS
//! ([`lifecycle`]): imported once, rotated with one call, deleted from IVS once the longest
//! token it signed has expired.

pub mod lifecycle;
mod ring;
pub mod source;

pub use ring::KeyRing;
pub use source::KeySource;
