//! NewReno (RFC 9002 §7).
#![allow(missing_docs, clippy::todo, unused)] // skeleton

/// NewReno state.
#[derive(Debug, Clone)]
pub struct NewReno {
    _todo: (),
}
