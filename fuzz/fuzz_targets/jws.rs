//! The detached-JWS verifier, with an attacker-chosen payload and signature (cluster-info is
//! fetched without authentication). It must never panic, and must accept exactly the
//! signature the signer makes for that payload.
#![no_main]

use kubestrap_phases::domain::jws::{sign_detached, verify_detached};
use kubestrap_phases::config::token::BootstrapTokenString;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // "<token>\n<jws>\n<payload>"; a line that is not a token falls back to a fixed one.
    let mut parts = s.splitn(3, '\n');
    let first = parts.next().unwrap_or_default();
    let (token, jws, payload) = match first.parse::<BootstrapTokenString>() {
        Ok(t) => (
            t,
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        ),
        Err(_) => (
            "abcdef.abcdef0123456789".parse().expect("a valid token"),
            first,
            parts.next().unwrap_or_default(),
        ),
    };
    let verdict = verify_detached(token.id(), token.secret(), payload, jws);
    let genuine = sign_detached(token.id(), token.secret(), payload);
    if jws == genuine {
        assert_eq!(verdict, Ok(()));
    }
    if let Err(e) = &verdict {
        let msg = e.to_string();
        assert!(!msg.contains(token.secret().expose()), "{msg}");
    }
    assert_eq!(
        verify_detached(token.id(), token.secret(), payload, &genuine),
        Ok(())
    );
});
