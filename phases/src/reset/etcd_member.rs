//! Taking this node's member out of a multi-member etcd cluster before its data is deleted.
//!
//! A stacked control plane that is reset without this leaves a member in the cluster that
//! never answers again: the quorum shrinks in effect, and the next node that joins with the
//! same name is refused. kubeadm's `reset` phase `remove-etcd-member` does the same.
//!
//! The membership API is behind [`EtcdMembership`] so the reset logic is testable without an
//! etcd and can later use the shared etcd client (`etcd::member`, written for `join`) instead
//! of the minimal [`GatewayClient`] here, which speaks etcd 3.4+'s JSON gateway
//! (`POST /v3/cluster/member/{list,remove}`) over mutual TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// One member as the cluster lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    /// Empty for a member that was added but has not started yet.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// Why a membership call failed; names the endpoint and what was asked.
#[derive(Debug, thiserror::Error)]
pub enum EtcdMemberError {
    #[error("etcd client credentials {}: {reason}", path.display())]
    Credentials { path: PathBuf, reason: String },
    #[error("etcd {endpoint}: {action}: {reason}")]
    Call {
        endpoint: String,
        action: &'static str,
        reason: String,
        /// No answer, or a 5xx: may go away by itself (etcd refuses to remove a member until
        /// every peer has been connected for a few seconds: "unhealthy cluster").
        transient: bool,
    },
}

impl EtcdMemberError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Call {
                transient: true,
                ..
            }
        )
    }
}

