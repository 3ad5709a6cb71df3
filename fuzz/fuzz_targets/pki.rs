//! The PEM/certificate loader that reads existing files under /etc/kubernetes/pki: the same
//! bytes as a certificate (PEM and DER) and as a private key. Errors must name the file.
#![no_main]

use std::path::Path;

use kubestrap_phases::domain::pki::{CertInfo, PrivateKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/fuzz/pki/apiserver.crt");
    let now = time::OffsetDateTime::now_utc();
    let cert = CertInfo::from_pem(path, data);
    let der = CertInfo::from_der(path, data);
    let key = PrivateKey::from_pem(path, data);
    for c in [&cert, &der] {
        match c {
            Ok(c) => {
                let _ = c.validity_problem(now);
                let _ = c.is_signed_by(c);
                let _ = CertInfo::from_pem(path, c.to_pem().as_bytes());
                if let Ok(k) = &key {
                    let _ = c.matches_key(k);
                }
            }
            Err(e) => assert!(
                e.to_string().starts_with("/fuzz/pki/apiserver.crt: "),
                "{e}"
            ),
        }
    }
    match key {
        Ok(k) => {
            let _ = (k.algorithm_label(), k.spki_der(), k.public_key_pem());
            assert_eq!(format!("{k:?}"), "PrivateKey(<redacted>)");
            let again = PrivateKey::from_pem(path, k.to_pem().as_bytes())
                .unwrap_or_else(|e| panic!("a parsed key does not round-trip: {e}"));
            assert_eq!(again.public_key_raw(), k.public_key_raw());
        }
        Err(e) => assert!(
            e.to_string().starts_with("/fuzz/pki/apiserver.crt: "),
            "{e}"
        ),
    }
});
