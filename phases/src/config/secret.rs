//! A flag value that is a secret (a bootstrap token, a certificate key), as the user typed it.

use std::fmt;
use std::str::FromStr;

/// A secret as typed: handed on like any flag value and validated by the configuration layer,
/// but its `Debug` never shows it, so no `{:?}` of the flags or of the parsed command line (a
/// debug log, a panic message) can leak it. The value is read with [`Secret::expose`], so
/// every place that uses it says so.
///
/// Once parsed, the secret lives in a type of its own that redacts too
/// ([`BootstrapTokenString`](crate::config::token::BootstrapTokenString),
/// [`CertificateKey`](crate::config::CertificateKey)).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Any text is a secret; whether it is a valid token or key is the configuration's to say.
impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_and_expose_reveals() {
        let s: Secret = "abcdef.0123456789abcdef".parse().unwrap();
        assert_eq!(
            format!("{s:?} {:?}", Some(&s)),
            "Secret(<redacted>) Some(Secret(<redacted>))"
        );
        assert_eq!(s.expose(), "abcdef.0123456789abcdef");
    }
}
