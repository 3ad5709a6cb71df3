//! One HTTPS health probe and what it answered, in words a user can act on.
//!
//! kubeadm reports a failed wait as "timed out waiting for the condition" (kubeadm issues
//! 1034, 1856, 2091). A probe here keeps the *reason* of each attempt — refused, timed out,
//! which TLS check failed, which HTTP status and body — so the phase can say what each
//! component last answered.

use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::CertificateError;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// How a probe checks the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Verify the chain against this CA bundle (the cluster CA) and the name against the
    /// address probed: the API server's serving certificate must be right.
    CaFile(PathBuf),
    /// Accept any certificate. The controller-manager and scheduler serve self-signed
    /// certificates made at start-up; kubeadm's probes skip verification for them too.
    SelfSigned,
}

/// An HTTPS GET of a health endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub addr: SocketAddr,
    /// `/livez`, `/healthz`.
    pub path: &'static str,
    pub trust: Trust,
}

impl Probe {
    pub fn url(&self) -> String {
        // SocketAddr's Display brackets IPv6 addresses, as URLs need.
        format!("https://{}{}", self.addr, self.path)
    }
}

/// What a probe last answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// HTTP 200.
    Healthy,
    /// Nothing listens on the address (yet).
    Refused,
    /// No answer within the probe's timeout (connect or response).
    TimedOut,
    /// The TLS handshake failed; the certificate problem, when it is one.
    Tls(TlsProblem),
    /// An HTTP answer other than 200, with the start of its body.
    Http { status: u16, body: String },
    /// The cluster CA bundle to verify with cannot be used.
    CaUnusable { path: PathBuf, reason: String },
    /// Any other network error (reset connection, unreachable address).
    Network(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate does not chain to the cluster CA.
    UnknownCa {
        ca: PathBuf,
    },
    /// The certificate is not valid for the address probed.
    NameMismatch {
        expected: String,
        presented: Vec<String>,
    },
    Expired,
    NotYetValid,
    /// The server ended the handshake with an alert.
    AlertReceived(String),
    Other(String),
}

impl Answer {
    pub fn is_healthy(&self) -> bool {
        matches!(self, Answer::Healthy)
    }

    /// A few words for progress lines ("connection refused", "HTTP 500").
    pub fn short(&self) -> String {
        match self {
            Answer::Healthy => "ok".into(),
            Answer::Refused => "connection refused".into(),
            Answer::TimedOut => "timed out".into(),
            Answer::Tls(TlsProblem::UnknownCa { .. }) => "TLS: unknown CA".into(),
            Answer::Tls(TlsProblem::NameMismatch { .. }) => "TLS: name mismatch".into(),
            Answer::Tls(TlsProblem::Expired) => "TLS: certificate expired".into(),
            Answer::Tls(TlsProblem::NotYetValid) => "TLS: certificate not valid yet".into(),
            Answer::Tls(p) => format!("TLS: {p}"),
            Answer::Http { status, .. } => format!("HTTP {status}"),
            Answer::CaUnusable { .. } => "cluster CA unusable".into(),
            Answer::Network(e) => e.clone(),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Healthy => f.write_str("healthy (HTTP 200)"),
            Answer::Refused => f.write_str("connection refused: nothing listens there"),
            Answer::TimedOut => f.write_str("timed out: no answer"),
            Answer::Tls(p) => write!(f, "TLS handshake failed: {p}"),
            Answer::Http { status, body } if body.is_empty() => {
                write!(f, "HTTP {status} with an empty body")
            }
            Answer::Http { status, body } => write!(f, "HTTP {status}: {body}"),
            Answer::CaUnusable { path, reason } => {
                write!(f, "cannot use the cluster CA {}: {reason}", path.display())
            }
            Answer::Network(e) => f.write_str(e),
        }
    }
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsProblem::UnknownCa { ca } => write!(
                f,
                "unknown CA: the server's certificate is not signed by the cluster CA {}",
                ca.display()
            ),
            TlsProblem::NameMismatch {
                expected,
                presented,
            } if presented.is_empty() => write!(
                f,
                "name mismatch: the server's certificate is not valid for {expected}"
            ),
            TlsProblem::NameMismatch {
                expected,
                presented,
            } => write!(
                f,
                "name mismatch: the server's certificate is not valid for {expected} (it is for {})",
                presented.join(", ")
            ),
            TlsProblem::Expired => f.write_str("the server's certificate has expired"),
            TlsProblem::NotYetValid => {
                f.write_str("the server's certificate is not valid yet (check the clocks)")
            }
            TlsProblem::AlertReceived(a) => write!(f, "the server refused the handshake ({a})"),
            TlsProblem::Other(e) => f.write_str(e),
        }
    }
}

