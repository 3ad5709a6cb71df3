//! Subjects rcgen cannot express: several organizations.
//!
//! rcgen keeps one value per attribute type, but a client certificate carries one
//! organization per Kubernetes group, and `kubeconfig user --org a --org b` asks for two.
//! Go (and so kubeadm) writes all organizations into ONE multi-valued RDN:
//! `SEQUENCE { SET { O=a, O=b }, SET { CN=x } }`. We let rcgen issue the certificate, then
//! replace its subject with that encoding and sign the new TBSCertificate again with the
//! issuer's key: the signature algorithm, serial, validity and extensions stay rcgen's.

use rcgen::SigningKey;
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::der::asn1::{Any, BitString, SetOfVec, Utf8StringRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::der::{Decode, Encode};
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

use super::PkiError;

/// id-at-organizationName (RFC 4519).
const ORGANIZATION_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
/// id-at-commonName (RFC 4519).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// Go's subject for `organizations` and `common_name`, in Go's order (O before CN).
fn go_subject(organizations: &[String], common_name: &str) -> Result<RdnSequence, PkiError> {
    let attr = |oid, value: &str| -> Result<AttributeTypeAndValue, PkiError> {
        let value = Utf8StringRef::new(value).map_err(der_error)?;
        Ok(AttributeTypeAndValue {
            oid,
            value: Any::from(value),
        })
    };
    let mut orgs = SetOfVec::new();
    for o in organizations {
        // `insert` keeps DER's SET OF order; a repeated organization is one group, kept once.
        let a = attr(ORGANIZATION_NAME, o)?;
        if !orgs.iter().any(|have| have == &a) {
            orgs.insert(a).map_err(der_error)?;
        }
    }
    let cn = SetOfVec::try_from(vec![attr(COMMON_NAME, common_name)?]).map_err(der_error)?;
    let mut rdns = Vec::new();
    if !orgs.is_empty() {
        rdns.push(RelativeDistinguishedName(orgs));
    }
    rdns.push(RelativeDistinguishedName(cn));
    Ok(RdnSequence(rdns))
}

/// `der` (a certificate rcgen issued) with its subject replaced by Go's encoding of
/// `organizations` + `common_name`, re-signed by `issuer_key`. `self_signed` also replaces
/// the issuer name, which for a self-signed certificate is the subject.
pub(super) fn with_organizations(
    der: &[u8],
    organizations: &[String],
    common_name: &str,
    issuer_key: &impl SigningKey,
    self_signed: bool,
) -> Result<Vec<u8>, PkiError> {
    let mut cert = Certificate::from_der(der).map_err(der_error)?;
    let subject = go_subject(organizations, common_name)?;
    if self_signed {
        cert.tbs_certificate.issuer = subject.clone();
    }
    cert.tbs_certificate.subject = subject;
    let tbs = cert.tbs_certificate.to_der().map_err(der_error)?;
    let signature = issuer_key.sign(&tbs)?;
    cert.signature = BitString::from_bytes(&signature).map_err(der_error)?;
    cert.to_der().map_err(der_error)
}

fn der_error(e: x509_cert::der::Error) -> PkiError {
    PkiError::Unsupported(format!("cannot encode the certificate subject: {e}"))
}
