//! The detached JWS that proves cluster-info came from someone holding a bootstrap token.
//!
//! kube-controller-manager's bootstrap signer adds `jws-kubeconfig-<token-id>` to ConfigMap
//! kube-public/cluster-info for every signing token: a compact JWS (HS256, header
//! `{"alg":"HS256","kid":"<token-id>"}`, key = the token's 16-character secret) over the
//! `kubeconfig` value, with the payload left out (`<header>..<signature>`). A joining node
//! that knows the token recomputes it; a match means the unauthenticated cluster-info it
//! fetched was published by the cluster the token belongs to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::token::{TokenId, TokenSecret};

/// The cluster-info key prefix of a token's signature.
pub const JWS_KEY_PREFIX: &str = "jws-kubeconfig-";

/// Why a signature does not verify. Never carries the secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the signature for token id {0} is not a detached compact JWS (<header>..<signature>)")]
    Malformed(TokenId),
    #[error(
        "the signature for token id {id} has header {header}; expected {{\"alg\":\"HS256\",\"kid\":\"{id}\"}}"
    )]
    Header { id: TokenId, header: String },
    #[error(
        "the cluster-info signature for token id {0} does not match: the token is wrong, or cluster-info was not published by this cluster"
    )]
    Mismatch(TokenId),
}

impl crate::contract::diagnostics::Diagnostic for JwsError {}

/// The cluster-info key holding `id`'s signature.
pub fn signature_key(id: &TokenId) -> String {
    format!("{JWS_KEY_PREFIX}{id}")
}

fn header(id: &TokenId) -> String {
    format!(r#"{{"alg":"HS256","kid":"{id}"}}"#)
}

fn mac(secret: &TokenSecret, signing_input: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(signing_input.as_bytes());
    mac
}

fn signing_input(id: &TokenId, payload: &str) -> (String, String) {
    let h = URL_SAFE_NO_PAD.encode(header(id));
    let input = format!("{h}.{}", URL_SAFE_NO_PAD.encode(payload));
    (h, input)
}

/// Signs `payload` as the bootstrap signer does (for tests and for a signer of our own).
pub fn sign_detached(id: &TokenId, secret: &TokenSecret, payload: &str) -> String {
    let (h, input) = signing_input(id, payload);
    let sig = mac(secret, &input).finalize().into_bytes();
    format!("{h}..{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Verifies a detached JWS over `payload` for token `id`/`secret`, comparing the MAC in
/// constant time.
pub fn verify_detached(
    id: &TokenId,
    secret: &TokenSecret,
    payload: &str,
    jws: &str,
) -> Result<(), JwsError> {
    let mut parts = jws.split('.');
    let (Some(h), Some(""), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed(id.clone()));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| JwsError::Malformed(id.clone()))?;
    let got: serde_json::Value =
        serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed(id.clone()))?;
    let expected = serde_json::json!({"alg": "HS256", "kid": id.as_str()});
    if got != expected {
        return Err(JwsError::Header {
            id: id.clone(),
            header: String::from_utf8_lossy(&header_bytes).into_owned(),
        });
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| JwsError::Malformed(id.clone()))?;
    // The signing input uses the header exactly as transmitted.
    let input = format!("{h}.{}", URL_SAFE_NO_PAD.encode(payload));
    let tag = mac(secret, &input).finalize().into_bytes();
    // Constant time: how long a mismatch takes must not tell a forger how much was right.
    bool::from(subtle::ConstantTimeEq::ct_eq(
        tag.as_slice(),
        sig.as_slice(),
    ))
    .then_some(())
    .ok_or_else(|| JwsError::Mismatch(id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token::BootstrapTokenString;

    /// kubeadm's dry-run cluster-info (cmd/kubeadm/app/util/dryrun) and its signature for
    /// token abcdef.abcdef0123456789.
    const PAYLOAD: &str = include_str!("../../tests/data/cluster-info-kubeadm-dryrun.yaml");
    const SIGNATURE: &str =
        "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..rh3cVKiU2mdt3CqHzC81sNE-4WQLRHMtXduHWfSbrIM";

    fn token(s: &str) -> BootstrapTokenString {
        s.parse().unwrap()
    }

    #[test]
    fn kubeadm_vector_verifies_and_signs_identically() {
        let t = token("abcdef.abcdef0123456789");
        assert_eq!(
            verify_detached(t.id(), t.secret(), PAYLOAD, SIGNATURE),
            Ok(())
        );
        assert_eq!(sign_detached(t.id(), t.secret(), PAYLOAD), SIGNATURE);
        assert_eq!(signature_key(t.id()), "jws-kubeconfig-abcdef");
    }

    #[test]
    fn wrong_secret_payload_or_kid_is_rejected() {
        let t = token("abcdef.abcdef0123456789");
        let wrong = token("abcdef.abcdef0123456780");
        assert_eq!(
            verify_detached(wrong.id(), wrong.secret(), PAYLOAD, SIGNATURE),
            Err(JwsError::Mismatch(t.id().clone()))
        );
        let tampered = PAYLOAD.replace("192.168.0.101", "192.168.0.102");
        assert!(matches!(
            verify_detached(t.id(), t.secret(), &tampered, SIGNATURE),
            Err(JwsError::Mismatch(_))
        ));
        let other_id = token("zzzzzz.abcdef0123456789");
        assert!(matches!(
            verify_detached(other_id.id(), other_id.secret(), PAYLOAD, SIGNATURE),
            Err(JwsError::Header { .. })
        ));
        for bad in [
            "",
            "a.b.c",
            "eyJ..",
            "x..y..z",
            &SIGNATURE.replace("..", ".e30."),
        ] {
            assert!(
                matches!(
                    verify_detached(t.id(), t.secret(), PAYLOAD, bad),
                    Err(JwsError::Malformed(_) | JwsError::Mismatch(_))
                ),
                "{bad}"
            );
        }
        let msg = verify_detached(wrong.id(), wrong.secret(), PAYLOAD, SIGNATURE)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("abcdef012345678"), "{msg}");
    }
}
