//! Doctor's offline pass: the node's own files — certificates and keys, kubeconfigs, static-pod
//! manifests, the kubelet's files. One submodule per concept; each returns its findings and
//! none fails: a file that cannot be read is itself a finding ([`FILE_UNREADABLE`]) or, when
//! another check owns its absence, left to that check.
//!
//! Everything is read once here ([`NodeFiles`]) so that the checks judge the same bytes and a
//! file unreadable for one check is reported once.

mod certs;
mod kubeconfigs;
mod kubelet;
mod manifests;
mod static_pods;

use std::path::{Path, PathBuf};

use super::facts::Role;
use super::{DoctorInputs, Evidence, Finding, FindingId, NodeFacts};
use crate::contract::host::{HostFs, NodeRoot};
use crate::domain::pki::{CertInfo, PkiError, PrivateKey};

pub use certs::{
    CERT_EXPIRED, CERT_EXPIRING, CERT_KEY_MISMATCH, CERT_MISSING, CERT_NOT_SIGNED_BY_CA,
    CERT_SAN_MISSING, CERT_USAGE_WRONG,
};
pub use kubeconfigs::{CA_BUNDLE_MISMATCH, KUBECONFIG_CA_MISMATCH, KUBELET_CONF_CERT_MISSING};
pub use kubelet::{KUBELET_CLIENT_ROTATION_OFF, KUBELET_SERVING_CERT};
pub use static_pods::{
    CONTROLLER_MANAGER_CONTROLLERS, CONTROLLER_MANAGER_SIGNING, STATIC_POD_PATH_UNMOUNTED,
    STATIC_POD_VERSION_SKEW,
};

/// A file the chain needs exists but cannot be parsed (a truncated certificate, a kubeconfig or
/// manifest that is not YAML): whatever reads it fails, so it is an error of its own.
pub const FILE_UNREADABLE: FindingId = FindingId("file-unreadable");

/// Every finding the node's files give.
pub fn check(inputs: &DoctorInputs, node: &NodeFacts) -> Vec<Finding> {
    if node.role == Role::NotJoined {
        return Vec::new();
    }
    let files = NodeFiles::new(inputs, node);
    let manifests = manifests::Manifests::read(&files);
    let mut out = manifests.unreadable.clone();
    out.extend(certs::check(&files, &manifests));
    out.extend(kubeconfigs::check(&files, &manifests));
    out.extend(kubelet::check(&files));
    out.extend(static_pods::check(&files, &manifests));
    out
}

/// The node being judged and the way its files are read.
pub(crate) struct NodeFiles<'a> {
    pub(crate) inputs: &'a DoctorInputs,
    pub(crate) node: &'a NodeFacts,
    pub(crate) fs: HostFs,
}

/// A file read for a check: absent, unusable (with the finding that says why), or parsed.
pub(crate) enum Read<T> {
    Absent,
    Unreadable(Finding),
    Parsed(T),
}

impl<T> Read<T> {
    pub(crate) fn parsed(self) -> Option<T> {
        match self {
            Read::Parsed(t) => Some(t),
            _ => None,
        }
    }
}

impl<'a> NodeFiles<'a> {
    pub(crate) fn new(inputs: &'a DoctorInputs, node: &'a NodeFacts) -> Self {
        Self {
            inputs,
            node,
            fs: HostFs::real(),
        }
    }

    pub(crate) fn root(&self) -> &NodeRoot {
        &self.inputs.root
    }

    /// A path named inside one of the node's files, as a host path: kubestrap writes paths
    /// already resolved under the node root, kubeadm (and people) write them as the node sees
    /// them (`/etc/kubernetes/pki/ca.crt`), which is resolved under the root here.
    pub(crate) fn host_path(&self, named: &str) -> PathBuf {
        let p = Path::new(named);
        if p.starts_with(self.root().as_path()) {
            p.to_path_buf()
        } else {
            self.root().resolve(p)
        }
    }

    pub(crate) fn exists(&self, path: &Path) -> bool {
        self.fs.exists(path)
    }

    /// A certificate file: its first CERTIFICATE block.
    pub(crate) fn cert(&self, path: &Path) -> Read<CertInfo> {
        match self.fs.read_if_exists(path) {
            Ok(None) => Read::Absent,
            Ok(Some(bytes)) => match CertInfo::from_pem(path, &bytes) {
                Ok(c) => Read::Parsed(c),
                Err(e) => Read::Unreadable(unreadable(path, &e)),
            },
            Err(e) => Read::Unreadable(unreadable(path, &PkiError::Fs(e))),
        }
    }

    /// A private key: the first `… PRIVATE KEY` block of the file, which may also hold
    /// certificates (the kubelet's `kubelet-client-current.pem` holds both).
    pub(crate) fn key(&self, path: &Path) -> Read<PrivateKey> {
        match self.fs.read_if_exists(path) {
            Ok(None) => Read::Absent,
            Ok(Some(bytes)) => match key_from_bundle(path, &bytes) {
                Ok(k) => Read::Parsed(k),
                Err(e) => Read::Unreadable(unreadable(path, &e)),
            },
            Err(e) => Read::Unreadable(unreadable(path, &PkiError::Fs(e))),
        }
    }

    /// A text file (manifest, kubeconfig, kubelet configuration).
    pub(crate) fn text(&self, path: &Path) -> Read<String> {
        match self.fs.read_if_exists(path) {
            Ok(None) => Read::Absent,
            Ok(Some(bytes)) => match String::from_utf8(bytes) {
                Ok(t) => Read::Parsed(t),
                Err(_) => Read::Unreadable(unreadable_why(path, "not UTF-8 text")),
            },
            Err(e) => Read::Unreadable(unreadable(path, &PkiError::Fs(e))),
        }
    }
}

/// The private key in a PEM file that may hold other blocks. Errors never quote key material
/// (`PrivateKey::from_pem`'s do not, and the parse error here names only the file).
fn key_from_bundle(path: &Path, bytes: &[u8]) -> Result<PrivateKey, PkiError> {
    let invalid = |problem: &str| PkiError::Invalid {
        path: path.to_path_buf(),
        problem: problem.into(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not a PEM file (not text)"))?;
    let blocks = pem::parse_many(text).map_err(|_| invalid("not a complete PEM file"))?;
    let block = blocks
        .into_iter()
        .find(|b| b.tag().ends_with("PRIVATE KEY"))
        .ok_or_else(|| invalid("holds no PEM private key"))?;
    PrivateKey::from_pem(path, pem::encode(&block).as_bytes())
}

/// The finding for a file that exists and cannot be used. `e` names the file and what is wrong
/// with it, never its content.
pub(crate) fn unreadable(path: &Path, e: &PkiError) -> Finding {
    unreadable_why(path, &e.to_string())
}

pub(crate) fn unreadable_why(path: &Path, why: &str) -> Finding {
    Finding::error(
        FILE_UNREADABLE,
        format!(
            "{} cannot be used ({why}): whatever reads it fails to start or to connect",
            path.display()
        ),
        format!(
            "restore {} from a backup, or remove it and regenerate it (see the finding for the missing file after removal)",
            path.display()
        ),
    )
    .with(Evidence::of(path.display().to_string()))
}

/// How a time is shown in evidence: RFC 3339, UTC.
pub(crate) fn timestamp(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `path` for evidence and messages.
pub(crate) fn shown(path: &Path) -> String {
    path.display().to_string()
}
