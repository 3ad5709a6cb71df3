//! A bootstrap token as the Secret the API server's token authenticator reads.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::core::ObjectMeta;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::token::TokenId;
use crate::config::well_known::KUBE_SYSTEM;
use crate::config::{BootstrapToken, TokenExpiry};

/// The Secret type the authenticator and the bootstrap signer look for.
pub const BOOTSTRAP_TOKEN_SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";

/// Secret data keys (k8s.io/cluster-bootstrap/token/api).
pub(crate) const KEY_ID: &str = "token-id";
pub(crate) const KEY_SECRET: &str = "token-secret";
pub(crate) const KEY_DESCRIPTION: &str = "description";
pub(crate) const KEY_EXPIRATION: &str = "expiration";
pub(crate) const KEY_GROUPS: &str = "auth-extra-groups";
pub(crate) const USAGE_PREFIX: &str = "usage-bootstrap-";

/// `bootstrap-token-<id>`.
pub fn secret_name(id: &TokenId) -> String {
    format!("bootstrap-token-{id}")
}

/// The expiration kubeadm writes: UTC, RFC 3339, whole seconds.
pub(crate) fn expiration(expiry: &TokenExpiry, now: OffsetDateTime) -> Option<String> {
    let at = match expiry {
        TokenExpiry::Ttl(ttl) if ttl.is_zero() => return None,
        TokenExpiry::Ttl(ttl) => now + ttl.as_duration(),
        TokenExpiry::Expires(at) => *at,
    };
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .ok()?;
    at.format(&Rfc3339).ok()
}

/// The token's Secret in kubeadm's format; `now` anchors a TTL.
pub fn token_secret(token: &BootstrapToken, now: OffsetDateTime) -> Secret {
    let mut data: BTreeMap<String, ByteString> = BTreeMap::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), ByteString(v.as_bytes().to_vec()));
    };
    put(KEY_ID, token.token.id().as_str());
    put(KEY_SECRET, token.token.secret().expose());
    if let Some(d) = token.description.as_deref().filter(|d| !d.is_empty()) {
        put(KEY_DESCRIPTION, d);
    }
    if let Some(e) = expiration(&token.expiry, now) {
        put(KEY_EXPIRATION, &e);
    }
    for usage in &token.usages {
        put(&format!("{USAGE_PREFIX}{usage}"), "true");
    }
    if !token.groups.is_empty() {
        let groups: Vec<&str> = token.groups.iter().map(|g| g.as_str()).collect();
        put(KEY_GROUPS, &groups.join(","));
    }
    Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(token.token.id())),
            namespace: Some(KUBE_SYSTEM.to_string()),
            ..Default::default()
        },
        type_: Some(BOOTSTRAP_TOKEN_SECRET_TYPE.to_string()),
        data: Some(data),
        ..Default::default()
    }
}

/// Whether `current` already is `wanted` apart from the expiration (which a re-run would only
/// push further out).
pub fn same_token(current: &Secret, wanted: &Secret) -> bool {
    let strip = |s: &Secret| {
        let mut d = s.data.clone().unwrap_or_default();
        d.remove(KEY_EXPIRATION);
        d
    };
    current.type_ == wanted.type_ && strip(current) == strip(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoDuration;
    use crate::config::token::{TokenGroup, TokenUsage};

    fn token(expiry: TokenExpiry) -> BootstrapToken {
        BootstrapToken {
            token: "abcdef.0123456789abcdef".parse().unwrap(),
            description: Some("for node-2".into()),
            expiry,
            usages: TokenUsage::defaults(),
            groups: vec![
                TokenGroup::default_node_token(),
                "system:bootstrappers:extra".parse().unwrap(),
            ],
        }
    }

    fn data(s: &Secret) -> BTreeMap<String, String> {
        s.data
            .clone()
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect()
    }

    #[test]
    fn secret_has_kubeadms_keys_and_values() {
        let now = OffsetDateTime::parse("2026-11-23T14:00:00.75+01:00", &Rfc3339).unwrap();
        let s = token_secret(
            &token(TokenExpiry::Ttl(GoDuration::from_secs(24 * 3600))),
            now,
        );
        assert_eq!(s.metadata.name.as_deref(), Some("bootstrap-token-abcdef"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(s.type_.as_deref(), Some("bootstrap.kubernetes.io/token"));
        let want: BTreeMap<String, String> = [
            (
                "auth-extra-groups",
                "system:bootstrappers:kubeadm:default-node-token,system:bootstrappers:extra",
            ),
            ("description", "for node-2"),
            ("expiration", "2026-11-24T13:00:00Z"),
            ("token-id", "abcdef"),
            ("token-secret", "0123456789abcdef"),
            ("usage-bootstrap-authentication", "true"),
            ("usage-bootstrap-signing", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(data(&s), want);
    }

    #[test]
    fn zero_ttl_never_expires_and_fixed_expiry_is_utc() {
        let now = OffsetDateTime::now_utc();
        let mut t = token(TokenExpiry::Ttl(GoDuration::from_secs(0)));
        t.description = None;
        t.groups.clear();
        t.usages = vec![TokenUsage::Signing];
        let d = data(&token_secret(&t, now));
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["token-id", "token-secret", "usage-bootstrap-signing"]
        );
        let at = OffsetDateTime::parse("2030-01-02T03:04:05+02:00", &Rfc3339).unwrap();
        let d = data(&token_secret(&token(TokenExpiry::Expires(at)), now));
        assert_eq!(d["expiration"], "2030-01-02T01:04:05Z");
    }

    #[test]
    fn same_token_ignores_only_the_expiration() {
        let t = token(TokenExpiry::Ttl(GoDuration::from_secs(3600)));
        let a = token_secret(&t, OffsetDateTime::now_utc());
        let b = token_secret(&t, OffsetDateTime::now_utc() + time::Duration::hours(5));
        assert!(same_token(&a, &b));
        let mut other = t.clone();
        other.token = "abcdef.1123456789abcdef".parse().unwrap();
        assert!(!same_token(
            &a,
            &token_secret(&other, OffsetDateTime::now_utc())
        ));
    }
}
