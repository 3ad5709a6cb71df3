//! What to do with a PKI file already on disk, decided before anything is written: keep a
//! certificate that is what the configuration asks for, make a missing one, and refuse with a
//! named conflict and its fix one that differs. The certs and kubeconfig phases and the
//! `certs` commands all decide through here, so they judge a file the same way.

use std::path::Path;

use time::OffsetDateTime;

use super::{
    Authority, CertInfo, CertName, PkiError, PkiSession, PkiSpec, PrivateKey, cert_profile, issue,
    read_cert, read_key, self_signed_ca,
};
use crate::contract::effects::Effects;
use crate::contract::host::{HostFs, Mode};

/// Which CAs are external (certificate present, key absent) on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ExternalCas {
    pub ca: bool,
    pub front_proxy_ca: bool,
    pub etcd_ca: bool,
}

/// Whether each CA is managed outside the cluster. `ca` being external is kubeadm's
/// "external CA mode": kube-controller-manager then gets empty `--cluster-signing-*` flags.
pub fn external_cas(spec: &PkiSpec, fs: &HostFs) -> ExternalCas {
    let ext = |n: CertName| n.is_external_ca(spec, fs);
    ExternalCas {
        ca: ext(CertName::Ca),
        front_proxy_ca: ext(CertName::FrontProxyCa),
        etcd_ca: ext(CertName::EtcdCa),
    }
}

/// kubeadm's "external CA mode": `ca.crt` without `ca.key`. kube-controller-manager then gets
/// empty `--cluster-signing-*` flags, since there is no key for it to sign with.
pub fn is_external_ca_mode(spec: &PkiSpec, fs: &HostFs) -> bool {
    external_cas(spec, fs).ca
}

/// Records a file that is kept as it is (the engine's record shows it unchanged).
pub(crate) fn keep(fx: &mut Effects<'_>, path: &Path, mode: Mode) -> Result<(), PkiError> {
    let bytes = fx.fs().read(path)?;
    fx.write_file(path, &bytes, mode)?;
    Ok(())
}

/// Whether an existing CA certificate can sign: a CA, within its validity.
pub(crate) fn check_ca(spec: &PkiSpec, ca: &Authority) -> Result<(), PkiError> {
    let name = ca.name;
    let mut problems = Vec::new();
    if !ca.cert.is_ca || !ca.cert.key_cert_sign {
        problems.push("is not a CA certificate (needs CA:TRUE and keyCertSign)".to_string());
    }
    problems.extend(ca.cert.validity_problem(OffsetDateTime::now_utc()));
    if problems.is_empty() {
        return Ok(());
    }
    let (cert_path, key_path) = (name.cert_path(spec), name.key_path(spec));
    Err(PkiError::Conflict {
        path: cert_path.clone(),
        problem: format!("{name} {}", problems.join("; ")),
        fix: format!(
            "replace {} with a valid CA, or remove it, {} and everything they signed to start a new PKI",
            cert_path.display(),
            key_path.display()
        ),
    })
}

pub(crate) fn ensure_ca(
    spec: &PkiSpec,
    session: &PkiSession,
    fx: &mut Effects<'_>,
    name: CertName,
) -> Result<(), PkiError> {
    let (cert_path, key_path) = (name.cert_path(spec), name.key_path(spec));
    if let Some(ca) = session.authority(spec, fx.fs(), name)? {
        check_ca(spec, &ca)?;
        keep(fx, &cert_path, Mode::PUBLIC)?;
        if ca.is_external() {
            fx.warn(format!(
                "external CA mode for {name}: {} has no key; certificates it signs are validated, not generated",
                cert_path.display()
            ));
        } else {
            keep(fx, &key_path, Mode::PRIVATE)?;
        }
        return Ok(());
    }
    // The key is written before the certificate, so a run killed between the two leaves a
    // key alone. Nothing can have been signed by a CA without its certificate on disk, so
    // self-signing a certificate for that key completes the interrupted write.
    let key = match read_key(fx.fs(), &key_path)? {
        Some(key) => {
            fx.warn(format!(
                "{name}: {} has no certificate; issuing one for the existing key",
                key_path.display()
            ));
            key
        }
        None => session.keys().take()?,
    };
    let cert_pem = self_signed_ca(&cert_profile(name, spec), &key, spec.ca_validity)?;
    let key_pem = key.to_pem();
    fx.write_file(&key_path, key_pem.as_bytes(), Mode::PRIVATE)?;
    fx.write_file(&cert_path, cert_pem.as_bytes(), Mode::PUBLIC)?;
    let cert = CertInfo::from_pem(&cert_path, cert_pem.as_bytes())?;
    session.remember(
        Authority {
            name,
            cert_path,
            cert,
            cert_pem: cert_pem.into_bytes(),
            key: Some(key),
        },
        key_pem.as_bytes(),
    );
    Ok(())
}

