//! Small closed value types of the kubeadm API (enums, keys, hashes, paths), each parsed from
//! the string kubeadm uses and printed back the same way.

use serde_with::{DeserializeFromStr, SerializeDisplay};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An error message saying what was expected; wrapped with the field path or flag by callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl crate::contract::diagnostics::Diagnostic for ValueError {}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(ValueError(format!(
                        concat!("{:?} is not a valid ", $what, "; expected one of: {}"),
                        other,
                        [$($text),*].join(", ")
                    ))),
                }
            }
        }

    };
}

string_enum!(
    /// Key type of every key kubeadm generates (`encryptionAlgorithm`, v1beta4).
    EncryptionAlgorithm, "encryption algorithm", {
        Rsa2048 => "RSA-2048",
        Rsa3072 => "RSA-3072",
        Rsa4096 => "RSA-4096",
        EcdsaP256 => "ECDSA-P256",
        EcdsaP384 => "ECDSA-P384",
    }
);

string_enum!(
    /// When kubeadm pulls control-plane images.
    ImagePullPolicy, "image pull policy", {
        Always => "Always",
        IfNotPresent => "IfNotPresent",
        Never => "Never",
    }
);

string_enum!(
    /// The effect of a node taint.
    TaintEffect, "taint effect", {
        NoSchedule => "NoSchedule",
        PreferNoSchedule => "PreferNoSchedule",
        NoExecute => "NoExecute",
    }
);

string_enum!(
    /// `hostPath.type` of an extra volume.
    HostPathType, "hostPath type", {
        Unset => "",
        DirectoryOrCreate => "DirectoryOrCreate",
        Directory => "Directory",
        FileOrCreate => "FileOrCreate",
        File => "File",
        Socket => "Socket",
        CharDevice => "CharDevice",
        BlockDevice => "BlockDevice",
    }
);

/// The AES-256 key (64 hex characters) that encrypts the certificates `upload-certs` puts in
/// the kubeadm-certs Secret. A secret: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateKey([u8; 32]);

impl CertificateKey {
    /// A fresh random key, as `kubeadm init --upload-certs` makes when none is given.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn expose_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificateKey(<redacted>)")
    }
}

impl FromStr for CertificateKey {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut key = [0u8; 32];
        match hex::decode_to_slice(s, &mut key) {
            Ok(()) => Ok(Self(key)),
            Err(_) => Err(ValueError(format!(
                "not a valid certificate key ({} characters, value not shown): expected 64 hex characters (a 32-byte AES key), e.g. from `kubeadm certs certificate-key`",
                s.len()
            ))),
        }
    }
}

/// Serialised in full (config rendering, fingerprints); only `Debug` redacts.
impl Serialize for CertificateKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.expose_hex())
    }
}

impl<'de> Deserialize<'de> for CertificateKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A pin of the cluster CA: SHA-256 over the CA certificate's SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct CaCertHash([u8; 32]);

impl CaCertHash {
    pub fn from_digest(digest: [u8; 32]) -> Self {
        Self(digest)
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for CaCertHash {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut digest = [0u8; 32];
        let hex_part = s
            .strip_prefix("sha256:")
            .ok_or(())
            .and_then(|h| hex::decode_to_slice(h, &mut digest).map_err(|_| ()));
        match hex_part {
            Ok(()) => Ok(Self(digest)),
            Err(()) => Err(ValueError(format!(
                "{s:?} is not a valid CA certificate hash: expected sha256:<64 hex characters> (SHA-256 of the CA's Subject Public Key Info)"
            ))),
        }
    }
}

impl fmt::Display for CaCertHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// The container runtime's CRI endpoint, always as a `unix://` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct CriSocket(String);

/// containerd's socket, kubeadm's default when it cannot detect the runtime.
pub const DEFAULT_CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";

impl CriSocket {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The socket's filesystem path.
    pub fn path(&self) -> &Path {
        Path::new(self.0.trim_start_matches("unix://"))
    }
}

impl Default for CriSocket {
    fn default() -> Self {
        Self(DEFAULT_CRI_SOCKET.to_owned())
    }
}

impl FromStr for CriSocket {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // kubeadm still accepts a bare path (with a deprecation warning) and adds the scheme.
        let path = s.strip_prefix("unix://").unwrap_or(s);
        if path.starts_with('/') && !path.contains("://") {
            Ok(Self(format!("unix://{path}")))
        } else {
            Err(ValueError(format!(
                "{s:?} is not a valid CRI socket: expected unix://<absolute path>, e.g. {DEFAULT_CRI_SOCKET}"
            )))
        }
    }
}

