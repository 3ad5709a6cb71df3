//! Discovery by bootstrap token (see the module above for the protocol).

use std::time::{Duration, Instant};

use super::{
    CaSource, ClusterTrust, DiscoveryError, Patience, ca_certificates, kubeconfig_cluster, trust,
};
use crate::config::BootstrapTokenDiscovery;
use crate::config::well_known::{CLUSTER_INFO, KUBE_PUBLIC};
use crate::domain::bootstrap_client::{
    BootstrapClient, RequestCounter, Trust, describe, is_connection_error,
};
use crate::domain::bootstrap_token::KUBECONFIG_KEY;
use crate::domain::jws::{JWS_KEY_PREFIX, JwsError, signature_key, verify_detached};

/// How often a retry that goes on is reported.
const SAY_EVERY: Duration = Duration::from_secs(10);

/// One look at cluster-info that did not succeed, by what may heal it.
enum Failure {
    /// No answer: the endpoint may still come up.
    Unreachable(String),
    /// No or a stale signature: the bootstrap signer may still be catching up with this token.
    Signer(DiscoveryError),
    /// No signature for any token yet: the signer has not run since cluster-info was
    /// published (kube-controller-manager still starting, right after init).
    SignerIdle(DiscoveryError),
    /// Waiting cannot help.
    Final(DiscoveryError),
}

/// cluster-info as fetched without trust, with its signature verified.
struct Signed {
    kubeconfig: String,
}

/// Runs token discovery against `d.api_server_endpoint`; `progress` hears about retries.
pub async fn discover_token(
    d: &BootstrapTokenDiscovery,
    patience: &Patience,
    requests: &RequestCounter,
    progress: &(dyn Fn(String) + Sync),
) -> Result<ClusterTrust, DiscoveryError> {
    let endpoint = format!("https://{}", d.api_server_endpoint);
    let unverified = BootstrapClient::new(
        &endpoint,
        Trust::AnonymousUnverified,
        patience.per_request(),
        requests,
    )
    .map_err(|source| DiscoveryError::Client {
        origin: endpoint.clone(),
        source,
    })?;
    let start = Instant::now();
    let deadline = start + patience.timeout;
    let mut signer_since: Option<Instant> = None;
    let mut attempts = 0u32;
    let mut said: Option<(u8, Instant)> = None;
    let signed = loop {
        attempts += 1;
        let failure = match fetch_signed(&unverified, d).await {
            Ok(signed) => break signed,
            Err(f) => f,
        };
        let now = Instant::now();
        let (until, what) = match failure {
            Failure::Final(e) => return Err(e),
            Failure::Unreachable(last) => {
                if now + patience.interval >= deadline {
                    return Err(DiscoveryError::Unreachable {
                        endpoint,
                        attempts,
                        waited: start.elapsed(),
                        timeout: patience.timeout,
                        last,
                    });
                }
                signer_since = None;
                (deadline, Failure::Unreachable(last))
            }
            Failure::Signer(e) => {
                let since = *signer_since.get_or_insert(now);
                let until = (since + patience.signer_grace).min(deadline);
                if now + patience.interval > until {
                    return Err(e);
                }
                (until, Failure::Signer(e))
            }
            Failure::SignerIdle(e) => {
                if now + patience.interval >= deadline {
                    return Err(e);
                }
                signer_since = None;
                (deadline, Failure::SignerIdle(e))
            }
        };
        // Said when the cause changes, and every SAY_EVERY while it lasts, not every second.
        let left = Duration::from_secs(until.saturating_duration_since(now).as_secs());
        let (kind, message) = match what {
            Failure::Unreachable(last) => (
                0,
                format!("{endpoint} does not answer yet ({last}); retrying for up to {left:?}"),
            ),
            Failure::SignerIdle(_) => (
                1,
                format!(
                    "cluster-info carries no token signature yet: kube-controller-manager's bootstrap signer has not run; retrying for up to {left:?}"
                ),
            ),
            Failure::Signer(e) | Failure::Final(e) => (
                2,
                format!("{e}; retrying for up to {left:?} while the bootstrap signer catches up"),
            ),
        };
        if said.is_none_or(|(k, at)| k != kind || now.duration_since(at) >= SAY_EVERY) {
            progress(message);
            said = Some((kind, now));
        }
        tokio::time::sleep(patience.interval).await;
    };

    let cluster = kubeconfig_cluster(
        &format!("{endpoint}: cluster-info"),
        &signed.kubeconfig,
        CaSource::InlineOnly,
    )?;
    let certs = ca_certificates(&format!("{endpoint}: cluster-info"), &cluster.ca_pem)?;
    if !d.unsafe_skip_ca_verification
        && !certs
            .iter()
            .any(|(_, hash)| d.ca_cert_hashes.contains(hash))
    {
        return Err(DiscoveryError::CaHashMismatch {
            endpoint,
            seen: certs[0].1,
            pinned: d.ca_cert_hashes.clone(),
        });
    }

    // Now that the CA is trusted, the same content must come over a connection it verifies:
    // an interceptor could have served the first fetch, never this one.
    let ca_der: Vec<Vec<u8>> = certs.iter().map(|(der, _)| der.clone()).collect();
    let verified = BootstrapClient::new(
        &endpoint,
        Trust::Anonymous { ca_der: &ca_der },
        patience.per_request(),
        requests,
    )
    .map_err(|source| DiscoveryError::Client {
        origin: endpoint.clone(),
        source,
    })?;
    let again = verified
        .config_map(KUBE_PUBLIC, CLUSTER_INFO)
        .await
        .map_err(|e| DiscoveryError::VerifiedFetch {
            endpoint: endpoint.clone(),
            message: describe(&e),
        })?;
    let same = again
        .as_ref()
        .and_then(|cm| cm.data.as_ref())
        .and_then(|data| data.get(KUBECONFIG_KEY))
        .is_some_and(|k| *k == signed.kubeconfig);
    if !same {
        return Err(DiscoveryError::ContentChanged { endpoint });
    }
    Ok(trust(endpoint, cluster.ca_pem, certs, None))
}

