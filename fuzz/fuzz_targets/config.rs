//! The config loader: arbitrary bytes as a kubeadm config file (v1beta3/v1beta4, init and
//! join). Loading must return a value or an error, never panic; a configuration that loads
//! must render to YAML that loads again.
#![no_main]

use std::path::Path;

use kubestrap_phases::config::{InitFlags, JoinFlags, load_init_text, load_join_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("/fuzz/kubeadm.yaml");
    // Host detection is skipped when a node name and address are given, which keeps runs
    // deterministic; every other odd selector lets the file decide them.
    let pin = selector & 2 != 0;
    if selector & 1 == 0 {
        let flags = InitFlags {
            node_name: pin.then(|| "node1".to_owned()),
            apiserver_advertise_address: pin.then(|| "10.0.0.1".to_owned()),
            ..InitFlags::default()
        };
        if let Ok(cfg) = load_init_text(path, text, &flags) {
            let rendered = cfg.to_v1beta4_yaml();
            if let Err(e) = load_init_text(path, &rendered, &flags) {
                panic!("rendered init config does not load again: {e}\n{rendered}");
            }
            let _ = cfg.cluster_configuration_yaml();
        }
    } else {
        let flags = JoinFlags {
            node_name: pin.then(|| "node1".to_owned()),
            ..JoinFlags::default()
        };
        if let Ok(cfg) = load_join_text(path, text, &flags) {
            let rendered = cfg.to_v1beta4_yaml();
            if let Err(e) = load_join_text(path, &rendered, &flags) {
                panic!("rendered join config does not load again: {e}\n{rendered}");
            }
        }
    }
});
