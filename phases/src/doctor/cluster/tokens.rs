//! Bootstrap-token Secrets (kube-system/bootstrap-token-<id>): expiry, usages, extra groups.
//! A token is named by its id only; its secret never leaves this module's inputs.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::{Evidence, Finding, FindingId};
use super::rbac::{NODE_BOOTSTRAPPER, NODECLIENT, grantees};
use crate::config::token::TokenGroup;
use crate::domain::bootstrap_token::{KEY_EXPIRATION as EXPIRATION, TokenInfo, secret_name};

pub const TOKEN_EXPIRED: FindingId = FindingId("token-expired");
pub const TOKEN_EXPIRING: FindingId = FindingId("token-expiring");

/// A token is about to expire when less than this is left. Bootstrap tokens are short-lived by
/// design (kubeadm's default TTL is 24 h, `DefaultTokenDuration`): the certificates' 30-day
/// window would flag the init token of every fresh cluster. Two hours is the time a join
/// started now may still need (discovery, the kubelet's TLS bootstrap, a slow pull).
pub const TOKEN_EXPIRING_WITHIN: Duration = Duration::from_secs(2 * 3600);
pub const TOKEN_USAGES: FindingId = FindingId("token-usages");
pub const TOKEN_GROUPS: FindingId = FindingId("token-groups");

/// Secret data keys (k8s.io/cluster-bootstrap/token/api/types.go:
/// BootstrapTokenUsageAuthentication, BootstrapTokenUsageSigningKey).
const USAGE_AUTHENTICATION: &str = "usage-bootstrap-authentication";
const USAGE_SIGNING: &str = "usage-bootstrap-signing";

/// Every token is also in this group (types.go BootstrapDefaultGroup): a binding to it
/// covers all tokens.
const BOOTSTRAPPERS: &str = "system:bootstrappers";

