//! Certificates: what one should contain ([`CertProfile`]), making one ([`issue`],
//! [`self_signed_ca`]), and reading one back ([`CertInfo`]) to decide whether an existing file
//! still is what the configuration asks for.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::keys::PrivateKey;
use super::{BACKDATE, PkiError, subject};

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Usage {
    /// A certificate authority: signs other certificates.
    Ca,
    Server,
    Client,
    /// etcd's server and peer certificates serve and connect with the same pair.
    ServerAndClient,
}

impl Usage {
    fn server(self) -> bool {
        matches!(self, Usage::Server | Usage::ServerAndClient)
    }
    fn client(self) -> bool {
        matches!(self, Usage::Client | Usage::ServerAndClient)
    }
}

/// The fields kubeadm puts in a certificate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertProfile {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub usage: Usage,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
}

impl CertProfile {
    pub fn new(common_name: impl Into<String>, usage: Usage) -> Self {
        Self {
            common_name: common_name.into(),
            organizations: Vec::new(),
            usage,
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
        }
    }

    pub fn org(mut self, o: impl Into<String>) -> Self {
        self.organizations.push(o.into());
        self
    }

    /// Adds a SAN given as text: an IP address if it parses as one, else a DNS name.
    /// Duplicates are dropped, order is kept.
    pub fn san(&mut self, san: &str) {
        match san.parse::<IpAddr>() {
            Ok(ip) if !self.ip_addresses.contains(&ip) => self.ip_addresses.push(ip),
            Ok(_) => {}
            Err(_) if !self.dns_names.iter().any(|d| d == san) => self.dns_names.push(san.into()),
            Err(_) => {}
        }
    }

    pub fn ip(&mut self, ip: IpAddr) {
        if !self.ip_addresses.contains(&ip) {
            self.ip_addresses.push(ip);
        }
    }

    /// The profile an existing certificate was issued with, for renewal.
    pub fn of(info: &CertInfo) -> Self {
        let usage = if info.is_ca {
            Usage::Ca
        } else {
            match (info.server_auth, info.client_auth) {
                (true, true) => Usage::ServerAndClient,
                (true, false) => Usage::Server,
                _ => Usage::Client,
            }
        };
        Self {
            common_name: info.common_name.clone(),
            organizations: info.organizations.clone(),
            usage,
            dns_names: info.dns_names.clone(),
            ip_addresses: info.ip_addresses.clone(),
        }
    }

