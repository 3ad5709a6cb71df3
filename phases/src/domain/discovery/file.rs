//! Discovery from a kubeconfig (`--discovery-file`, a path or an https URL): the file is
//! trusted as given — whoever handed it over vouches for its CA — and the API server is then
//! checked to answer over TLS verified with that CA.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    CaSource, ClusterTrust, DiscoveryError, KubeconfigCluster, Patience, ca_certificates,
    kubeconfig_cluster, trust,
};
use crate::config::CaCertHash;
use crate::config::token::BootstrapTokenString;
use crate::config::well_known::{CLUSTER_INFO, KUBE_PUBLIC};
use crate::domain::bootstrap_client::{
    BootstrapClient, RequestCounter, Trust, describe, is_connection_error,
};

/// Reads the discovery kubeconfig at `location` and checks that its server answers with its CA.
pub async fn discover_file(
    location: &str,
    patience: &Patience,
    requests: &RequestCounter,
    progress: &(dyn Fn(String) + Sync),
) -> Result<ClusterTrust, DiscoveryError> {
    let origin = format!("--discovery-file {location}");
    let yaml = read(location, &origin, patience.per_request()).await?;
    let Parsed {
        cluster,
        certs,
        file_token,
    } = parse(&origin, &yaml)?;
    let ca_der: Vec<Vec<u8>> = certs.iter().map(|(der, _)| der.clone()).collect();
    let client = BootstrapClient::new(
        &cluster.server,
        Trust::Anonymous { ca_der: &ca_der },
        patience.per_request(),
        requests,
    )
    .map_err(|source| DiscoveryError::Client {
        origin: origin.clone(),
        source,
    })?;
    // Any answer proves the server holds a certificate of this CA; cluster-info need not
    // be readable (a file-discovery cluster may not publish it).
    let start = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match client.config_map(KUBE_PUBLIC, CLUSTER_INFO).await {
            Ok(_) | Err(kube::Error::Api(_)) => break,
            Err(e)
                if is_connection_error(&e)
                    && start.elapsed() + patience.interval < patience.timeout =>
            {
                progress(format!(
                    "{} does not answer yet ({})",
                    cluster.server,
                    describe(&e)
                ));
                tokio::time::sleep(patience.interval).await;
            }
            Err(e) => {
                return Err(DiscoveryError::Unreachable {
                    endpoint: cluster.server,
                    attempts,
                    waited: start.elapsed(),
                    timeout: patience.timeout,
                    last: describe(&e),
                });
            }
        }
    }
    Ok(trust(cluster.server, cluster.ca_pem, certs, file_token))
}

/// A discovery kubeconfig, checked.
struct Parsed {
    cluster: KubeconfigCluster,
    certs: Vec<(Vec<u8>, CaCertHash)>,
    file_token: Option<BootstrapTokenString>,
}

fn parse(origin: &str, yaml: &str) -> Result<Parsed, DiscoveryError> {
    let cluster = kubeconfig_cluster(origin, yaml, CaSource::InlineOrFile)?;
    let certs = ca_certificates(origin, &cluster.ca_pem)?;
    let file_token = match cluster.token.as_deref().map(str::parse) {
        None => None,
        Some(Ok(token)) => Some(token),
        Some(Err(_)) => {
            return Err(DiscoveryError::Invalid {
                origin: origin.to_string(),
                problem: "its user's token is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}; value not shown)".into(),
            });
        }
    };
    Ok(Parsed {
        cluster,
        certs,
        file_token,
    })
}

/// Checks a discovery file on this node (an https URL is left to discovery) as discovery will
/// read it: readable, a kubeconfig naming a cluster with an https server and a CA, its token
/// a bootstrap token. The join checks this before its first phase, so a bad file is bad input
/// that changes nothing on the node (kubeadm's validation checks that the file exists).
pub fn check_local_file(location: &str) -> Result<(), DiscoveryError> {
    if location.starts_with("https://") {
        return Ok(());
    }
    let origin = format!("--discovery-file {location}");
    let yaml = read_local(location, &origin)?;
    parse(&origin, &yaml).map(drop)
}

fn read_local(location: &str, origin: &str) -> Result<String, DiscoveryError> {
    let bad = |problem: String| DiscoveryError::Invalid {
        origin: origin.to_string(),
        problem,
    };
    if location.starts_with("http://") {
        return Err(bad(
            "only https:// URLs are accepted: the file decides which CA this node trusts".into(),
        ));
    }
    let bytes = std::fs::read(location).map_err(|e| {
        bad(format!(
            "cannot read it: {e} (expected a kubeconfig file on this node, or an https:// URL)"
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))
}

async fn read(location: &str, origin: &str, timeout: Duration) -> Result<String, DiscoveryError> {
    let bad = |problem: String| DiscoveryError::Invalid {
        origin: origin.to_string(),
        problem,
    };
    if !location.starts_with("https://") {
        return read_local(location, origin);
    }
    let url = location.to_string();
    tokio::task::spawn_blocking(move || fetch_https(&url, timeout))
        .await
        .map_err(|e| bad(format!("the download task failed: {e}")))?
        .map_err(|source| DiscoveryError::Download {
            origin: origin.to_string(),
            source,
        })
}

/// Why `--discovery-file https://…` could not be downloaded.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("no trust roots found on this host to verify the URL's server")]
    NoTrustRoots,
    /// The request failed: server unverified, unreachable, an error status, …
    #[error(transparent)]
    Request(ureq::Error),
    #[error("reading the response: {0}")]
    Body(#[source] ureq::Error),
}

impl crate::contract::diagnostics::Diagnostic for DownloadError {}

/// GET an https URL, the server verified with the host's trust roots (as kubeadm does).
fn fetch_https(url: &str, timeout: Duration) -> Result<String, DownloadError> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = rustls_native_certs::load_native_certs();
    if roots.certs.is_empty() {
        return Err(DownloadError::NoTrustRoots);
    }
    let certs: Vec<Certificate<'static>> = roots
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder()
        .unversioned_rustls_crypto_provider(provider)
        .root_certs(RootCerts::new_with_certs(&certs))
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        .build()
        .into();
    agent
        .get(url)
        .call()
        .map_err(DownloadError::Request)?
        .body_mut()
        .read_to_string()
        .map_err(DownloadError::Body)
}
