//! `kubestrap certs …`: check-expiration, renew, generate-csr, certificate-key.

use std::path::PathBuf;

use serde::Serialize;
use time::OffsetDateTime;

use crate::contract::effects::Effects;
use crate::contract::host::{HostFs, Mode};
use crate::domain::pki::files::{keep, require_authority};
use crate::domain::pki::kubeconfig::{KubeConfig, KubeconfigName};
use crate::domain::pki::{
    Authority, CertInfo, CertName, CertProfile, KeyPool, PkiError, PkiSession, PkiSpec, PrivateKey,
    cert_profile, issue, read_cert, read_key,
};

/// `kind` of kubeadm's `certs check-expiration -o json|yaml` output.
pub(super) const EXPIRATION_KIND: &str = "CertificateExpirationInfo";

/// One certificate or CA of `certs check-expiration`: kubeadm's output `Certificate`
/// (`output.kubeadm.k8s.io/v1alpha3`), field for field, so that scripts written against
/// `kubeadm certs check-expiration -o json` read kubestrap's too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationRow {
    /// `apiserver`, `admin.conf`, `ca`, …
    pub name: String,
    /// NotAfter, RFC 3339 in UTC (a metav1.Time); `null` when missing or unreadable, as
    /// kubeadm writes a zero time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expiration_date: Option<OffsetDateTime>,
    /// Whole seconds left, negative once expired, 0 when missing or unreadable. kubeadm's
    /// field is `ResidualTimeSeconds` (`int64(ResidualTime() / time.Second)`), named
    /// `residualTime` on the wire: seconds, not a Go `time.Duration` in nanoseconds.
    pub residual_time: i64,
    /// The signing CA's key is not on this node, so kubestrap cannot renew it.
    pub externally_managed: bool,
    /// The CA that signed it; absent for a CA, and (as kubeadm writes it) for a missing file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_name: Option<String>,
    pub missing: bool,
    /// Where the file is (not part of kubeadm's output).
    #[serde(skip)]
    pub path: PathBuf,
    /// Why the file could not be read, if it could not (not part of kubeadm's output, which
    /// fails instead; kubestrap reports the rest and warns).
    #[serde(skip)]
    pub problem: Option<String>,
}

/// kubeadm's `CertificateExpirationInfo`: the whole `certs check-expiration` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationReport {
    pub kind: &'static str,
    pub api_version: &'static str,
    /// Leaf certificates and kubeconfig client certificates, sorted by name.
    pub certificates: Vec<ExpirationRow>,
    /// The CAs, sorted by name.
    pub certificate_authorities: Vec<ExpirationRow>,
}

/// The kubeconfigs kubeadm lists and renews (kubelet.conf's cert is rotated by the kubelet).
const RENEWABLE_KUBECONFIGS: [KubeconfigName; 4] = [
    KubeconfigName::Admin,
    KubeconfigName::ControllerManager,
    KubeconfigName::Scheduler,
    KubeconfigName::SuperAdmin,
];

fn row(
    name: String,
    path: PathBuf,
    cert: Result<Option<CertInfo>, PkiError>,
    ca: Option<CertName>,
    externally_managed: bool,
    now: OffsetDateTime,
) -> ExpirationRow {
    let mut r = ExpirationRow {
        name,
        path,
        expiration_date: None,
        residual_time: 0,
        externally_managed,
        ca_name: ca.map(|c| c.as_str().to_string()),
        missing: false,
        problem: None,
    };
    match cert {
        Ok(Some(c)) => {
            r.expiration_date = Some(c.not_after);
            r.residual_time = (c.not_after - now).whole_seconds();
        }
        // kubeadm's row for a missing file carries only its name.
        Ok(None) => {
            r.missing = true;
            r.ca_name = None;
            r.externally_managed = false;
        }
        Err(e) => r.problem = Some(e.to_string()),
    }
    r
}

