//! The token parsers and the other one-line values users type as flags: bootstrap tokens,
//! token ids, usages, groups, TTLs (Go durations), CA cert hashes and certificate keys.
//! Parsing must not panic, what parses must print back to itself, and neither a parsed
//! token's `Debug`/`Display` nor a rejected token's error may show the secret.
#![no_main]

use kubestrap_phases::config::{CaCertHash, CertificateKey, GoDuration};
use kubestrap_phases::config::token::{BootstrapTokenString, TokenError, TokenGroup, TokenId, TokenUsage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match s.parse::<BootstrapTokenString>() {
        Ok(t) => {
            assert_eq!(t.expose(), s);
            let shown = format!("{t} {t:?} {:?}", t.secret());
            assert!(!shown.contains(t.secret().expose()), "{shown}");
            assert_eq!(t.expose().parse::<BootstrapTokenString>().as_ref(), Ok(&t));
        }
        // A rejected token may be a real secret with a typo: the message must not depend on it.
        Err(e) => assert_eq!(e, TokenError::Token),
    }
    if let Ok(id) = s.parse::<TokenId>() {
        assert_eq!(id.as_str(), s);
    }
    if let Ok(u) = s.parse::<TokenUsage>() {
        assert_eq!(u.as_str(), s);
    }
    if let Ok(g) = s.parse::<TokenGroup>() {
        assert_eq!(g.as_str(), s);
    }
    if let Ok(d) = s.parse::<GoDuration>() {
        let printed = d.to_string();
        let again: GoDuration = printed
            .parse()
            .unwrap_or_else(|e| panic!("{s:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(again, d, "{s:?} -> {printed:?}");
    }
    if let Ok(h) = s.parse::<CaCertHash>() {
        assert_eq!(h.to_string().parse::<CaCertHash>().ok(), Some(h));
    }
    match s.parse::<CertificateKey>() {
        Ok(k) => assert!(!format!("{k:?}").contains(&k.expose_hex())),
        Err(e) => {
            let blind = "z".repeat(s.len()).parse::<CertificateKey>().unwrap_err();
            assert_eq!(e.to_string(), blind.to_string());
        }
    }
});