impl fmt::Display for CriSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute path (certificatesDir, etcd dataDir, caCertPath, …): kubeadm rejects
/// relative ones because it runs from arbitrary working directories.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, SerializeDisplay, DeserializeFromStr,
)]
pub struct AbsPath(PathBuf);

impl AbsPath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for AbsPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl FromStr for AbsPath {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('/') {
            Ok(Self(PathBuf::from(s)))
        } else {
            Err(ValueError(format!(
                "{s:?} is not an absolute path: expected a path starting with /"
            )))
        }
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.display())
    }
}

/// `networking.dnsDomain`: the cluster's DNS suffix (DNS-1123 subdomain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr)]
pub struct DnsDomain(String);

impl DnsDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DnsDomain {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if crate::config::node_name::is_dns1123_subdomain(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError(format!(
                "{s:?} is not a valid DNS domain: expected a lowercase RFC 1123 subdomain such as cluster.local"
            )))
        }
    }
}

impl fmt::Display for DnsDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TCP port 1-65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Port(pub u16);

impl Port {
    pub(super) fn check(n: i64) -> Result<Option<Port>, ValueError> {
        // 0 means "unset" in kubeadm's API (Go's zero value), so it gets the default.
        match n {
            0 => Ok(None),
            1..=65535 => Ok(Some(Port(n as u16))),
            _ => Err(ValueError(format!(
                "{n} is not a valid port: expected 1-65535"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_list_choices() {
        for a in EncryptionAlgorithm::ALL {
            assert_eq!(a.as_str().parse::<EncryptionAlgorithm>().unwrap(), *a);
        }
        let e = "RSA-1024"
            .parse::<EncryptionAlgorithm>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("RSA-2048, RSA-3072"), "{e}");
        assert!("ifnotpresent".parse::<ImagePullPolicy>().is_err());
    }

    #[test]
    fn certificate_key_is_hex_and_redacted() {
        let hexkey = "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204";
        let k: CertificateKey = hexkey.parse().unwrap();
        assert_eq!(k.expose_hex(), hexkey);
        assert!(!format!("{k:?}").contains("e6a2"));
        let err = "e6a2".parse::<CertificateKey>().unwrap_err().to_string();
        assert!(err.contains("64 hex") && !err.contains("e6a2"), "{err}");
        assert_ne!(CertificateKey::generate(), CertificateKey::generate());
    }

    #[test]
    fn ca_cert_hash() {
        let h = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(h.parse::<CaCertHash>().unwrap().to_string(), h);
        assert!(
            format!("sha1:{}", "ab".repeat(32))
                .parse::<CaCertHash>()
                .is_err()
        );
        assert!("sha256:abcd".parse::<CaCertHash>().is_err());
    }

    #[test]
    fn cri_socket_and_paths() {
        assert_eq!(
            "/run/crio/crio.sock".parse::<CriSocket>().unwrap().as_str(),
            "unix:///run/crio/crio.sock"
        );
        assert_eq!(
            CriSocket::default().path(),
            Path::new("/var/run/containerd/containerd.sock")
        );
        assert!("tcp://1.2.3.4:1".parse::<CriSocket>().is_err());
        assert!("relative/pki".parse::<AbsPath>().is_err());
        assert_eq!(Port::check(0).unwrap(), None);
        assert!(Port::check(70000).is_err());
    }
}

/// Who completes the node's TLS bootstrap.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, SerializeDisplay, DeserializeFromStr,
)]
pub enum TlsBootstrap {
    /// The kubelet, from bootstrap-kubelet.conf (kubeadm's way).
    #[default]
    Kubelet,
    /// kubestrap, during `kubelet-start`.
    Builtin,
}

impl fmt::Display for TlsBootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kubelet => "kubelet",
            Self::Builtin => "builtin",
        })
    }
}

/// A `--tls-bootstrap` value that is neither `kubelet` nor `builtin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a TLS bootstrap mode; expected \"kubelet\" or \"builtin\"")]
pub struct UnknownTlsBootstrap(pub String);

impl crate::contract::diagnostics::Diagnostic for UnknownTlsBootstrap {}

impl FromStr for TlsBootstrap {
    type Err = UnknownTlsBootstrap;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kubelet" => Ok(Self::Kubelet),
            "builtin" => Ok(Self::Builtin),
            other => Err(UnknownTlsBootstrap(other.to_string())),
        }
    }
}