/// Expiry of every certificate and kubeconfig client certificate, and of the CAs, like
/// `kubeadm certs check-expiration`. A missing or unreadable file is a row, not an error.
pub fn check_expiration(spec: &PkiSpec, fs: &HostFs) -> ExpirationReport {
    let now = OffsetDateTime::now_utc();
    let external = |ca: CertName| !fs.exists(&ca.key_path(spec));
    let mut certificates: Vec<ExpirationRow> = CertName::ALL
        .into_iter()
        .filter(|n| !n.is_ca() && n.applies_to(spec.etcd))
        .map(|n| {
            let ca = n.issuer();
            row(
                n.as_str().into(),
                n.cert_path(spec),
                read_cert(fs, &n.cert_path(spec)),
                ca,
                ca.is_some_and(external),
                now,
            )
        })
        .collect();
    // super-admin.conf only where the release makes it and it exists: only the first control
    // plane of a 1.29+ cluster has one (a joined control plane, and a cluster made by kubeadm
    // up to 1.28, have none, and that is no fault).
    let listed = |k: &KubeconfigName| {
        *k != KubeconfigName::SuperAdmin || (k.applies_to(spec) && fs.exists(&k.path(spec)))
    };
    for k in RENEWABLE_KUBECONFIGS.into_iter().filter(listed) {
        let path = k.path(spec);
        let cert = fs
            .read_if_exists(&path)
            .map_err(PkiError::from)
            .and_then(|b| {
                b.map(|b| {
                    let kc = KubeConfig::from_yaml(&path, &b)?;
                    let cur = kc.current(&path)?;
                    cur.client_cert.ok_or_else(|| PkiError::Invalid {
                        path: path.clone(),
                        problem: "embeds no client certificate".into(),
                    })
                })
                .transpose()
            });
        certificates.push(row(
            k.file_name(),
            path.clone(),
            cert,
            Some(CertName::Ca),
            external(CertName::Ca),
            now,
        ));
    }
    certificates.sort_by(|a, b| a.name.cmp(&b.name));
    let mut certificate_authorities: Vec<ExpirationRow> = CertName::AUTHORITIES
        .into_iter()
        .filter(|n| n.applies_to(spec.etcd))
        .map(|n| {
            row(
                n.as_str().into(),
                n.cert_path(spec),
                read_cert(fs, &n.cert_path(spec)),
                None,
                external(n),
                now,
            )
        })
        .collect();
    certificate_authorities.sort_by(|a, b| a.name.cmp(&b.name));
    ExpirationReport {
        kind: EXPIRATION_KIND,
        api_version: crate::domain::kubeadm_output::OUTPUT_API_VERSION,
        certificates,
        certificate_authorities,
    }
}

/// What `certs renew` is asked to renew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewTarget {
    All,
    Cert(CertName),
    Kubeconfig(KubeconfigName),
}

/// A `certs renew` argument that names nothing renewable; `expected` lists what is (sorted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown certificate {given:?}; expected all or one of {}", expected.join(", "))]
pub struct UnknownRenewTarget {
    pub given: String,
    pub expected: Vec<String>,
}

impl crate::contract::diagnostics::Diagnostic for UnknownRenewTarget {}

impl std::str::FromStr for RenewTarget {
    type Err = UnknownRenewTarget;
    fn from_str(s: &str) -> Result<Self, UnknownRenewTarget> {
        if s == "all" {
            return Ok(Self::All);
        }
        if let Some(n) = CertName::parse(s).filter(|n| !n.is_ca()) {
            return Ok(Self::Cert(n));
        }
        if let Some(k) =
            KubeconfigName::parse_file_name(s).filter(|k| RENEWABLE_KUBECONFIGS.contains(k))
        {
            return Ok(Self::Kubeconfig(k));
        }
        let mut names: Vec<String> = CertName::ALL
            .into_iter()
            .filter(|n| !n.is_ca())
            .map(|n| n.as_str().to_string())
            .chain(RENEWABLE_KUBECONFIGS.iter().map(|k| k.file_name()))
            .collect();
        names.sort();
        Err(UnknownRenewTarget {
            given: s.to_string(),
            expected: names,
        })
    }
}

/// One certificate `certs renew` looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renewed {
    pub name: String,
    pub path: PathBuf,
    pub outcome: RenewOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum RenewOutcome {
    Renewed,
    /// Not renewed under `all`, and why (missing file, external CA).
    Skipped(String),
}