/// The CA that signs `leaf`, which must exist.
pub(crate) fn require_authority(
    spec: &PkiSpec,
    session: &PkiSession,
    fs: &HostFs,
    ca: CertName,
    leaf: &str,
) -> Result<std::sync::Arc<Authority>, PkiError> {
    session
        .authority(spec, fs, ca)?
        .ok_or_else(|| PkiError::Missing {
            path: ca.cert_path(spec),
            problem: format!("the {ca} certificate, which signs {leaf}, does not exist"),
            fix: format!(
                "run `kubestrap init phase certs {ca}` first, or provide the CA's certificate"
            ),
        })
}

/// Every way an existing leaf is not what the configuration asks for.
pub(crate) fn leaf_problems(
    profile: &crate::domain::pki::CertProfile,
    cert: &CertInfo,
    ca: &Authority,
) -> (Vec<String>, bool) {
    let mut problems = profile.differences(cert);
    let fields_differ = !problems.is_empty();
    if !cert.is_signed_by(&ca.cert) {
        problems.push(format!(
            "is not signed by the CA in {}",
            ca.cert_path.display()
        ));
    }
    problems.extend(cert.validity_problem(OffsetDateTime::now_utc()));
    (problems, fields_differ)
}

/// What a leaf phase will do, decided before anything is written.
pub(crate) enum LeafAction<'ca> {
    /// The existing certificate and key are what the configuration asks for.
    Keep,
    /// Sign a certificate with the CA's key `signer`: for the existing key (what `certs
    /// generate-csr` or an interrupted run left), or for a fresh one.
    Issue {
        existing_key: Option<PrivateKey>,
        signer: &'ca PrivateKey,
    },
}

/// Checks the files of `name` against the configuration and its CA `ca` without writing: an
/// error names the file, what is wrong and the fix. A missing certificate whose CA is external
/// is an error, since nothing on this node can sign it.
pub(crate) fn plan_leaf<'ca>(
    spec: &PkiSpec,
    fs: &HostFs,
    name: CertName,
    ca: &'ca Authority,
) -> Result<LeafAction<'ca>, PkiError> {
    let (cert_path, key_path) = (name.cert_path(spec), name.key_path(spec));
    let profile = cert_profile(name, spec);
    let cert = read_cert(fs, &cert_path)?;
    let key = read_key(fs, &key_path)?;
    match (cert, key) {
        (Some(cert), Some(key)) => {
            let (mut problems, fields_differ) = leaf_problems(&profile, &cert, ca);
            if !cert.matches_key(&key) {
                problems.push(format!("does not match its key {}", key_path.display()));
            }
            if !problems.is_empty() {
                return Err(PkiError::Conflict {
                    path: cert_path.clone(),
                    problem: format!("{name} certificate {}", problems.join("; ")),
                    fix: conflict_fix(name.as_str(), &[&cert_path, &key_path], fields_differ),
                });
            }
            Ok(LeafAction::Keep)
        }
        (Some(_), None) => Err(PkiError::Missing {
            path: key_path.clone(),
            problem: format!("the {name} certificate exists but its key does not"),
            fix: format!(
                "restore {}, or remove {} to generate both anew",
                key_path.display(),
                cert_path.display()
            ),
        }),
        (None, existing_key) => match &ca.key {
            Some(signer) => Ok(LeafAction::Issue {
                existing_key,
                signer,
            }),
            None => Err(PkiError::ExternalCa {
                path: cert_path.clone(),
                problem: format!(
                    "the {name} certificate is missing and cannot be generated: {} is an external CA ({} does not exist)",
                    ca.name,
                    ca.name.key_path(spec).display()
                ),
                fix: format!(
                    "sign {name}'s CSR (`kubestrap certs generate-csr`) with the external CA and save the certificate as {}",
                    cert_path.display()
                ),
            }),
        },
    }
}

