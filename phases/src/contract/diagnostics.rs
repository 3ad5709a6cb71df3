//! How an error speaks to the user: its message (`Display`) says what went wrong and names the
//! file, flag, field or endpoint involved; its [`Diagnostic::hint`] says what to do about it,
//! when there is something to say. Every error type that can reach the user implements
//! [`Diagnostic`], and the binary reports any of them through one function, so a hint is never
//! lost on the way (a wrapping error asks the one it wraps) nor written twice.
//!
//! A hint is kept out of the message so that JSON consumers get it as its own field. The
//! configuration layer is the exception: its messages end with the expected form ("expected
//! one of …", "set it with --node-name …") because they are embedded in other messages (a
//! cluster's kubeadm-config, `--config` of reset) and read like kubeadm's.

use std::borrow::Cow;

/// An error with an optional hint on what the user can do about it.
pub trait Diagnostic: std::error::Error {
    /// What the user can do about it, when there is something to say; `None` by default.
    fn hint(&self) -> Option<Cow<'_, str>> {
        None
    }
}

/// A hint that is a fixed sentence.
pub fn hint(text: &'static str) -> Option<Cow<'static, str>> {
    Some(Cow::Borrowed(text))
}
