//! The join command a token is handed out with, and the CA pin it carries.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::ClusterInfoSource;
use crate::config::CaCertHash;
use crate::config::token::BootstrapTokenString;
use crate::domain::pki::CertInfo;

#[derive(Debug, thiserror::Error)]
pub enum JoinCommandError {
    #[error("{}: certificate-authority-data is not base64", origin.display())]
    CaData { origin: std::path::PathBuf },
    #[error(transparent)]
    Ca(#[from] crate::domain::pki::PkiError),
    #[error("{}: server {server:?} is not an https://host:port URL", origin.display())]
    Server {
        origin: std::path::PathBuf,
        server: String,
    },
}

impl crate::contract::diagnostics::Diagnostic for JoinCommandError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Self::Ca(e) => e.hint(),
            Self::CaData { .. } | Self::Server { .. } => None,
        }
    }
}

/// kubeadm's CA pin: SHA-256 over the CA certificate's DER SubjectPublicKeyInfo.
pub fn ca_cert_hash(origin: &Path, ca_pem: &[u8]) -> Result<CaCertHash, JoinCommandError> {
    let info = CertInfo::from_pem(origin, ca_pem)?;
    Ok(CaCertHash::from_digest(
        Sha256::digest(&info.spki_der).into(),
    ))
}

/// `kubestrap join <host:port> --token <token> --discovery-token-ca-cert-hash sha256:<hex>`,
/// for the cluster of a kubeconfig (`origin` names it in errors).
pub fn join_command(
    origin: &Path,
    cluster: &ClusterInfoSource,
    token: &BootstrapTokenString,
) -> Result<String, JoinCommandError> {
    let pem = STANDARD
        .decode(cluster.certificate_authority_data.trim())
        .map_err(|_| JoinCommandError::CaData {
            origin: origin.to_path_buf(),
        })?;
    let hash = ca_cert_hash(origin, &pem)?;
    let endpoint = cluster
        .server
        .strip_prefix("https://")
        .map(|e| e.trim_end_matches('/'))
        .filter(|e| !e.is_empty() && !e.contains('/'))
        .ok_or_else(|| JoinCommandError::Server {
            origin: origin.to_path_buf(),
            server: cluster.server.clone(),
        })?;
    Ok(format!(
        "kubestrap join {endpoint} --token {} --discovery-token-ca-cert-hash {hash}",
        token.expose()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_of_the_spki_and_command_has_kubeadms_shape() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        let pem_text = ca.cert.pem();
        let pem = pem_text.as_bytes();
        let expected = {
            let (_, x) = x509_parser::parse_x509_certificate(ca.cert.der()).unwrap();
            hex::encode(Sha256::digest(x.public_key().raw))
        };
        let h = ca_cert_hash(Path::new("ca.crt"), pem).unwrap();
        assert_eq!(h.to_string(), format!("sha256:{expected}"));
        let src = ClusterInfoSource {
            server: "https://10.0.0.1:6443".into(),
            certificate_authority_data: STANDARD.encode(pem),
        };
        let t: BootstrapTokenString = "abcdef.0123456789abcdef".parse().unwrap();
        assert_eq!(
            join_command(Path::new("admin.conf"), &src, &t).unwrap(),
            format!(
                "kubestrap join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:{expected}"
            )
        );
        let bad = ClusterInfoSource {
            server: "http://x".into(),
            ..src
        };
        assert!(matches!(
            join_command(Path::new("admin.conf"), &bad, &t),
            Err(JoinCommandError::Server { .. })
        ));
    }
}
