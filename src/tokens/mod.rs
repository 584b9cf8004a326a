//! Playback tokens (IVS's claims: docs/aws-facts.md §4): the claims a request asks for and the
//! limits they obey ([`claims`]), and the ES384 signer that turns claims into a token
//! ([`signer`]). Nothing here touches the network or the database: minting is pure CPU.

pub mod claims;
pub mod signer;

pub use claims::{MaxResolution, TokenClaims, TokenLimits, TokenRequest};
pub use signer::SigningKey;