pub(crate) fn ensure_leaf(
    spec: &PkiSpec,
    session: &PkiSession,
    fx: &mut Effects<'_>,
    name: CertName,
    ca_name: CertName,
) -> Result<(), PkiError> {
    let ca = require_authority(spec, session, fx.fs(), ca_name, name.as_str())?;
    let (cert_path, key_path) = (name.cert_path(spec), name.key_path(spec));
    let (existing_key, ca_key) = match plan_leaf(spec, fx.fs(), name, &ca)? {
        LeafAction::Keep => {
            keep(fx, &cert_path, Mode::PUBLIC)?;
            keep(fx, &key_path, Mode::PRIVATE)?;
            return Ok(());
        }
        LeafAction::Issue {
            existing_key,
            signer,
        } => (existing_key, signer),
    };
    let (key, fresh) = match existing_key {
        Some(k) => (k, false),
        None => (session.keys().take()?, true),
    };
    let cert_pem = issue(
        &cert_profile(name, spec),
        &key,
        &ca.cert.der,
        ca_key,
        spec.cert_validity,
    )?;
    if fresh {
        fx.write_file(&key_path, key.to_pem().as_bytes(), Mode::PRIVATE)?;
    } else {
        keep(fx, &key_path, Mode::PRIVATE)?;
    }
    fx.write_file(&cert_path, cert_pem.as_bytes(), Mode::PUBLIC)?;
    Ok(())
}

/// What to do about an existing file that is not what the configuration asks for: renewal
/// keeps the fields of the existing certificate, so a change of configuration needs a new one.
pub(crate) fn conflict_fix(name: &str, files: &[&Path], fields_differ: bool) -> String {
    let list = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" and ");
    if fields_differ {
        format!("remove {list} and re-run the phase to generate it with the configured fields")
    } else {
        format!("run `kubestrap certs renew {name}`, or remove {list} and re-run the phase")
    }
}

pub(crate) fn ensure_sa(
    spec: &PkiSpec,
    session: &PkiSession,
    fx: &mut Effects<'_>,
) -> Result<(), PkiError> {
    let key_path = spec.cert_dir.join("sa.key");
    let pub_path = spec.cert_dir.join("sa.pub");
    let existing_pub = fx.fs().read_if_exists(&pub_path)?;
    match read_key(fx.fs(), &key_path)? {
        Some(key) => {
            let want = key.public_key_pem();
            match existing_pub {
                Some(have) => {
                    let block = std::str::from_utf8(&have)
                        .ok()
                        .and_then(|t| pem::parse(t).ok())
                        .filter(|b| b.tag() == "PUBLIC KEY")
                        .ok_or_else(|| PkiError::Invalid {
                            path: pub_path.clone(),
                            problem: "not a PEM PUBLIC KEY".into(),
                        })?;
                    if block.contents() != key.spki_der().as_slice() {
                        return Err(PkiError::Conflict {
                            path: pub_path.clone(),
                            problem: format!(
                                "does not match the private key {}",
                                key_path.display()
                            ),
                            fix: format!(
                                "remove {} to derive it again from {}",
                                pub_path.display(),
                                key_path.display()
                            ),
                        });
                    }
                    keep(fx, &pub_path, Mode::PUBLIC)?;
                }
                None => fx.write_file(&pub_path, want.as_bytes(), Mode::PUBLIC)?,
            }
            keep(fx, &key_path, Mode::PRIVATE)?;
        }
        None => {
            if existing_pub.is_some() {
                return Err(PkiError::Conflict {
                    path: pub_path.clone(),
                    problem: format!("exists without its private key {}", key_path.display()),
                    fix: format!(
                        "restore {}, or remove {}",
                        key_path.display(),
                        pub_path.display()
                    ),
                });
            }
            let key = session.keys().take()?;
            fx.write_file(&key_path, key.to_pem().as_bytes(), Mode::PRIVATE)?;
            fx.write_file(&pub_path, key.public_key_pem().as_bytes(), Mode::PUBLIC)?;
        }
    }
    Ok(())
}