/// GET cluster-info without trust and verify its signature for the token.
async fn fetch_signed(
    client: &BootstrapClient,
    d: &BootstrapTokenDiscovery,
) -> Result<Signed, Failure> {
    let endpoint = client.endpoint().to_string();
    let cm = match client.config_map(KUBE_PUBLIC, CLUSTER_INFO).await {
        Ok(Some(cm)) => cm,
        Ok(None) => return Err(Failure::Final(DiscoveryError::NoClusterInfo { endpoint })),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(Failure::Final(DiscoveryError::NoClusterInfo { endpoint }));
        }
        Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403 => {
            return Err(Failure::Final(DiscoveryError::Refused {
                endpoint,
                message: format!("{} {}: {}", s.code, s.reason, s.message),
            }));
        }
        Err(e) if is_connection_error(&e) => return Err(Failure::Unreachable(describe(&e))),
        // A server that is starting answers 5xx for a while.
        Err(kube::Error::Api(s)) if s.code >= 500 || s.code == 429 => {
            return Err(Failure::Unreachable(format!(
                "{} {}: {}",
                s.code, s.reason, s.message
            )));
        }
        Err(e) => {
            return Err(Failure::Final(DiscoveryError::Invalid {
                origin: format!("{endpoint}: cluster-info"),
                problem: describe(&e),
            }));
        }
    };
    let data = cm.data.unwrap_or_default();
    let kubeconfig = data.get(KUBECONFIG_KEY).cloned().ok_or_else(|| {
        Failure::Final(DiscoveryError::Invalid {
            origin: format!("{endpoint}: cluster-info"),
            problem: format!("it has no {KUBECONFIG_KEY:?} key"),
        })
    })?;
    let id = d.token.id();
    let jws = data.get(&signature_key(id)).ok_or_else(|| {
        let e = DiscoveryError::NoSignature {
            endpoint: endpoint.clone(),
            id: id.clone(),
        };
        if data.keys().any(|k| k.starts_with(JWS_KEY_PREFIX)) {
            Failure::Signer(e)
        } else {
            Failure::SignerIdle(e)
        }
    })?;
    verify_detached(id, d.token.secret(), &kubeconfig, jws).map_err(|e| {
        let detail = match &e {
            JwsError::Mismatch(_) => "HMAC-SHA256 differs".to_string(),
            other => other.to_string(),
        };
        Failure::Signer(DiscoveryError::SignatureMismatch {
            endpoint: endpoint.clone(),
            id: id.clone(),
            detail,
        })
    })?;
    Ok(Signed { kubeconfig })
}