    fn params(&self, validity: Duration) -> Result<CertificateParams, PkiError> {
        let now = OffsetDateTime::now_utc();
        let validity = time::Duration::try_from(validity)
            .map_err(|_| PkiError::Unsupported("certificate validity out of range".into()))?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // rcgen keeps one value per attribute type: several organizations are written by
        // `subject::with_organizations` after issuing.
        if let [o] = self.organizations.as_slice() {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        dn.push(DnType::CommonName, self.common_name.as_str());
        p.distinguished_name = dn;
        p.not_before = now - BACKDATE;
        p.not_after = now + validity;
        p.serial_number = Some(random_serial());
        p.use_authority_key_identifier_extension = true;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        match self.usage {
            Usage::Ca => {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.key_usages.push(KeyUsagePurpose::KeyCertSign);
                p.use_authority_key_identifier_extension = false;
                // kubeadm's CAs name themselves as their one SAN (client-go
                // NewSelfSignedCACert: `DNSNames: []string{cfg.CommonName}`). Not part of the
                // profile: an existing CA without it is still the cluster's CA.
                if let Ok(name) = self.common_name.clone().try_into() {
                    p.subject_alt_names.push(SanType::DnsName(name));
                }
            }
            usage => {
                p.is_ca = IsCa::ExplicitNoCa;
                if usage.server() {
                    p.extended_key_usages
                        .push(ExtendedKeyUsagePurpose::ServerAuth);
                }
                if usage.client() {
                    p.extended_key_usages
                        .push(ExtendedKeyUsagePurpose::ClientAuth);
                }
            }
        }
        for d in &self.dns_names {
            let name = d.clone().try_into().map_err(|_| {
                PkiError::Unsupported(format!("{d:?} is not a valid DNS name for a certificate"))
            })?;
            p.subject_alt_names.push(SanType::DnsName(name));
        }
        for ip in &self.ip_addresses {
            p.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        Ok(p)
    }

    /// A CSR for this profile signed by `key`, PEM (what `certs generate-csr` writes).
    pub fn csr_pem(&self, key: &PrivateKey) -> Result<String, PkiError> {
        let mut params = self.params(Duration::from_secs(1))?;
        // The signer picks serial and authority key id; a CSR cannot carry them.
        params.serial_number = None;
        params.use_authority_key_identifier_extension = false;
        Ok(params.serialize_request(key.key_pair())?.pem()?)
    }

    /// Every way `info` differs from this profile, in words; empty when it matches. Extra
    /// SANs in the certificate are fine (kubeadm only requires the configured ones).
    pub fn differences(&self, info: &CertInfo) -> Vec<String> {
        let mut out = Vec::new();
        if info.common_name != self.common_name {
            out.push(format!(
                "subject CN is {:?}, expected {:?}",
                info.common_name, self.common_name
            ));
        }
        let mut have = info.organizations.clone();
        let mut want = self.organizations.clone();
        have.sort();
        want.sort();
        if have != want {
            out.push(format!(
                "subject O is [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            ));
        }
        match self.usage {
            Usage::Ca => {
                if !info.is_ca || !info.key_cert_sign {
                    out.push("is not a certificate authority (CA:TRUE and keyCertSign)".into());
                }
            }
            usage => {
                if info.is_ca {
                    out.push("is a CA certificate, expected a leaf".into());
                }
                if usage.server() && !info.server_auth {
                    out.push("lacks extended key usage serverAuth".into());
                }
                if usage.client() && !info.client_auth {
                    out.push("lacks extended key usage clientAuth".into());
                }
                if !info.digital_signature {
                    out.push("lacks key usage digitalSignature".into());
                }
            }
        }
        let missing_dns: Vec<&str> = self
            .dns_names
            .iter()
            .filter(|d| !info.dns_names.iter().any(|h| h.eq_ignore_ascii_case(d)))
            .map(String::as_str)
            .collect();
        let missing_ip: Vec<String> = self
            .ip_addresses
            .iter()
            .filter(|ip| !info.ip_addresses.contains(ip))
            .map(|ip| ip.to_string())
            .collect();
        if !missing_dns.is_empty() || !missing_ip.is_empty() {
            let all: Vec<String> = missing_dns
                .iter()
                .map(|d| format!("DNS:{d}"))
                .chain(missing_ip.iter().map(|ip| format!("IP:{ip}")))
                .collect();
            out.push(format!("lacks SANs {}", all.join(", ")));
        }
        out
    }
}

/// A random positive serial, 128 bits minus the sign bit, as Go's crypto/x509 users do.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

/// A new self-signed CA; returns the certificate PEM.
pub fn self_signed_ca(
    profile: &CertProfile,
    key: &PrivateKey,
    validity: Duration,
) -> Result<String, PkiError> {
    let params = profile.params(validity)?;
    let cert = params.self_signed(key.key_pair())?;
    profile.finish(cert.der(), key, true)
}

/// A certificate for `subject_key` signed by the CA `issuer` (its DER and key).
pub fn issue(
    profile: &CertProfile,
    subject_key: &PrivateKey,
    ca_der: &[u8],
    ca_key: &PrivateKey,
    validity: Duration,
) -> Result<String, PkiError> {
    let params = profile.params(validity)?;
    let issuer = Issuer::from_ca_cert_der(&ca_der.into(), ca_key.key_pair())?;
    let cert = params.signed_by(subject_key.key_pair(), &issuer)?;
    profile.finish(cert.der(), ca_key, false)
}

impl CertProfile {
    /// The PEM of a certificate rcgen issued, with the subject rcgen could not write.
    fn finish(
        &self,
        der: &[u8],
        signer: &PrivateKey,
        self_signed: bool,
    ) -> Result<String, PkiError> {
        let der = if self.organizations.len() > 1 {
            &subject::with_organizations(
                der,
                &self.organizations,
                &self.common_name,
                signer.key_pair(),
                self_signed,
            )?
        } else {
            der
        };
        Ok(certificate_pem(der))
    }
}

/// A certificate's PEM with LF line endings, as Go and openssl write it (the pem crate's
/// default is CRLF).
fn certificate_pem(der: &[u8]) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der), config)
}

/// What kubestrap needs to know about a certificate, read once from its PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub is_ca: bool,
    pub key_cert_sign: bool,
    pub digital_signature: bool,
    pub server_auth: bool,
    pub client_auth: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    /// The raw public key inside it, to compare with a private key's.
    pub public_key_raw: Vec<u8>,
}

impl CertInfo {
    /// Parses the first `CERTIFICATE` block of a PEM file; errors name `path`.
    pub fn from_pem(path: &Path, pem_bytes: &[u8]) -> Result<Self, PkiError> {
        let invalid = |problem: String| PkiError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::str::from_utf8(pem_bytes)
            .map_err(|_| invalid("not a PEM certificate (not text)".into()))?;
        let blocks =
            pem::parse_many(text).map_err(|e| invalid(format!("not a PEM certificate: {e}")))?;
        let block = blocks
            .into_iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or_else(|| {
                invalid(
                    "no complete PEM CERTIFICATE block (truncated?): expected -----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----".into(),
                )
            })?;
        Self::from_der(path, block.contents())
    }

