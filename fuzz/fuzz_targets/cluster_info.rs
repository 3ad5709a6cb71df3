//! The kubeconfig parser that reads cluster-info's `kubeconfig` value (and every kubeconfig
//! kubestrap reads back): parse, then decode the current context's CA and credentials.
//! Named `cluster_info` so it can be pointed at the join discovery parser when it lands.
#![no_main]

use std::path::Path;

use kubestrap_phases::kubeconfig::KubeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
