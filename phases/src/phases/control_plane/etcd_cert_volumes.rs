//! The hostPath volumes that let kube-apiserver read an external etcd's CA, certificate and key:
//! kubeadm's `getEtcdCertVolumes` (cmd/kubeadm/app/phases/controlplane/volumes.go; search index
//! id 151246112, 1.31+; id 288589582, older).
//!
//! A file's directory gets no volume of its own when a mount the API server already has covers
//! it: `/etc/ssl/certs`, the distribution CA directories of the release (the same list whether
//! or not they exist on the host), the certificates directory. Of a parent and its child only the
//! parent is mounted. The remaining directories, sorted, become `etcd-certs-0`, `etcd-certs-1`…,
//! read-only, `DirectoryOrCreate`. Without this a certificate kept in `/etc/ssl/certs` would get
//! a second volume on the same mount path, which makes the pod invalid.
//!
//! kubeadm compares paths as strings (`strings.HasPrefix`), so `/etc/pki-local` counts as under
//! `/etc/pki`; kubestrap compares the same way, on paths resolved under the node root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::HostPathType;
use crate::domain::static_pod::{ExternalEtcdFiles, Mount, StaticPodSpec, ca_cert_dir_paths};

/// The volumes for `tls`'s directories not already mounted.
pub(super) fn etcd_cert_volumes(
    spec: &StaticPodSpec,
    minor: u64,
    tls: &ExternalEtcdFiles,
) -> Vec<Mount> {
    let mut covered: Vec<PathBuf> = ca_cert_dir_paths(spec, minor)
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    covered.push(spec.root.resolve("/etc/ssl/certs"));
    covered.push(spec.cert_dir.clone());
    let covered: Vec<String> = covered.iter().map(text).collect();

    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for file in [&tls.ca_file, &tls.cert_file, &tls.key_file] {
        let Some(dir) = file.parent().map(text) else {
            continue;
        };
        if dir.is_empty() || covered.iter().any(|c| dir.starts_with(c.as_str())) {
            continue;
        }
        // A parent replaces its children; a child of a kept directory is not added.
        let mut under_existing = false;
        dirs.retain(|existing| {
            if existing.starts_with(dir.as_str()) {
                false
            } else {
                under_existing |= dir.starts_with(existing.as_str());
                true
            }
        });
        if !under_existing {
            dirs.insert(dir);
        }
    }
    dirs.iter()
        .enumerate()
        .map(|(i, d)| {
            Mount::same_path(
                &format!("etcd-certs-{i}"),
                &PathBuf::from(d),
                true,
                HostPathType::DirectoryOrCreate,
            )
        })
        .collect()
}

fn text(p: impl AsRef<Path>) -> String {
    p.as_ref().display().to_string()
}
