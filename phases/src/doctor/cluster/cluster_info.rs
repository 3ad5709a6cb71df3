//! ConfigMap kube-public/cluster-info: what a joining node discovers the cluster from. It must
//! hold a kubeconfig with the cluster's CA, and a `jws-kubeconfig-<id>` signature per signing
//! token (added by kube-controller-manager's bootstrapsigner controller) that verifies with
//! the token; otherwise token discovery refuses it.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use time::OffsetDateTime;

use super::super::{Evidence, Finding, FindingId};
use crate::domain::bootstrap_token::{KUBECONFIG_KEY, TokenInfo, ca_cert_hash};
use crate::domain::discovery::parse_cluster_info;
use crate::domain::jws::{signature_key, verify_detached};

pub const CLUSTER_INFO_MISSING: FindingId = FindingId("cluster-info-missing");
pub const CLUSTER_INFO_UNSIGNED: FindingId = FindingId("cluster-info-unsigned");
pub const CLUSTER_INFO_SIGNATURE_INVALID: FindingId = FindingId("cluster-info-signature-invalid");
pub const CLUSTER_INFO_CA_MISMATCH: FindingId = FindingId("cluster-info-ca-mismatch");

const SUBJECT: &str = "ConfigMap kube-public/cluster-info";

const REPUBLISH: &str = "re-publish it on a control plane: `kubestrap init phase bootstrap-token` (it writes cluster-info from admin.conf's server and the cluster CA)";

/// Every cluster-info finding. `tokens`: the cluster's tokens when they could be read (the
/// signatures are judged against them); `local_ca`: this node's ca.crt and its path, when
/// readable.
pub fn check(
    cm: Option<&ConfigMap>,
    tokens: Option<&[TokenInfo]>,
    now: OffsetDateTime,
    local_ca: Option<(&Path, &[u8])>,
) -> Vec<Finding> {
    let data = cm.and_then(|c| c.data.as_ref());
    let Some(kubeconfig) = data.and_then(|d| d.get(KUBECONFIG_KEY)) else {
        let what = if cm.is_none() {
            "ConfigMap kube-public/cluster-info does not exist: `join` with token discovery has nothing to discover the cluster from"
        } else {
            "ConfigMap kube-public/cluster-info has no `kubeconfig` key: `join` with token discovery has nothing to discover the cluster from"
        };
        let mut e = Evidence::of(SUBJECT);
        if cm.is_some() {
            e = e.field(format!("data.{KUBECONFIG_KEY}")).value("(absent)");
        }
        return vec![Finding::error(CLUSTER_INFO_MISSING, what, REPUBLISH).with(e)];
    };
    let mut out = Vec::new();
    for t in tokens.into_iter().flatten() {
        // The bootstrap signer signs for tokens usable for signing and not expired
        // (an expired one is `token-expired`'s finding).
        let signing = t.usages.iter().any(|u| u == "signing");
        let expired = t.expires.is_some_and(|e| e <= now);
        if !signing || expired {
            continue;
        }
        let id = t.token.id();
        let key = signature_key(id);
        match data.and_then(|d| d.get(&key)) {
            None => out.push(
                Finding::error(
                    CLUSTER_INFO_UNSIGNED,
                    format!("cluster-info has no signature for signing token {id}: a join with this token waits for it until it times out; kube-controller-manager's bootstrapsigner controller is not running or not enabled"),
                    "enable the controller: kube-controller-manager's `--controllers` must include bootstrapsigner (kubeadm's and kubestrap's manifest: `--controllers=*,bootstrapsigner,tokencleaner`, in /etc/kubernetes/manifests/kube-controller-manager.yaml); check it runs (`crictl ps --name kube-controller-manager`) and its log",
                )
                .with(Evidence::of(SUBJECT).field(format!("data.{key}")).value("(absent)")),
            ),
            Some(jws) => {
                if let Err(e) = verify_detached(id, t.token.secret(), kubeconfig, jws) {
                    out.push(
                        Finding::error(
                            CLUSTER_INFO_SIGNATURE_INVALID,
                            format!("cluster-info's signature for token {id} does not verify with the token ({e}): a join with this token refuses the cluster-info it fetches"),
                            format!("the signature is stale or forged: delete the key so the bootstrap signer writes it afresh (`kubectl -n kube-public edit configmap cluster-info`, remove data.{key}), and check that nothing else writes cluster-info"),
                        )
                        .with(Evidence::of(SUBJECT).field(format!("data.{key}")).value(jws.clone())),
                    );
                }
            }
        }
    }
    if let Some((path, pem)) = local_ca {
        out.extend(ca_mismatch(kubeconfig, path, pem));
    }
    out
}

