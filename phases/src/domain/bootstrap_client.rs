//! The API clients of a node that is still joining: it has no credentials of its own yet, only
//! an endpoint, maybe a pinned CA and a bootstrap token.
//!
//! Three trust levels, one type: anonymous over unverified TLS (discovery's first look at
//! cluster-info — nothing is trusted yet, so nothing secret may be sent), anonymous over TLS
//! verified with the discovered CA, and the bootstrap token over verified TLS. Every request
//! any of them makes is counted in one shared [`RequestCounter`], so a join can report how
//! much it asked of the API server (the join benchmark prints it). kube's own retry layer is
//! off: each count is one HTTP request, and retry policy stays with the callers, which know
//! which failures are worth waiting out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config};

use crate::config::token::BootstrapTokenString;

/// How many HTTP requests the clients sharing it have made. Cloning shares the count.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How the client authenticates the server, and itself.
pub enum Trust<'a> {
    /// Accept any server certificate and send no credentials: only for reading what is
    /// public and verified by other means (cluster-info and its signature).
    AnonymousUnverified,
    /// Verify the server with these CA certificates (DER); send no credentials.
    Anonymous { ca_der: &'a [Vec<u8>] },
    /// Verify the server with these CA certificates and authenticate with the token.
    Token {
        ca_der: &'a [Vec<u8>],
        token: &'a BootstrapTokenString,
    },
}

/// Why a client for an endpoint could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapClientError {
    #[error("{endpoint:?} is not a URL: {source}")]
    NotAUrl {
        endpoint: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// kube could not build the client (TLS set-up, the CA certificates).
    #[error("{}", describe(.0))]
    Build(#[source] kube::Error),
}

impl crate::contract::diagnostics::Diagnostic for BootstrapClientError {}

/// [`BootstrapClientError::NotAUrl`], whatever the URL parser's error type.
fn not_a_url<E: std::error::Error + Send + Sync + 'static>(
    endpoint: &str,
) -> impl FnOnce(E) -> BootstrapClientError + '_ {
    move |e| BootstrapClientError::NotAUrl {
        endpoint: endpoint.to_string(),
        source: Box::new(e),
    }
}

/// A counted client for one endpoint.
#[derive(Clone)]
pub struct BootstrapClient {
    client: Client,
    endpoint: String,
    requests: RequestCounter,
    /// Bounds each plain request (a watch has its own window).
    timeout: Duration,
}

impl std::fmt::Debug for BootstrapClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl BootstrapClient {
    /// A client for `endpoint` (`https://host:port`). `timeout` bounds connecting and each
    /// read; a watch is read with its own, longer timeout (see [`Self::watch_csr`]).
    pub fn new(
        endpoint: &str,
        trust: Trust<'_>,
        timeout: Duration,
        requests: &RequestCounter,
    ) -> Result<Self, BootstrapClientError> {
        let url = endpoint.parse().map_err(not_a_url(endpoint))?;
        let mut config = Config::new(url);
        config.default_retry = false;
        config.connect_timeout = Some(timeout);
        config.read_timeout = None;
        config.write_timeout = Some(timeout);
        match trust {
            Trust::AnonymousUnverified => config.accept_invalid_certs = true,
            Trust::Anonymous { ca_der } => config.root_cert = Some(ca_der.to_vec()),
            Trust::Token { ca_der, token } => {
                config.root_cert = Some(ca_der.to_vec());
                config.auth_info.token = Some(token.expose().into());
            }
        }
        let client = Client::try_from(config).map_err(BootstrapClientError::Build)?;
        Ok(Self {
            client,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            requests: requests.clone(),
            timeout,
        })
    }

    /// Counts one request and bounds it: hyper's read timeout is off (it would cut quiet
    /// watches), so a server that accepts and never answers is cut here, as a connection
    /// error the callers retry like any other.
    async fn request<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        self.requests.count();
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", self.timeout),
            )))),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// GET a ConfigMap; `Ok(None)` on 404.
    pub async fn config_map(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<ConfigMap>, kube::Error> {
        self.request(Api::<ConfigMap>::namespaced(self.client.clone(), namespace).get_opt(name))
            .await
    }

    /// POST a CertificateSigningRequest; returns it as stored (name, resourceVersion).
    pub async fn create_csr(
        &self,
        csr: &CertificateSigningRequest,
    ) -> Result<CertificateSigningRequest, kube::Error> {
        let api = Api::<CertificateSigningRequest>::all(self.client.clone());
        self.request(api.create(&PostParams::default(), csr)).await
    }

    /// GET a CertificateSigningRequest.
    pub async fn csr(&self, name: &str) -> Result<CertificateSigningRequest, kube::Error> {
        let api = Api::<CertificateSigningRequest>::all(self.client.clone());
        self.request(api.get(name)).await
    }

    /// One WATCH of the named CSR from `resource_version`, for at most `timeout` (the server
    /// ends the stream then); the events as they come, through `on_event` until it returns
    /// `Some`.
    pub async fn watch_csr<T>(
        &self,
        name: &str,
        resource_version: &str,
        timeout: Duration,
        mut on_event: impl FnMut(WatchEvent<CertificateSigningRequest>) -> Option<T>,
    ) -> Result<Option<T>, kube::Error> {
        use futures_util::StreamExt;
        self.requests.count();
        let params = WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(u32::try_from(timeout.as_secs().clamp(1, 290)).unwrap_or(290));
        let api = Api::<CertificateSigningRequest>::all(self.client.clone());
        let stream = api.watch(&params, resource_version).await?;
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            if let Some(done) = on_event(event?) {
                return Ok(Some(done));
            }
        }
        Ok(None)
    }

    /// Whether this client's identity may `verb` `group/resource/subresource` (cluster-wide),
    /// by SelfSubjectAccessReview, which every authenticated user may create.
    pub async fn may(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
    ) -> Result<bool, kube::Error> {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    subresource: subresource.map(Into::into),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api = Api::<SelfSubjectAccessReview>::all(self.client.clone());
        let answer = self
            .request(api.create(&PostParams::default(), &review))
            .await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// Whether a failure is about reaching the server (connection refused, TLS, timeouts) rather
/// than an answer from it.
pub fn is_connection_error(e: &kube::Error) -> bool {
    matches!(
        e,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_)
    )
}

/// A kube error in words, with the cause chain (connection refused, the TLS alert …) and
/// without `Debug` noise.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => {
            let mut msg = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(": ");
                    msg.push_str(&text);
                }
                src = s.source();
            }
            msg
        }
    }
}
