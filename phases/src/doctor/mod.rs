//! `kubestrap doctor`: names the broken link in a node's bootstrap and certificate chain, with
//! the fix. The chain is the one the seeds describe (../shared/reference/seeds/): the bootstrap
//! token Secret, cluster-info signed for it, anonymous access to cluster-info only, the
//! bootstrappers' RBAC, CSR approval and signing by the controller-manager, the kubelet's
//! certificates, and the control plane's and etcd's certificate set. Every tool (kubeadm
//! included) reports a broken link as a timeout; doctor looks at each link instead.
//!
//! Two passes: [`node`] reads the node's files (offline, always), [`cluster`] asks the cluster
//! with whatever credentials the node has (admin.conf on a control plane, kubelet.conf on a
//! worker, or `--kubeconfig`). Doctor never changes anything and never prints a secret: a
//! token is named by its id, a key by its file.

pub mod cluster;
pub mod facts;
pub mod node;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::contract::host::NodeRoot;
pub use facts::NodeFacts;

/// A finding's stable id (`cert-expired`, `rbac-binding-missing`, …): scripts and
/// docs/doctor.md key on it, so an id is never reused for another meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct FindingId(pub &'static str);

impl FindingId {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Whether a finding breaks the chain now (`error`: doctor exits 1) or will, or may
/// (`warning`: expiring soon, wider than needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Where a finding was seen: a file (its path under the root) or an API object
/// (`ClusterRoleBinding kubeadm:kubelet-bootstrap`), the field looked at and the value found.
/// Never a secret: tokens by id, keys by file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

impl Evidence {
    pub fn of(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            field: None,
            value: None,
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }
}

/// One broken (or weakening) link: what is wrong, where it was seen, and the fix as a
/// command or an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    pub what: String,
    pub evidence: Vec<Evidence>,
    pub fix: String,
}

impl Finding {
    pub fn error(id: FindingId, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            id,
            severity: Severity::Error,
            what: what.into(),
            evidence: Vec::new(),
            fix: fix.into(),
        }
    }

    pub fn warning(id: FindingId, what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(id, what, fix)
        }
    }

    pub fn with(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }
}

/// What doctor looks at.
#[derive(Debug, Clone)]
pub struct DoctorInputs {
    pub root: NodeRoot,
    /// `--kubeconfig`: the credentials to ask the cluster with, instead of the node's own.
    pub kubeconfig: Option<PathBuf>,
    /// The time certificates and tokens are judged at.
    pub now: OffsetDateTime,
    /// A certificate or token that ends within this is a warning (kubeadm's
    /// check-expiration warns within 30 days).
    pub expiring_within: Duration,
    /// Each API call.
    pub api_timeout: Duration,
}

/// Thirty days, as `kubeadm certs check-expiration` marks a certificate.
pub const EXPIRING_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);

/// Whether the cluster was asked, and how: with which kubeconfig and server, and which areas
/// of the chain were checked (each [`cluster::AreaOutcome`] says `skipped` and why when the
/// credentials may not read it or it does not apply), or why the cluster was not asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ClusterPass {
    Checked {
        kubeconfig: String,
        server: String,
        areas: Vec<cluster::AreaOutcome>,
    },
    Skipped {
        reason: String,
    },
}

/// Doctor's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub node: NodeFacts,
    pub cluster: ClusterPass,
    /// Errors first, then warnings; by id within each.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Looks at the node's files, then the cluster when it can be reached.
pub async fn diagnose(inputs: &DoctorInputs) -> Report {
    let node_facts = NodeFacts::gather(&inputs.root);
    let mut findings = node::check(inputs, &node_facts);
    let (cluster, more) = cluster::check(inputs, &node_facts).await;
    findings.extend(more);
    findings.sort_by_key(|f| (f.severity, f.id));
    Report {
        node: node_facts,
        cluster,
        findings,
    }
}
