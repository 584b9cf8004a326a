//! The service's managed playback signing key: where its private half comes from ([`source`]),
//! the key this process signs with ([`KeyRing`]), and its life in IVS ([`lifecycle`]): imported
//! once, rotated with one call, deleted from IVS once the longest token it signed has expired.

mod error;
pub mod lifecycle;
mod ring;
mod settings;
pub mod source;

pub use error::KeyError;
pub use ring::KeyRing;
pub use settings::{TokenArgs, Tokens};
pub use source::KeySource;