/// Runs `call` until it succeeds, fails for good, or `patience` has passed (backoff 250 ms
/// doubling to 2 s), as kubeadm retries its etcd calls.
fn with_retries<T>(
    patience: Duration,
    mut call: impl FnMut() -> Result<T, EtcdMemberError>,
) -> Result<T, EtcdMemberError> {
    let start = std::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match call() {
            Err(e) if e.is_transient() && start.elapsed() + delay < patience => {
                tracing::debug!(error = %e, ?delay, "etcd call failed; retrying");
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// The two membership calls reset needs.
pub trait EtcdMembership {
    /// The endpoint the calls go to, for messages.
    fn endpoint(&self) -> &str;
    fn members(&self) -> Result<Vec<Member>, EtcdMemberError>;
    fn remove(&self, id: u64) -> Result<(), EtcdMemberError>;
}

/// Which member is this node's: its peer URL (what the cluster knows it by), else its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThisMember {
    pub name: String,
    pub peer_url: Option<String>,
}

/// What [`remove_this_member`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOutcome {
    /// This node's member was removed; `remaining` members are left.
    Removed { id: u64, remaining: usize },
    /// This node is the cluster's only member: there is nobody to remove it from.
    OnlyMember,
    /// The cluster does not list this node (removed before, or never joined).
    NotAMember { members: usize },
}

/// Removes this node's member from the cluster when there are other members, retrying
/// transient failures for up to `patience`.
pub fn remove_this_member(
    client: &dyn EtcdMembership,
    this: &ThisMember,
    patience: Duration,
) -> Result<MemberOutcome, EtcdMemberError> {
    let members = with_retries(patience, || client.members())?;
    let ours = members.iter().find(|m| {
        this.peer_url
            .as_ref()
            .is_some_and(|u| m.peer_urls.iter().any(|p| same_url(p, u)))
            || (!m.name.is_empty() && m.name == this.name)
    });
    let Some(ours) = ours else {
        return Ok(MemberOutcome::NotAMember {
            members: members.len(),
        });
    };
    if members.len() == 1 {
        return Ok(MemberOutcome::OnlyMember);
    }
    with_retries(patience, || client.remove(ours.id))?;
    Ok(MemberOutcome::Removed {
        id: ours.id,
        remaining: members.len() - 1,
    })
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Client certificate, key and CA to talk to etcd with (kubeadm uses the API server's etcd
/// client certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCredentials {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// etcd's JSON gateway over mutual TLS, blocking.
pub struct GatewayClient {
    endpoint: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, EtcdMemberError> {
    std::fs::read(path).map_err(|e| EtcdMemberError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, EtcdMemberError> {
    let certs: Vec<_> = ureq::tls::parse_pem(&read(path)?)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(EtcdMemberError::Credentials {
            path: path.to_path_buf(),
            reason: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

impl GatewayClient {
    /// `endpoint` is a client URL (`https://10.0.0.1:2379`); `timeout` bounds each call.
    pub fn new(
        endpoint: &str,
        creds: &EtcdCredentials,
        timeout: Duration,
    ) -> Result<Self, EtcdMemberError> {
        let roots = certificates(&creds.ca)?;
        let chain = certificates(&creds.cert)?;
        // The key's parse error could quote nothing but its kind; still, say only that.
        let key =
            PrivateKey::from_pem(&read(&creds.key)?).map_err(|_| EtcdMemberError::Credentials {
                path: creds.key.clone(),
                reason: "not a PEM private key".into(),
            })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(provider)
            .root_certs(RootCerts::new_with_certs(&roots))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            agent,
        })
    }

    fn post(
        &self,
        action: &'static str,
        path: &str,
        body: &str,
    ) -> Result<String, EtcdMemberError> {
        let fail = |reason: String, transient: bool| EtcdMemberError::Call {
            endpoint: self.endpoint.clone(),
            action,
            reason,
            transient,
        };
        let mut response = self
            .agent
            .post(format!("{}{path}", self.endpoint))
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| fail(e.to_string(), true))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| fail(format!("cannot read the answer: {e}"), true))?;
        if status != 200 {
            let snippet: String = text.chars().take(300).collect();
            return Err(fail(format!("HTTP {status}: {snippet}"), status >= 500));
        }
        Ok(text)
    }
}

/// The gateway's JSON: uint64 ids are strings (proto3 JSON mapping).
#[derive(Deserialize)]
struct ListAnswer {
    #[serde(default)]
    members: Vec<WireMember>,
}

#[derive(Deserialize)]
struct WireMember {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default, rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    client_urls: Vec<String>,
}

impl EtcdMembership for GatewayClient {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn members(&self) -> Result<Vec<Member>, EtcdMemberError> {
        let action = "list members";
        let text = self.post(action, "/v3/cluster/member/list", "{}")?;
        let bad = |reason: String| EtcdMemberError::Call {
            endpoint: self.endpoint.clone(),
            action,
            reason,
            transient: false,
        };
        let answer: ListAnswer =
            serde_json::from_str(&text).map_err(|e| bad(format!("unexpected answer: {e}")))?;
        answer
            .members
            .into_iter()
            .map(|m| {
                let id =
                    m.id.parse::<u64>()
                        .map_err(|_| bad(format!("member ID {:?} is not a number", m.id)))?;
                Ok(Member {
                    id,
                    name: m.name,
                    peer_urls: m.peer_urls,
                    client_urls: m.client_urls,
                })
            })
            .collect()
    }

    fn remove(&self, id: u64) -> Result<(), EtcdMemberError> {
        let body = serde_json::json!({ "ID": id.to_string() }).to_string();
        self.post("remove member", "/v3/cluster/member/remove", &body)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    const PATIENCE: Duration = Duration::from_secs(5);

    struct Fake {
        members: Vec<Member>,
        removed: RefCell<Vec<u64>>,
    }

    impl EtcdMembership for Fake {
        fn endpoint(&self) -> &str {
            "https://127.0.0.1:2379"
        }
        fn members(&self) -> Result<Vec<Member>, EtcdMemberError> {
            Ok(self.members.clone())
        }
        fn remove(&self, id: u64) -> Result<(), EtcdMemberError> {
            self.removed.borrow_mut().push(id);
            Ok(())
        }
    }

    fn member(id: u64, name: &str, peer: &str) -> Member {
        Member {
            id,
            name: name.into(),
            peer_urls: vec![peer.into()],
            client_urls: vec![],
        }
    }

    fn this(name: &str, peer: &str) -> ThisMember {
        ThisMember {
            name: name.into(),
            peer_url: Some(peer.into()),
        }
    }

    #[test]
    fn removes_this_member_only_when_others_remain() {
        let fake = Fake {
            members: vec![
                member(1, "a", "https://10.0.0.1:2380"),
                member(2, "b", "https://10.0.0.2:2380"),
            ],
            removed: RefCell::new(vec![]),
        };
        let out =
            remove_this_member(&fake, &this("b", "https://10.0.0.2:2380/"), PATIENCE).unwrap();
        assert_eq!(
            out,
            MemberOutcome::Removed {
                id: 2,
                remaining: 1
            }
        );
        assert_eq!(*fake.removed.borrow(), [2]);

        let alone = Fake {
            members: vec![member(1, "a", "https://10.0.0.1:2380")],
            removed: RefCell::new(vec![]),
        };
        let out =
            remove_this_member(&alone, &this("a", "https://10.0.0.1:2380"), PATIENCE).unwrap();
        assert_eq!(out, MemberOutcome::OnlyMember);
        assert!(alone.removed.borrow().is_empty());
    }

    #[test]
    fn a_node_the_cluster_does_not_list_removes_nobody() {
        let fake = Fake {
            members: vec![
                member(1, "a", "https://10.0.0.1:2380"),
                member(2, "b", "https://10.0.0.2:2380"),
            ],
            removed: RefCell::new(vec![]),
        };
        let out = remove_this_member(&fake, &this("c", "https://10.0.0.3:2380"), PATIENCE).unwrap();
        assert_eq!(out, MemberOutcome::NotAMember { members: 2 });
        assert!(fake.removed.borrow().is_empty());
    }

    #[test]
    fn transient_failures_are_retried_final_ones_are_not() {
        let calls = Cell::new(0);
        let out = with_retries(PATIENCE, || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(EtcdMemberError::Call {
                    endpoint: "e".into(),
                    action: "remove member",
                    reason: "HTTP 503: unhealthy cluster".into(),
                    transient: true,
                })
            } else {
                Ok(7)
            }
        });
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.get(), 3);
        calls.set(0);
        let out: Result<(), _> = with_retries(PATIENCE, || {
            calls.set(calls.get() + 1);
            Err(EtcdMemberError::Call {
                endpoint: "e".into(),
                action: "remove member",
                reason: "HTTP 400".into(),
                transient: false,
            })
        });
        assert!(out.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn missing_credentials_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let creds = EtcdCredentials {
            ca: dir.path().join("ca.crt"),
            cert: dir.path().join("c.crt"),
            key: dir.path().join("c.key"),
        };
        let err = GatewayClient::new("https://127.0.0.1:1", &creds, Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ca.crt"), "{err}");
    }
}