/// How much of an error body is kept: enough for the failing checks of /livez.
const BODY_LIMIT: u64 = 4096;
const SNIPPET_CHARS: usize = 300;

/// Runs one probe (blocking), with `timeout` for the whole exchange.
pub fn run(probe: &Probe, timeout: Duration) -> Answer {
    let agent = match agent(probe, timeout) {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    match agent.get(probe.url()).call() {
        Ok(mut response) => {
            let status = response.status().as_u16();
            if status == 200 {
                return Answer::Healthy;
            }
            let mut raw = Vec::new();
            // A body that cannot be read still leaves the status to report.
            let _ = response
                .body_mut()
                .as_reader()
                .take(BODY_LIMIT)
                .read_to_end(&mut raw);
            Answer::Http {
                status,
                body: snippet(&String::from_utf8_lossy(&raw)),
            }
        }
        Err(e) => classify(e, probe),
    }
}

fn agent(probe: &Probe, timeout: Duration) -> Result<ureq::Agent, Answer> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder().unversioned_rustls_crypto_provider(provider);
    let tls = match &probe.trust {
        Trust::SelfSigned => tls.disable_verification(true),
        Trust::CaFile(path) => tls.root_certs(RootCerts::new_with_certs(&ca_bundle(path)?)),
    };
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(timeout))
        // Read the body of a 500 instead of turning it into an error.
        .http_status_as_error(false)
        // A fresh connection per probe: a restarted component is seen as it is now.
        .max_idle_connections(0)
        .build();
    Ok(config.new_agent())
}

fn ca_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, Answer> {
    let unusable = |reason: String| Answer::CaUnusable {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| unusable(e.to_string()))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(unusable("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn classify(error: ureq::Error, probe: &Probe) -> Answer {
    if let Some(tls) = rustls_error(&error) {
        return Answer::Tls(tls_problem(tls, probe));
    }
    match error {
        ureq::Error::Timeout(_) => Answer::TimedOut,
        ureq::Error::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Answer::Refused,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Answer::TimedOut,
            _ => Answer::Network(e.to_string()),
        },
        other => Answer::Network(other.to_string()),
    }
}

/// The rustls error behind a ureq error, however deeply it is wrapped (a handshake error
/// comes back as an `io::Error` around the `rustls::Error`).
fn rustls_error(error: &ureq::Error) -> Option<&rustls::Error> {
    if let ureq::Error::Rustls(e) = error {
        return Some(e);
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = match error {
        ureq::Error::Io(e) => e.get_ref().map(|inner| inner as _),
        _ => std::error::Error::source(error),
    };
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

fn tls_problem(e: &rustls::Error, probe: &Probe) -> TlsProblem {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsProblem::UnknownCa {
                ca: match &probe.trust {
                    Trust::CaFile(p) => p.clone(),
                    Trust::SelfSigned => PathBuf::new(),
                },
            },
            CertificateError::NotValidForName => TlsProblem::NameMismatch {
                expected: probe.addr.ip().to_string(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => TlsProblem::NameMismatch {
                expected: server_name(expected),
                presented: presented.clone(),
            },
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsProblem::NotYetValid
            }
            other => TlsProblem::Other(format!("invalid certificate: {other}")),
        },
        rustls::Error::AlertReceived(alert) => TlsProblem::AlertReceived(format!("{alert:?}")),
        other => TlsProblem::Other(other.to_string()),
    }
}

fn server_name(name: &rustls::pki_types::ServerName<'_>) -> String {
    match name {
        rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_string(),
        rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// One line from a health body. /livez and /healthz list every check (`[+]ping ok`,
/// `[-]etcd failed: reason withheld`); the failing ones are what matters.
fn snippet(body: &str) -> String {
    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let failing: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("[-]"))
        .collect();
    let chosen = if failing.is_empty() {
        lines
    } else {
        // The failing checks, then the verdict line (`livez check failed`).
        let last = lines.last().copied().filter(|l| !l.starts_with('['));
        failing.into_iter().chain(last).collect()
    };
    let joined = chosen.join(" | ");
    match joined.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::snippet;

    #[test]
    fn snippets_keep_the_failing_checks() {
        let body = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]poststarthook/x ok\nlivez check failed\n";
        assert_eq!(
            snippet(body),
            "[-]etcd failed: reason withheld | livez check failed"
        );
        assert_eq!(snippet("internal error\n"), "internal error");
        let long = "x".repeat(1000);
        assert_eq!(snippet(&long).chars().count(), super::SNIPPET_CHARS + 1);
    }
}
