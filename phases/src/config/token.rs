//! Bootstrap tokens (`[a-z0-9]{6}.[a-z0-9]{16}`): the shared secret a joining node uses to
//! authenticate and to verify the cluster-info it discovers.
//!
//! The secret half must never reach a log, an error or `Debug` output, so it lives in its own
//! type whose `Debug`/`Display` redact it; the full token is only available through
//! [`BootstrapTokenString::expose`], which makes every disclosure greppable.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The alphabet kubeadm draws token characters from.
const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The auth-extra-group every kubeadm token carries unless told otherwise.
pub const DEFAULT_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// Why a string is not a bootstrap token (or one of its parts). The message never contains
/// the rejected value, because a malformed token may still be a real secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "a bootstrap token has the form [a-z0-9]{{6}}.[a-z0-9]{{16}}, e.g. 07401b.f395accd246ae52d (value not shown)"
    )]
    Token,
    #[error("{0:?} is not a token id; expected 6 characters of [a-z0-9]")]
    Id(String),
    #[error("{0:?} is not a token usage; expected \"signing\" or \"authentication\"")]
    Usage(String),
    #[error(
        "{0:?} is not a bootstrap token group; expected system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9]"
    )]
    Group(String),
}

impl crate::contract::diagnostics::Diagnostic for TokenError {}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn random_chars(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())] as char)
        .collect()
}

/// The public half of a token: it names the `bootstrap-token-<id>` Secret and the
/// `jws-kubeconfig-<id>` signature, and is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(String);

impl TokenId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TokenId {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 6 && s.bytes().all(is_token_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(TokenError::Id(s.to_owned()))
        }
    }
}

/// The secret half (16 characters): the HMAC key of the cluster-info signature and the
/// password of the bootstrap identity.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// The raw secret, for the few places that must use it (Secret data, JWS keys).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A whole bootstrap token `<id>.<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapTokenString {
    id: TokenId,
    secret: TokenSecret,
}

impl BootstrapTokenString {
    /// A fresh random token, as kubeadm makes when none is given.
    pub fn generate() -> Self {
        Self {
            id: TokenId(random_chars(6)),
            secret: TokenSecret(random_chars(16)),
        }
    }

    pub fn id(&self) -> &TokenId {
        &self.id
    }

    pub fn secret(&self) -> &TokenSecret {
        &self.secret
    }

    /// The full `<id>.<secret>` string (for the join command, the Secret, config files).
    pub fn expose(&self) -> String {
        format!("{}.{}", self.id.0, self.secret.0)
    }
}

impl fmt::Debug for BootstrapTokenString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.<redacted>", self.id)
    }
}

impl fmt::Display for BootstrapTokenString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.<redacted>", self.id)
    }
}

impl FromStr for BootstrapTokenString {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let ok = bytes.len() == 23
            && bytes[6] == b'.'
            && bytes[..6].iter().copied().all(is_token_char)
            && bytes[7..].iter().copied().all(is_token_char);
        if !ok {
            return Err(TokenError::Token);
        }
        Ok(Self {
            id: TokenId(s[..6].to_owned()),
            secret: TokenSecret(s[7..].to_owned()),
        })
    }
}

/// Serialised in full: the config renderer and the fingerprints need the real value. Only
/// `Debug`/`Display` redact.
impl Serialize for BootstrapTokenString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose())
    }
}

impl<'de> Deserialize<'de> for BootstrapTokenString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a token may be used for (`usage-bootstrap-<usage>` keys of the Secret).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, SerializeDisplay, DeserializeFromStr,
)]
pub enum TokenUsage {
    Signing,
    Authentication,
}

impl TokenUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUsage::Signing => "signing",
            TokenUsage::Authentication => "authentication",
        }
    }

    /// kubeadm's default, in kubeadm's order.
    pub fn defaults() -> Vec<TokenUsage> {
        vec![TokenUsage::Signing, TokenUsage::Authentication]
    }
}

impl fmt::Display for TokenUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenUsage {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "signing" => Ok(TokenUsage::Signing),
            "authentication" => Ok(TokenUsage::Authentication),
            other => Err(TokenError::Usage(other.to_owned())),
        }
    }
}

/// An extra group a token authenticates as (`auth-extra-groups`); the API server only
/// accepts groups under `system:bootstrappers:`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, SerializeDisplay, DeserializeFromStr,
)]
pub struct TokenGroup(String);

impl TokenGroup {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn default_node_token() -> Self {
        Self(DEFAULT_TOKEN_GROUP.to_owned())
    }
}

impl fmt::Display for TokenGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TokenGroup {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s.strip_prefix("system:bootstrappers:").unwrap_or("");
        let ok = !rest.is_empty()
            && rest.len() <= 256
            && rest
                .bytes()
                .all(|b| is_token_char(b) || b == b':' || b == b'-')
            && rest.bytes().last().is_some_and(is_token_char);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(TokenError::Group(s.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let t: BootstrapTokenString = "abcdef.0123456789abcdef".parse().unwrap();
        assert_eq!(t.id().as_str(), "abcdef");
        assert_eq!(t.secret().expose(), "0123456789abcdef");
        assert_eq!(t.expose(), "abcdef.0123456789abcdef");
        let dbg = format!("{t:?} {t} {:?}", t.secret());
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
        assert!(dbg.contains("abcdef.<redacted>"));
    }

    #[test]
    fn rejects_malformed_tokens_without_echoing_them() {
        for bad in [
            "",
            "abcdef0123456789abcdef",
            "ABCDEF.0123456789abcdef",
            "abcde.0123456789abcdefg",
            "abcdef.0123456789abcde",
            "abcdef.0123456789abcdef0",
            "abcdef:0123456789abcdef",
            "abcdef.0123456789abcde_",
        ] {
            let err = bad.parse::<BootstrapTokenString>().unwrap_err();
            if !bad.is_empty() {
                assert!(!err.to_string().contains(bad));
            }
        }
    }

    #[test]
    fn generated_tokens_are_valid_and_distinct() {
        let a = BootstrapTokenString::generate();
        let b = BootstrapTokenString::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().parse::<BootstrapTokenString>().unwrap(), a);
    }

    #[test]
    fn groups_and_usages() {
        assert!(
            "system:bootstrappers:kubeadm:default-node-token"
                .parse::<TokenGroup>()
                .is_ok()
        );
        assert!("system:bootstrappers:a".parse::<TokenGroup>().is_ok());
        for bad in [
            "system:bootstrappers:",
            "system:bootstrappers:x-",
            "system:nodes",
            "system:bootstrappers:Upper",
        ] {
            assert!(bad.parse::<TokenGroup>().is_err(), "{bad}");
        }
        let long = format!("system:bootstrappers:{}", "a".repeat(257));
        assert!(long.parse::<TokenGroup>().is_err());
        assert_eq!("signing".parse::<TokenUsage>(), Ok(TokenUsage::Signing));
        assert!("sign".parse::<TokenUsage>().is_err());
    }
}