/// Re-issues leaf certificates (and kubeconfig client certificates) with their current
/// subject and SANs, a new key and the configured validity, signed by the unchanged CA.
/// A renewed kubeconfig also embeds the current `ca.crt`.
/// Naming one certificate makes every problem an error; `all` skips missing files and
/// externally managed ones and says so.
pub fn renew(
    spec: &PkiSpec,
    keys: &KeyPool,
    fx: &mut Effects<'_>,
    target: RenewTarget,
) -> Result<Vec<Renewed>, PkiError> {
    let session = PkiSession::new(KeyPool::empty(keys.algorithm()));
    let mut out = Vec::new();
    let (certs, kubeconfigs) = renew_targets(spec, target);
    let strict = target != RenewTarget::All;
    let outcome = |r: Result<(), PkiError>| -> Result<RenewOutcome, PkiError> {
        match r {
            Ok(()) => Ok(RenewOutcome::Renewed),
            Err(e @ (PkiError::Missing { .. } | PkiError::ExternalCa { .. })) if !strict => {
                Ok(RenewOutcome::Skipped(e.to_string()))
            }
            Err(e) => Err(e),
        }
    };
    for n in certs {
        let r = renew_cert(spec, &session, keys, fx, n);
        out.push(Renewed {
            name: n.as_str().into(),
            path: n.cert_path(spec),
            outcome: outcome(r)?,
        });
    }
    for k in kubeconfigs {
        let r = renew_kubeconfig(spec, &session, keys, fx, k);
        out.push(Renewed {
            name: k.file_name(),
            path: k.path(spec),
            outcome: outcome(r)?,
        });
    }
    Ok(out)
}

/// The certificates and kubeconfigs `renew` re-issues for `target`.
fn renew_targets(spec: &PkiSpec, target: RenewTarget) -> (Vec<CertName>, Vec<KubeconfigName>) {
    match target {
        RenewTarget::All => (
            CertName::ALL
                .into_iter()
                .filter(|n| !n.is_ca() && n.applies_to(spec.etcd))
                .collect(),
            RENEWABLE_KUBECONFIGS
                .into_iter()
                .filter(|k| k.applies_to(spec))
                .collect(),
        ),
        RenewTarget::Cert(n) => (vec![n], vec![]),
        RenewTarget::Kubeconfig(k) => (vec![], vec![k]),
    }
}

/// How many new keys [`renew`] will take for `target`: one per file present to renew. The
/// caller sizes a [`KeyPool::start`] with it, so that `renew all` generates its keys on every
/// core at once instead of one after another (RSA keys are most of its time).
pub fn renew_key_count(spec: &PkiSpec, fs: &HostFs, target: RenewTarget) -> usize {
    let (certs, kubeconfigs) = renew_targets(spec, target);
    let present = |p: PathBuf| fs.read_if_exists(&p).ok().flatten().is_some();
    certs
        .into_iter()
        .filter(|n| present(n.cert_path(spec)))
        .count()
        + kubeconfigs
            .into_iter()
            .filter(|k| present(k.path(spec)))
            .count()
}

/// How many new keys [`generate_csr`] will take: one per leaf certificate without a key file,
/// and one per kubeconfig not there yet (an existing one's client key is reused; one that
/// cannot be read makes `generate_csr` fail anyway). For sizing a [`KeyPool::start`].
pub fn generate_csr_key_count(spec: &PkiSpec, fs: &HostFs) -> usize {
    let absent = |p: PathBuf| fs.read_if_exists(&p).ok().flatten().is_none();
    CertName::ALL
        .into_iter()
        .filter(|n| !n.is_ca() && n.applies_to(spec.etcd))
        .filter(|n| absent(n.key_path(spec)))
        .count()
        + KubeconfigName::ALL
            .into_iter()
            .filter(|k| absent(k.path(spec)))
            .count()
}

fn signing_key_of(
    spec: &PkiSpec,
    session: &PkiSession,
    fs: &HostFs,
    ca: CertName,
    what: &str,
) -> Result<std::sync::Arc<Authority>, PkiError> {
    let authority = require_authority(spec, session, fs, ca, what)?;
    if authority.key.is_none() {
        return Err(PkiError::ExternalCa {
            path: ca.key_path(spec),
            problem: format!("cannot renew {what}: {ca} is an external CA (no key on this node)"),
            fix: format!("renew {what} with the external CA"),
        });
    }
    Ok(authority)
}

