//! External-CA mode, checked once for the whole run.
//!
//! Nothing on this node can sign for a CA whose key is absent, so every certificate and
//! kubeconfig it should have signed must already be there and valid. Checking them one phase at
//! a time would stop at the first bad file, and the user would fix the files one run at a time;
//! instead the first PKI phase of a run checks every such file the run is going to need and
//! reports all the problems in one error, before any phase has written anything.

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::files::{check_ca, external_cas, plan_leaf};
use super::kubeconfig::{KubeconfigName, check_kubeconfig};
use super::{CertName, PkiError, PkiSession, PkiSpec};
use crate::contract::effects::Effects;

/// A file a PKI phase makes: a certificate (a CA or a leaf) or a kubeconfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PkiFile {
    Cert(CertName),
    Kubeconfig(KubeconfigName),
}

impl PkiFile {
    /// The file the phase at `path` makes: the tree's last two names are its group and its
    /// name (`certs/apiserver`, `control-plane-prepare/kubeconfig/admin`).
    fn of_phase(path: &str) -> Option<Self> {
        let mut parts = path.rsplit('/');
        let (name, group) = (parts.next()?, parts.next()?);
        match group {
            "certs" => CertName::parse(name).map(Self::Cert),
            "kubeconfig" => KubeconfigName::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .map(Self::Kubeconfig),
            _ => None,
        }
    }

    /// The CA that signs it (a CA signs itself).
    fn authority(self) -> CertName {
        match self {
            Self::Cert(n) => n.authority(),
            Self::Kubeconfig(_) => CertName::Ca,
        }
    }

    /// The files whose content decides whether it is valid.
    fn paths(self, spec: &PkiSpec) -> Vec<PathBuf> {
        let ca = self.authority();
        let mut v = vec![ca.cert_path(spec), ca.key_path(spec)];
        match self {
            Self::Cert(n) if !n.is_ca() => v.extend([n.cert_path(spec), n.key_path(spec)]),
            Self::Cert(_) => {}
            Self::Kubeconfig(k) => v.push(k.path(spec)),
        }
        v
    }

    /// Validates it against its CA, which is external: whatever is wrong is an error naming
    /// the file, the problem and the fix.
    fn check(
        self,
        spec: &PkiSpec,
        session: &PkiSession,
        fs: &crate::HostFs,
    ) -> Result<(), PkiError> {
        let ca_name = self.authority();
        // The CA's certificate exists (that is what makes it external); a parse error names it.
        let Some(ca) = session.authority(spec, fs, ca_name)? else {
            return Ok(());
        };
        match self {
            Self::Cert(n) if n.is_ca() => check_ca(spec, &ca),
            Self::Cert(n) => plan_leaf(spec, fs, n, &ca).map(|_| ()),
            Self::Kubeconfig(k) => check_kubeconfig(spec, fs, k, &ca),
        }
    }
}

/// When a CA (ca, front-proxy-ca, etcd-ca) is external, checks every certificate and kubeconfig
/// of this run that it must have signed, and the CA itself, and fails with one error listing
/// each missing or invalid file by path, problem and fix. Called by every `certs/*` and
/// `kubeconfig/*` phase before it writes anything, so the first of them to run reports it all.
///
/// Which files: those of the PKI phases in the run's plan ([`Effects::plan`]). `init` and
/// `init phase certs all` + `kubeconfig all` so check everything in their first phase, while a
/// single phase (`init phase certs apiserver`, or a library caller with no plan) checks only
/// its own files, through its own check, whose error carries its own fix: it is told only
/// about what it needs. A file signed by a CA that has its key is not checked here: its phase
/// can make or fix it.
///
/// Later phases re-check cheaply: the session remembers a digest of the files that passed,
/// and only reads them again to compare.
pub(crate) fn check_external_cas(
    spec: &PkiSpec,
    session: &PkiSession,
    fx: &Effects<'_>,
    own: Option<PkiFile>,
) -> Result<(), PkiError> {
    let fs = fx.fs();
    let external = external_cas(spec, fs);
    let is_external = |ca: CertName| match ca {
        CertName::Ca => external.ca,
        CertName::FrontProxyCa => external.front_proxy_ca,
        CertName::EtcdCa => external.etcd_ca,
        _ => false,
    };
    if !(external.ca || external.front_proxy_ca || external.etcd_ca) {
        return Ok(());
    }
    let scope: Vec<PkiFile> = fx
        .plan()
        .iter()
        .filter_map(|p| PkiFile::of_phase(p))
        .filter(|f| is_external(f.authority()))
        .filter(|f| match f {
            PkiFile::Cert(n) => n.applies_to(spec.etcd),
            PkiFile::Kubeconfig(_) => true,
        })
        .collect();
    if scope.iter().all(|f| Some(*f) == own) {
        return Ok(());
    }
    let mut digest = Sha256::new();
    for path in scope.iter().flat_map(|f| f.paths(spec)) {
        let bytes = fs.read_if_exists(&path)?;
        digest.update(path.as_os_str().as_encoded_bytes());
        digest.update([0]);
        match bytes {
            Some(b) => {
                digest.update((b.len() as u64).to_be_bytes());
                digest.update(&b);
            }
            None => digest.update([0xff; 8]),
        }
    }
    let digest: [u8; 32] = digest.finalize().into();
    if session.external_check_passed(&digest) {
        return Ok(());
    }
    let mut problems: Vec<PkiError> = scope
        .iter()
        .filter_map(|f| f.check(spec, session, fs).err())
        .collect();
    match problems.len() {
        0 => {
            session.remember_external_check(digest);
            Ok(())
        }
        1 => Err(problems.remove(0)),
        _ => Err(PkiError::ExternalCaFiles { problems }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_paths_name_their_files_in_both_trees() {
        assert_eq!(
            PkiFile::of_phase("certs/apiserver"),
            Some(PkiFile::Cert(CertName::Apiserver))
        );
        assert_eq!(
            PkiFile::of_phase("control-plane-prepare/kubeconfig/admin"),
            Some(PkiFile::Kubeconfig(KubeconfigName::Admin))
        );
        assert_eq!(PkiFile::of_phase("certs/sa"), None);
        assert_eq!(PkiFile::of_phase("etcd/local"), None);
        assert_eq!(PkiFile::of_phase("preflight"), None);
    }
}