/// `cluster-info-ca-mismatch`: the CA cluster-info hands joining nodes is not the one this node
/// trusts (its ca.crt). Compared by the public-key pins `--discovery-token-ca-cert-hash` uses.
fn ca_mismatch(kubeconfig: &str, path: &Path, pem: &[u8]) -> Option<Finding> {
    let local = ca_cert_hash(path, pem).ok()?;
    let published = match parse_cluster_info(kubeconfig) {
        Ok((_, hashes)) => hashes,
        Err(e) => {
            return Some(
                Finding::error(
                    CLUSTER_INFO_CA_MISMATCH,
                    format!("cluster-info's kubeconfig has no usable CA ({e}): joining nodes cannot trust the API server"),
                    REPUBLISH,
                )
                .with(Evidence::of(SUBJECT).field("data.kubeconfig certificate-authority-data")),
            );
        }
    };
    if published.contains(&local) {
        return None;
    }
    let published: Vec<String> = published.iter().map(|h| h.to_string()).collect();
    Some(
        Finding::error(
            CLUSTER_INFO_CA_MISMATCH,
            format!("cluster-info publishes a CA other than this node's {}: nodes joining with `--discovery-token-ca-cert-hash` of this CA refuse it, and those that join trust another CA than this node", path.display()),
            format!("if this node's ca.crt is the cluster's CA, {REPUBLISH}; if cluster-info is right, this node holds another cluster's CA: `kubestrap reset` and join again"),
        )
        .with(Evidence::of(SUBJECT).field("data.kubeconfig certificate-authority-data").value(published.join(",")))
        .with(Evidence::of(path.display().to_string()).value(local.to_string())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token::BootstrapTokenString;
    use crate::domain::bootstrap_token::{ClusterInfoSource, cluster_info_configmap};
    use crate::domain::jws::sign_detached;
    use crate::domain::pki::{CertProfile, EncryptionAlgorithm, Usage, self_signed_ca};
    use std::time::Duration;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);

    fn ca() -> String {
        let key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        self_signed_ca(
            &CertProfile::new("kubernetes", Usage::Ca),
            &key,
            Duration::from_secs(3600),
        )
        .unwrap()
    }

    fn info(token: &str, usages: &[&str]) -> TokenInfo {
        TokenInfo {
            token: token.parse::<BootstrapTokenString>().unwrap(),
            description: None,
            expires: None,
            usages: usages.iter().map(|u| u.to_string()).collect(),
            groups: vec![],
        }
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    fn configmap(ca_pem: &str) -> ConfigMap {
        cluster_info_configmap(&ClusterInfoSource {
            server: "https://127.0.0.1:6443".into(),
            certificate_authority_data: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                ca_pem,
            ),
        })
    }

    #[test]
    fn missing_or_without_kubeconfig() {
        let f = check(None, None, NOW, None);
        assert_eq!(ids(&f), ["cluster-info-missing"]);
        let empty = ConfigMap::default();
        let f = check(Some(&empty), None, NOW, None);
        assert_eq!(f[0].evidence[0].field.as_deref(), Some("data.kubeconfig"));
    }

    #[test]
    fn signatures_are_checked_per_signing_token_without_showing_the_secret() {
        let ca_pem = ca();
        let mut cm = configmap(&ca_pem);
        let kubeconfig = cm.data.as_ref().unwrap()[KUBECONFIG_KEY].clone();
        let good = info("aaaaaa.0123456789abcdef", &["authentication", "signing"]);
        let forged = info("bbbbbb.0123456789abcdef", &["authentication", "signing"]);
        let unsigned = info("cccccc.0123456789abcdef", &["authentication", "signing"]);
        let auth_only = info("dddddd.0123456789abcdef", &["authentication"]);
        let data = cm.data.as_mut().unwrap();
        data.insert(
            signature_key(good.token.id()),
            sign_detached(good.token.id(), good.token.secret(), &kubeconfig),
        );
        let other: BootstrapTokenString = "bbbbbb.ffffffffffffffff".parse().unwrap();
        data.insert(
            signature_key(forged.token.id()),
            sign_detached(other.id(), other.secret(), &kubeconfig),
        );
        let path = Path::new("/etc/kubernetes/pki/ca.crt");
        let f = check(
            Some(&cm),
            Some(&[good, forged, unsigned, auth_only]),
            NOW,
            Some((path, ca_pem.as_bytes())),
        );
        assert_eq!(
            ids(&f),
            ["cluster-info-signature-invalid", "cluster-info-unsigned"]
        );
        assert_eq!(
            f[0].evidence[0].field.as_deref(),
            Some("data.jws-kubeconfig-bbbbbb")
        );
        assert!(f[1].fix.contains("bootstrapsigner"));
        let text = format!("{f:?}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }

    #[test]
    fn a_ca_other_than_the_nodes_is_a_mismatch() {
        let cm = configmap(&ca());
        let mine = ca();
        let path = Path::new("/etc/kubernetes/pki/ca.crt");
        let f = check(Some(&cm), Some(&[]), NOW, Some((path, mine.as_bytes())));
        assert_eq!(ids(&f), ["cluster-info-ca-mismatch"]);
        assert!(
            f[0].evidence[0]
                .value
                .as_deref()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(f[0].evidence[1].subject, "/etc/kubernetes/pki/ca.crt");
    }
}