    pub fn from_der(path: &Path, der: &[u8]) -> Result<Self, PkiError> {
        let invalid = |problem: String| PkiError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let (_, x) = X509Certificate::from_der(der)
            .map_err(|e| invalid(format!("cannot parse the certificate: {e}")))?;
        let mut info = CertInfo {
            der: der.to_vec(),
            common_name: x
                .subject()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or_default()
                .to_string(),
            organizations: x
                .subject()
                .iter_organization()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect(),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            is_ca: false,
            key_cert_sign: false,
            digital_signature: false,
            server_auth: false,
            client_auth: false,
            not_before: x.validity().not_before.to_datetime(),
            not_after: x.validity().not_after.to_datetime(),
            spki_der: x.public_key().raw.to_vec(),
            public_key_raw: x.public_key().subject_public_key.data.to_vec(),
        };
        for ext in x.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => info.is_ca = bc.ca,
                ParsedExtension::KeyUsage(ku) => {
                    info.key_cert_sign = ku.key_cert_sign();
                    info.digital_signature = ku.digital_signature();
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    info.server_auth = eku.server_auth || eku.any;
                    info.client_auth = eku.client_auth || eku.any;
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => info.dns_names.push(d.to_string()),
                            GeneralName::IPAddress(b) => {
                                if let Ok(a) = <[u8; 4]>::try_from(*b) {
                                    info.ip_addresses.push(IpAddr::from(a));
                                } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                                    info.ip_addresses.push(IpAddr::from(a));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    pub fn to_pem(&self) -> String {
        certificate_pem(&self.der)
    }

    /// Whether `ca`'s key signed this certificate.
    pub fn is_signed_by(&self, ca: &CertInfo) -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(&self.der) else {
            return false;
        };
        let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(&ca.spki_der) else {
            return false;
        };
        cert.verify_signature(Some(&spki)).is_ok()
    }

    pub fn matches_key(&self, key: &PrivateKey) -> bool {
        self.public_key_raw == key.public_key_raw()
    }

    /// `None` when valid at `now`, else why not.
    pub fn validity_problem(&self, now: OffsetDateTime) -> Option<String> {
        if now > self.not_after {
            Some(format!("expired on {}", rfc3339(self.not_after)))
        } else if now < self.not_before {
            Some(format!("not valid before {}", rfc3339(self.not_before)))
        } else {
            None
        }
    }
}

pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pki::EncryptionAlgorithm;

    #[test]
    fn issued_leaf_reads_back_with_its_profile_and_verifies() {
        let ca_key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let ca_pem = self_signed_ca(
            &CertProfile::new("kubernetes", Usage::Ca),
            &ca_key,
            Duration::from_secs(3600),
        )
        .unwrap();
        let ca = CertInfo::from_pem(Path::new("ca.crt"), ca_pem.as_bytes()).unwrap();
        assert!(ca.is_ca && ca.key_cert_sign);
        assert!(ca.is_signed_by(&ca));

        let mut profile = CertProfile::new("kube-apiserver", Usage::Server);
        profile.san("node1");
        profile.san("10.96.0.1");
        profile.san("::1");
        let key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let pem = issue(&profile, &key, &ca.der, &ca_key, Duration::from_secs(3600)).unwrap();
        let info = CertInfo::from_pem(Path::new("a.crt"), pem.as_bytes()).unwrap();
        assert!(
            profile.differences(&info).is_empty(),
            "{:?}",
            profile.differences(&info)
        );
        assert!(info.is_signed_by(&ca));
        assert!(info.matches_key(&key));
        assert!(!info.matches_key(&ca_key));
        let backdate = OffsetDateTime::now_utc() - info.not_before;
        assert!(backdate >= time::Duration::minutes(4) && backdate <= time::Duration::minutes(6));

        let mut more = profile.clone();
        more.san("extra.example.com");
        let diff = more.differences(&info);
        assert_eq!(diff, ["lacks SANs DNS:extra.example.com"]);
        let other_ca_key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let other = self_signed_ca(
            &CertProfile::new("other", Usage::Ca),
            &other_ca_key,
            Duration::from_secs(3600),
        )
        .unwrap();
        let other = CertInfo::from_pem(Path::new("o.crt"), other.as_bytes()).unwrap();
        assert!(!info.is_signed_by(&other));
    }

    #[test]
    fn corrupt_pem_names_the_file() {
        let e = CertInfo::from_pem(
            Path::new("/p/x.crt"),
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/p/x.crt: cannot parse"), "{e}");
    }
}
