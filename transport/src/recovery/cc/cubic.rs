//! CUBIC (RFC 9438).
#![allow(missing_docs, clippy::todo, unused)] // skeleton

/// CUBIC state.
#[derive(Debug, Clone)]
pub struct Cubic {
    _todo: (),
}