/// What renewing means for one certificate: a new key, and a certificate with `profile`'s
/// subject, SANs and usages (an existing certificate's, [`CertProfile::of`], or what the
/// configuration asks for) for the configured validity, signed by `ca_name`'s key. Returns
/// the signing CA too, for callers that embed it (kubeconfigs).
fn reissue(
    spec: &PkiSpec,
    session: &PkiSession,
    keys: &KeyPool,
    fs: &HostFs,
    profile: &CertProfile,
    ca_name: CertName,
    what: &str,
) -> Result<(std::sync::Arc<Authority>, PrivateKey, String), PkiError> {
    let ca = signing_key_of(spec, session, fs, ca_name, what)?;
    let ca_key = ca
        .key
        .as_ref()
        .ok_or_else(|| PkiError::Crypto("CA key vanished".into()))?;
    let key = keys.take()?;
    let cert = issue(profile, &key, &ca.cert.der, ca_key, spec.cert_validity)?;
    Ok((ca, key, cert))
}

fn missing(path: &std::path::Path, what: &str) -> PkiError {
    PkiError::Missing {
        path: path.to_path_buf(),
        problem: format!("{what} does not exist, so there is nothing to renew"),
        fix: "create it with `kubestrap init phase certs` / `kubestrap init phase kubeconfig`"
            .into(),
    }
}

fn renew_cert(
    spec: &PkiSpec,
    session: &PkiSession,
    keys: &KeyPool,
    fx: &mut Effects<'_>,
    name: CertName,
) -> Result<(), PkiError> {
    let Some(ca_name) = name.issuer() else {
        return Err(PkiError::Unsupported(format!(
            "{name} is a CA; CAs are not renewed"
        )));
    };
    let cert_path = name.cert_path(spec);
    let existing =
        read_cert(fx.fs(), &cert_path)?.ok_or_else(|| missing(&cert_path, name.as_str()))?;
    let (_, key, cert) = reissue(
        spec,
        session,
        keys,
        fx.fs(),
        &CertProfile::of(&existing),
        ca_name,
        name.as_str(),
    )?;
    fx.write_file(&name.key_path(spec), key.to_pem().as_bytes(), Mode::PRIVATE)?;
    fx.write_file(&cert_path, cert.as_bytes(), Mode::PUBLIC)?;
    Ok(())
}

/// Re-issues `name` with what the configuration asks for now (its subject, SANs and usages
/// from `spec`), when the certificate on disk differs from it: a reconfiguration that adds
/// `apiServer.certSANs` gets a certificate that holds them. Returns the differences found
/// (none: the certificate was left alone). A missing certificate is an error.
pub fn reissue_if_changed(
    spec: &PkiSpec,
    keys: &KeyPool,
    fx: &mut Effects<'_>,
    name: CertName,
) -> Result<Vec<String>, PkiError> {
    let Some(ca_name) = name.issuer() else {
        return Err(PkiError::Unsupported(format!(
            "{name} is a CA; CAs are not re-issued"
        )));
    };
    let cert_path = name.cert_path(spec);
    let existing =
        read_cert(fx.fs(), &cert_path)?.ok_or_else(|| missing(&cert_path, name.as_str()))?;
    let wanted = cert_profile(name, spec);
    let differences = wanted.differences(&existing);
    if differences.is_empty() {
        return Ok(differences);
    }
    let session = PkiSession::new(KeyPool::empty(keys.algorithm()));
    let (_, key, cert) = reissue(
        spec,
        &session,
        keys,
        fx.fs(),
        &wanted,
        ca_name,
        name.as_str(),
    )?;
    fx.write_file(&name.key_path(spec), key.to_pem().as_bytes(), Mode::PRIVATE)?;
    fx.write_file(&cert_path, cert.as_bytes(), Mode::PUBLIC)?;
    Ok(differences)
}

