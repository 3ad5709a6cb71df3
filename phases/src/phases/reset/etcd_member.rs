//! Taking this node's member out of a multi-member etcd cluster before its data is deleted.
//!
//! A stacked control plane that is reset without this leaves a member in the cluster that
//! never answers again: the quorum shrinks in effect, and the next node that joins with the
//! same name is refused. kubeadm's `reset` phase `remove-etcd-member` does the same.
//!
//! The membership calls are behind [`EtcdMembership`] so the decision is testable without an
//! etcd; the real implementation is the shared client, [`EtcdCluster`].

use std::time::Duration;

use crate::domain::etcd::{EtcdCluster, EtcdError, Member};

/// Runs `call` until it succeeds, fails for good, or `patience` has passed (backoff 250 ms
/// doubling to 2 s), as kubeadm retries its etcd calls. etcd refuses to remove a member until
/// every peer has been connected for a few seconds ("unhealthy cluster"), so a refusal as
/// unavailable is worth waiting out.
fn with_retries<T>(
    patience: Duration,
    mut call: impl FnMut() -> Result<T, EtcdError>,
) -> Result<T, EtcdError> {
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
    fn members(&self) -> Result<Vec<Member>, EtcdError>;
    fn remove(&self, id: u64) -> Result<(), EtcdError>;
}

impl EtcdMembership for EtcdCluster {
    fn members(&self) -> Result<Vec<Member>, EtcdError> {
        EtcdCluster::members(self)
    }

    fn remove(&self, id: u64) -> Result<(), EtcdError> {
        self.remove_member(id).map(drop)
    }
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

/// Removes this node's member from the cluster when there are other members.
pub fn remove_this_member(
    client: &dyn EtcdMembership,
    this: &ThisMember,
    patience: Duration,
) -> Result<MemberOutcome, EtcdError> {
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
        fn members(&self) -> Result<Vec<Member>, EtcdError> {
            Ok(self.members.clone())
        }
        fn remove(&self, id: u64) -> Result<(), EtcdError> {
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
            is_learner: false,
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
                Err(EtcdError::Rejected {
                    endpoint: "e".into(),
                    call: "MemberRemove",
                    message: "etcdserver: unhealthy cluster".into(),
                    code: 14,
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
            Err(EtcdError::Rejected {
                endpoint: "e".into(),
                call: "MemberRemove",
                message: "etcdserver: member not found".into(),
                code: 5,
            })
        });
        assert!(out.is_err());
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn missing_credentials_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let creds = crate::domain::etcd::EtcdClientTls {
            ca: dir.path().join("ca.crt"),
            cert: dir.path().join("c.crt"),
            key: dir.path().join("c.key"),
        };
        let endpoints = vec!["https://127.0.0.1:1".to_string()];
        let Err(err) = EtcdCluster::connect(
            &crate::HostFs::real(),
            endpoints,
            &creds,
            Duration::from_secs(1),
        ) else {
            panic!("connected without credentials");
        };
        let err = err.to_string();
        assert!(err.contains("ca.crt"), "{err}");
    }
}
