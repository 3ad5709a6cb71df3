//! The kubeconfig file format (the subset kubeadm writes), kubectl-compatible.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::domain::pki::{CertInfo, PkiError, PrivateKey};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KubeConfig {
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub preferences: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users: Vec<NamedUser>,
}

/// client-go writes empty lists as `null` (kubeadm's cluster-info has `contexts: null`,
/// `users: null`): read those as empty.
fn null_as_empty<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Base64 of the CA's PEM.
    #[serde(
        rename = "certificate-authority-data",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub certificate_authority_data: String,
    #[serde(default)]
    pub server: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

/// Credentials; `Debug` shows which are present, never their content.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(
        rename = "client-certificate-data",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub client_certificate_data: String,
    #[serde(
        rename = "client-key-data",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub client_key_data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A certificate file instead of embedded data: kubelet.conf after `kubelet-finalize`
    /// points at the kubelet's rotated `kubelet-client-current.pem`.
    #[serde(
        rename = "client-certificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_certificate: Option<String>,
    #[serde(
        rename = "client-key",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub client_key: Option<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field(
                "client_certificate_data",
                &!self.client_certificate_data.is_empty(),
            )
            .field("client_key_data", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("client_certificate", &self.client_certificate)
            .field("client_key", &self.client_key)
            .finish()
    }
}

impl KubeConfig {
    /// One cluster, one user, one context `<user>@<cluster>`, as kubeadm writes them.
    pub fn with_client_cert(
        cluster_name: &str,
        server: &str,
        ca_pem: &[u8],
        user: &str,
        cert_pem: Option<&[u8]>,
        key_pem: &[u8],
    ) -> Self {
        let context = format!("{user}@{cluster_name}");
        KubeConfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: B64.encode(ca_pem),
                    server: server.into(),
                },
                name: cluster_name.into(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster_name.into(),
                    user: user.into(),
                },
                name: context.clone(),
            }],
            current_context: context,
            kind: "Config".into(),
            preferences: BTreeMap::new(),
            users: vec![NamedUser {
                name: user.into(),
                user: User {
                    client_certificate_data: cert_pem.map(|c| B64.encode(c)).unwrap_or_default(),
                    client_key_data: B64.encode(key_pem),
                    ..User::default()
                },
            }],
        }
    }

    pub fn to_yaml(&self) -> Result<String, PkiError> {
        serde_saphyr::to_string(self)
            .map_err(|e| PkiError::Unsupported(format!("cannot serialise kubeconfig: {e}")))
    }

    pub fn from_yaml(path: &Path, bytes: &[u8]) -> Result<Self, PkiError> {
        let text = std::str::from_utf8(bytes).map_err(|_| PkiError::Invalid {
            path: path.to_path_buf(),
            problem: "not a kubeconfig (not UTF-8 text)".into(),
        })?;
        // Only the first line of the parser's message: the rest quotes the offending lines,
        // which may be client-key-data. Type errors name the field, never the value.
        serde_saphyr::from_str(text).map_err(|e| {
            let first = e.to_string();
            let first = first.lines().next().unwrap_or_default();
            let reason = match first.find(": invalid type: string") {
                Some(at) => format!("{}: invalid type: a string", &first[..at]),
                None => first.to_owned(),
            };
            PkiError::Invalid {
                path: path.to_path_buf(),
                problem: format!("not a kubeconfig: {reason}"),
            }
        })
    }

    /// What the current context points at, decoded; errors name `path`.
    pub fn current(&self, path: &Path) -> Result<CurrentContext, PkiError> {
        let invalid = |problem: String| PkiError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| {
                invalid(format!(
                    "current-context {:?} is not among its contexts",
                    self.current_context
                ))
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| invalid(format!("cluster {:?} is not defined", ctx.context.cluster)))?;
        let user = self
            .users
            .iter()
            .find(|u| u.name == ctx.context.user)
            .ok_or_else(|| invalid(format!("user {:?} is not defined", ctx.context.user)))?;
        let decode = |field: &str, data: &str| -> Result<Option<Vec<u8>>, PkiError> {
            if data.trim().is_empty() {
                return Ok(None);
            }
            B64.decode(data.trim())
                .map(Some)
                .map_err(|_| invalid(format!("{field} is not valid base64")))
        };
        let ca = decode(
            "certificate-authority-data",
            &cluster.cluster.certificate_authority_data,
        )?
        .map(|pem| CertInfo::from_pem(path, &pem))
        .transpose()?;
        let client_cert = decode(
            "client-certificate-data",
            &user.user.client_certificate_data,
        )?
        .map(|pem| CertInfo::from_pem(path, &pem))
        .transpose()?;
        let client_key = decode("client-key-data", &user.user.client_key_data)?
            .map(|pem| PrivateKey::from_pem(path, &pem))
            .transpose()?;
        Ok(CurrentContext {
            cluster_name: ctx.context.cluster.clone(),
            user_name: ctx.context.user.clone(),
            server: cluster.cluster.server.clone(),
            ca,
            client_cert,
            client_key,
        })
    }

    /// Whether the current context's user names client certificate and key files instead of
    /// embedding them (kubelet.conf once the kubelet rotates its certificate).
    pub fn current_user_cert_file(&self) -> bool {
        let Some(user_name) = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| &c.context.user)
        else {
            return false;
        };
        self.users.iter().any(|u| {
            &u.name == user_name
                && u.user.client_certificate.is_some()
                && u.user.client_key.is_some()
        })
    }

    /// Replaces the CA embedded for the current context's cluster (renewal after a CA change).
    pub fn set_ca_data(&mut self, ca_pem: &[u8]) {
        let Some(cluster_name) = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| c.context.cluster.clone())
        else {
            return;
        };
        if let Some(c) = self.clusters.iter_mut().find(|c| c.name == cluster_name) {
            c.cluster.certificate_authority_data = B64.encode(ca_pem);
        }
    }

    /// Replaces the client certificate of the current user (renewal).
    pub fn set_client_credentials(&mut self, cert_pem: &[u8], key_pem: &[u8]) {
        let Some(user_name) = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| c.context.user.clone())
        else {
            return;
        };
        if let Some(u) = self.users.iter_mut().find(|u| u.name == user_name) {
            u.user.client_certificate_data = B64.encode(cert_pem);
            u.user.client_key_data = B64.encode(key_pem);
        }
    }
}

/// The decoded parts of a kubeconfig's current context.
#[derive(Debug)]
pub struct CurrentContext {
    pub cluster_name: String,
    pub user_name: String,
    pub server: String,
    pub ca: Option<CertInfo>,
    pub client_cert: Option<CertInfo>,
    pub client_key: Option<PrivateKey>,
}
