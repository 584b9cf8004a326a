//! The domain: types and rules with no I/O. Channel specs and their validation, phases, audit
//! event kinds, outputs, API-key scopes, and how AWS resources are named and tagged. Every other
//! layer depends on this one; it depends on none of them.

pub mod api_key;
pub mod broadcast;
pub mod channel;
pub mod chat_access;
pub mod event;
pub mod event_routing;
pub mod field_error;
pub mod ivs_event;
pub mod keys;
pub mod limits;
pub mod outputs;
pub mod page;
pub mod phase;
pub mod resources;
pub mod rules;
pub mod validation;
pub mod webhook;

pub use event::EventKind;
pub use field_error::FieldError;
pub use outputs::{ChannelOutputs, LastError};
pub use phase::Phase;