fn data(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

fn subject(info: &TokenInfo) -> String {
    format!("Secret kube-system/{}", secret_name(info.token.id()))
}

/// Every token finding. `crbs`: the ClusterRoleBindings, when they could be read (a token
/// group's bindings are then checked too).
pub fn check(
    secrets: &[Secret],
    now: OffsetDateTime,
    expiring_within: Duration,
    crbs: Option<&[ClusterRoleBinding]>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in secrets {
        // A Secret without a well-formed id and secret is no token to the authenticator
        // (kubeadm skips it too).
        let Some(info) = TokenInfo::from_secret(s) else {
            continue;
        };
        let id = info.token.id().clone();
        out.extend(expiry(s, &info, now, expiring_within));
        let usage = |k: &str| data(s, k).as_deref() == Some("true");
        let (auth, signing) = (usage(USAGE_AUTHENTICATION), usage(USAGE_SIGNING));
        if !(auth && signing) {
            let missing: Vec<&str> = [(USAGE_AUTHENTICATION, auth), (USAGE_SIGNING, signing)]
                .iter()
                .filter(|(_, on)| !on)
                .map(|(k, _)| *k)
                .collect();
            let mut f = Finding::error(
                TOKEN_USAGES,
                format!(
                    "token {id} cannot be used to join: `kubestrap join --token` needs it for both signing (cluster-info's signature, discovery) and authentication (the kubelet's CSR); {} is not \"true\"",
                    missing.join(" and ")
                ),
                format!(
                    "make a token that can: `kubestrap token create --usages signing,authentication`, and `kubestrap token delete {id}` if this one is not used elsewhere"
                ),
            );
            for k in missing {
                f = f.with(
                    Evidence::of(subject(&info))
                        .field(k)
                        .value(data(s, k).unwrap_or_else(|| "(absent)".into())),
                );
            }
            out.push(f);
        }
        out.extend(groups(&info, auth, crbs));
    }
    out
}

fn expiry(
    s: &Secret,
    info: &TokenInfo,
    now: OffsetDateTime,
    expiring_within: Duration,
) -> Option<Finding> {
    let raw = data(s, EXPIRATION)?;
    let id = info.token.id();
    let evidence = Evidence::of(subject(info))
        .field(EXPIRATION)
        .value(raw.clone());
    let fix = format!(
        "make a new token on a control plane (`kubestrap token create --print-join-command`) and delete this one (`kubestrap token delete {id}`)"
    );
    // types.go: "If this cannot be parsed, the token should be considered invalid."
    let Ok(at) = OffsetDateTime::parse(&raw, &Rfc3339) else {
        return Some(
            Finding::error(
                TOKEN_EXPIRED,
                format!("token {id}'s expiration is not an RFC 3339 time, so the API server treats the token as invalid: joins with it are refused"),
                fix,
            )
            .with(evidence),
        );
    };
    if at <= now {
        Some(
            Finding::error(
                TOKEN_EXPIRED,
                format!("token {id} has expired: joins with it are refused, and cluster-info carries no signature for it"),
                fix,
            )
            .with(evidence),
        )
    } else if at - now <= expiring_within {
        let left = (at - now).whole_hours();
        Some(
            Finding::warning(
                TOKEN_EXPIRING,
                format!("token {id} expires in {left} h: joins with it will be refused from then"),
                fix,
            )
            .with(evidence),
        )
    } else {
        None
    }
}

/// `token-groups`: extra groups the authenticator rejects (a token with one cannot
/// authenticate at all), and groups no binding lets post or auto-approve CSRs.
fn groups(info: &TokenInfo, auth: bool, crbs: Option<&[ClusterRoleBinding]>) -> Vec<Finding> {
    let id = info.token.id();
    let mut out = Vec::new();
    let evidence = || {
        Evidence::of(subject(info))
            .field("auth-extra-groups")
            .value(info.groups.join(","))
    };
    // kubeadm and the authenticator accept only groups matching
    // `\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\z` (types.go BootstrapGroupPattern),
    // which TokenGroup's parser enforces.
    let bad: Vec<&str> = info
        .groups
        .iter()
        .map(String::as_str)
        .filter(|g| g.parse::<TokenGroup>().is_err())
        .collect();
    if !bad.is_empty() {
        out.push(
            Finding::error(
                TOKEN_GROUPS,
                format!(
                    "token {id} has auth-extra-groups the API server rejects ({}): a group must match system:bootstrappers:[a-z0-9:-]{{0,255}}[a-z0-9], and a token with a bad group does not authenticate at all",
                    bad.join(", ")
                ),
                format!(
                    "make a token with a valid group: `kubestrap token create --groups system:bootstrappers:kubeadm:default-node-token`, then `kubestrap token delete {id}`"
                ),
            )
            .with(evidence()),
        );
        return out;
    }
    let Some(crbs) = crbs.filter(|_| auth) else {
        return out;
    };
    let mut member_of: Vec<&str> = info.groups.iter().map(String::as_str).collect();
    member_of.push(BOOTSTRAPPERS);
    let user = format!("system:bootstrap:{id}");
    let lacking: Vec<&str> = [NODE_BOOTSTRAPPER, NODECLIENT]
        .into_iter()
        .filter(|role| !grantees(crbs, role).admit(&user, member_of.iter().copied()))
        .collect();
    if !lacking.is_empty() {
        out.push(
            Finding::error(
                TOKEN_GROUPS,
                format!(
                    "no ClusterRoleBinding grants {} to token {id}'s groups: a kubelet joining with it cannot {}",
                    lacking.join(" or "),
                    if lacking.contains(&NODE_BOOTSTRAPPER) {
                        "post its certificate request"
                    } else {
                        "get its certificate request approved (it stays Pending)"
                    }
                ),
                "use a token in group system:bootstrappers:kubeadm:default-node-token (`kubestrap token create`), or bind the token's group: `kubectl create clusterrolebinding <name> --clusterrole=<role above> --group=<group>`",
            )
            .with(evidence()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token::{TokenGroup, TokenUsage};
    use crate::config::{BootstrapToken, TokenExpiry};
    use crate::domain::bootstrap_token::token_secret;
    use k8s_openapi::ByteString;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);
    const SECRET: &str = "0123456789abcdef";

    pub(crate) fn token(id: &str, expires: OffsetDateTime) -> Secret {
        token_secret(
            &BootstrapToken {
                token: format!("{id}.{SECRET}").parse().unwrap(),
                description: None,
                expiry: TokenExpiry::Expires(expires),
                usages: TokenUsage::defaults(),
                groups: vec![TokenGroup::default_node_token()],
            },
            NOW,
        )
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    fn crbs() -> Vec<ClusterRoleBinding> {
        super::super::rbac::tests::healthy().0
    }

    fn never_shows_the_secret(f: &[Finding]) {
        let text = format!("{f:?}");
        assert!(!text.contains(SECRET), "{text}");
    }

    #[test]
    fn a_good_token_passes() {
        let s = token("abcdef", NOW + time::Duration::days(60));
        assert_eq!(
            check(&[s], NOW, Duration::from_secs(86400), Some(&crbs())),
            vec![]
        );
    }

    #[test]
    fn expired_expiring_and_unparseable() {
        let mut bad = token("cccccc", NOW);
        bad.data
            .as_mut()
            .unwrap()
            .insert(EXPIRATION.into(), ByteString(b"tomorrow".to_vec()));
        let f = check(
            &[
                token("aaaaaa", NOW - time::Duration::hours(1)),
                token("bbbbbb", NOW + time::Duration::hours(5)),
                bad,
            ],
            NOW,
            Duration::from_secs(86400),
            None,
        );
        assert_eq!(
            ids(&f),
            ["token-expired", "token-expiring", "token-expired"]
        );
        assert_eq!(f[0].severity, crate::doctor::Severity::Error);
        assert_eq!(f[1].severity, crate::doctor::Severity::Warning);
        assert_eq!(
            f[0].evidence[0].subject,
            "Secret kube-system/bootstrap-token-aaaaaa"
        );
        assert_eq!(
            f[0].evidence[0].value.as_deref(),
            Some("2026-12-04T11:00:00Z")
        );
        assert!(f[1].what.contains("5 h"));
        assert_eq!(f[2].evidence[0].value.as_deref(), Some("tomorrow"));
        never_shows_the_secret(&f);
    }

    #[test]
    fn usages_must_include_both() {
        let mut s = token("abcdef", NOW + time::Duration::days(60));
        s.data.as_mut().unwrap().remove(USAGE_SIGNING);
        let f = check(&[s], NOW, Duration::ZERO, Some(&crbs()));
        assert_eq!(ids(&f), ["token-usages"]);
        assert_eq!(f[0].evidence[0].field.as_deref(), Some(USAGE_SIGNING));
        assert_eq!(f[0].evidence[0].value.as_deref(), Some("(absent)"));
        assert!(f[0].fix.contains("--usages signing,authentication"));
        never_shows_the_secret(&f);
    }

    #[test]
    fn groups_must_match_the_pattern_and_be_bound() {
        let mut bad = token("abcdef", NOW + time::Duration::days(60));
        bad.data.as_mut().unwrap().insert(
            "auth-extra-groups".into(),
            ByteString(b"system:bootstrappers:ok,system:nodes".to_vec()),
        );
        let mut unbound = token("ghijkl", NOW + time::Duration::days(60));
        unbound.data.as_mut().unwrap().insert(
            "auth-extra-groups".into(),
            ByteString(b"system:bootstrappers:ci".to_vec()),
        );
        let f = check(&[bad, unbound], NOW, Duration::ZERO, Some(&crbs()));
        assert_eq!(ids(&f), ["token-groups", "token-groups"]);
        assert!(f[0].what.contains("(system:nodes)"), "{}", f[0].what);
        assert!(f[1].what.contains(NODE_BOOTSTRAPPER), "{}", f[1].what);
        assert_eq!(
            f[1].evidence[0].value.as_deref(),
            Some("system:bootstrappers:ci")
        );
        // Without the bindings only the pattern is judged.
        let unbound = token("ghijkl", NOW + time::Duration::days(60));
        assert_eq!(check(&[unbound], NOW, Duration::ZERO, None), vec![]);
    }
}
