//! cluster-info's `kubeconfig` value as join discovery reads it (server, inline CA, hashes),
//! and the kubeconfig parser kubestrap reads its own kubeconfigs back with: parse, decode the
//! current context's CA and credentials, and round-trip.
#![no_main]

use std::path::Path;

use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((server, hashes)) = kubestrap_phases::domain::discovery::parse_cluster_info(text) {
            assert!(server.starts_with("https://"), "{server}");
            assert!(!hashes.is_empty(), "a CA without certificates was accepted");
        }
    }
    let path = Path::new("/fuzz/cluster-info.kubeconfig");
    let Ok(mut cfg) = KubeConfig::from_yaml(path, data) else {
        return;
    };
    let _ = cfg.current(path);
    if let Ok(yaml) = cfg.to_yaml() {
        let again = KubeConfig::from_yaml(path, yaml.as_bytes())
            .unwrap_or_else(|e| panic!("serialised kubeconfig does not parse: {e}\n{yaml}"));
        assert_eq!(again, cfg, "{yaml}");
    }
    cfg.set_ca_data(b"ca");
    cfg.set_client_credentials(b"cert", b"key");
});