fn renew_kubeconfig(
    spec: &PkiSpec,
    session: &PkiSession,
    keys: &KeyPool,
    fx: &mut Effects<'_>,
    name: KubeconfigName,
) -> Result<(), PkiError> {
    let path = name.path(spec);
    let file_name = name.file_name();
    let bytes = fx
        .fs()
        .read_if_exists(&path)?
        .ok_or_else(|| missing(&path, &file_name))?;
    let mut kc = KubeConfig::from_yaml(&path, &bytes)?;
    let existing = kc
        .current(&path)?
        .client_cert
        .ok_or_else(|| PkiError::Invalid {
            path: path.clone(),
            problem: "embeds no client certificate to renew".into(),
        })?;
    let (ca, key, cert) = reissue(
        spec,
        session,
        keys,
        fx.fs(),
        &CertProfile::of(&existing),
        CertName::Ca,
        &file_name,
    )?;
    kc.set_client_credentials(cert.as_bytes(), key.to_pem().as_bytes());
    kc.set_ca_data(&ca.cert_pem);
    fx.write_file(&path, kc.to_yaml()?.as_bytes(), Mode::PRIVATE)?;
    Ok(())
}

/// Writes a key and a CSR for every leaf certificate (`<cert-dir>/<name>.key` + `.csr`) and
/// a partial kubeconfig with its client key plus `<name>.conf.csr` for every kubeconfig
/// (kubeadm's `certs generate-csr` layout), for an external CA to sign. The kubeconfigs embed
/// `ca.crt` when it is already present. An existing key is reused, so running it twice does
/// not invalidate CSRs already sent. Returns the CSR paths.
pub fn generate_csr(
    spec: &PkiSpec,
    keys: &KeyPool,
    fx: &mut Effects<'_>,
) -> Result<Vec<PathBuf>, PkiError> {
    let mut csrs = Vec::new();
    for n in CertName::ALL
        .into_iter()
        .filter(|n| !n.is_ca() && n.applies_to(spec.etcd))
    {
        let key_path = n.key_path(spec);
        let key = match read_key(fx.fs(), &key_path)? {
            Some(k) => {
                keep(fx, &key_path, Mode::PRIVATE)?;
                k
            }
            None => {
                let k = keys.take()?;
                fx.write_file(&key_path, k.to_pem().as_bytes(), Mode::PRIVATE)?;
                k
            }
        };
        let csr_path = spec.cert_dir.join(format!("{}.csr", n.file_base()));
        let csr = cert_profile(n, spec).csr_pem(&key)?;
        fx.write_file(&csr_path, csr.as_bytes(), Mode::PUBLIC)?;
        csrs.push(csr_path);
    }
    let ca_pem = fx
        .fs()
        .read_if_exists(&CertName::Ca.cert_path(spec))?
        .unwrap_or_default();
    for k in KubeconfigName::ALL {
        let path = k.path(spec);
        let profile = k.client_profile(spec);
        let existing_key = match fx.fs().read_if_exists(&path)? {
            Some(b) => KubeConfig::from_yaml(&path, &b)?.current(&path)?.client_key,
            None => None,
        };
        let key = match existing_key {
            Some(key) => key,
            None => keys.take()?,
        };
        let kc = KubeConfig::with_client_cert(
            &spec.cluster_name,
            &k.server(spec),
            &ca_pem,
            &profile.common_name,
            None,
            key.to_pem().as_bytes(),
        );
        fx.write_file(&path, kc.to_yaml()?.as_bytes(), Mode::PRIVATE)?;
        let csr_path = spec.kubeconfig_dir.join(format!("{}.csr", k.file_name()));
        fx.write_file(&csr_path, profile.csr_pem(&key)?.as_bytes(), Mode::PUBLIC)?;
        csrs.push(csr_path);
    }
    Ok(csrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renew_targets_parse_like_kubeadm() {
        assert_eq!("all".parse(), Ok(RenewTarget::All));
        assert_eq!(
            "apiserver".parse(),
            Ok(RenewTarget::Cert(CertName::Apiserver))
        );
        assert_eq!(
            "admin.conf".parse(),
            Ok(RenewTarget::Kubeconfig(KubeconfigName::Admin))
        );
        assert!("ca".parse::<RenewTarget>().is_err());
        assert!("kubelet.conf".parse::<RenewTarget>().is_err());
    }
}
