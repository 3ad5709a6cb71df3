//! Helpers shared by the binary's integration tests.
#![allow(dead_code)]

use assert_cmd::Command;

pub fn kubestrap() -> Command {
    Command::cargo_bin("kubestrap").expect("the kubestrap binary is built")
}

/// Parses NDJSON, failing the test on any line that is not a JSON object.
pub fn events(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}
