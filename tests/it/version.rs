//! `kubestrap version` through the binary, in kubeadm's four shapes (cmd/kubeadm/app/cmd/
//! version.go; the real kubeadm v1.20.2 prints the same shapes offline), and `-o` forms that
//! are not for the command refused as usage errors naming the flag. Needs no cluster.

use kubestrap_test_support::cli::kubestrap;
use serde_json::Value;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubestrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[test]
fn each_output_form_is_kubeadms_shape() {
    let (code, out, _) = run(&["version"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("kubestrap version: &version.Info{Major:\"")
            && out.contains(&format!("GitVersion:\"v{VERSION}\""))
            && out.ends_with("\"}\n"),
        "{out}"
    );

    let (code, out, _) = run(&["version", "-o", "short"]);
    assert_eq!((code, out), (Some(0), format!("v{VERSION}\n")));

    // One line (kubestrap's -o json is NDJSON), kubeadm's object and field order.
    let (code, out, _) = run(&["version", "-o", "json"]);
    assert_eq!(code, Some(0));
    assert_eq!(out.lines().count(), 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let info = v["clientVersion"].as_object().expect("clientVersion");
    let keys: Vec<&str> = info.keys().map(String::as_str).collect();
    let mut expected = [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ];
    // serde_json's map sorts keys unless told otherwise: compare the set, and the order on
    // the raw line.
    let positions: Vec<usize> = expected
        .iter()
        .map(|k| out.find(&format!("\"{k}\"")).expect(k))
        .collect();
    assert!(positions.is_sorted(), "field order of version.Info: {out}");
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(info["gitVersion"], format!("v{VERSION}"));
    assert_eq!(info["compiler"], "rustc");

    // sigs.k8s.io/yaml's sorted keys, then Fprintln's blank line.
    let (code, out, _) = run(&["version", "-o", "yaml"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("clientVersion:\n  buildDate: ")
            && out.contains(&format!("\n  gitVersion: v{VERSION}\n"))
            && out.ends_with("\n\n"),
        "{out:?}"
    );
}

#[test]
fn a_bad_or_misplaced_output_form_is_a_usage_error_naming_the_flag() {
    for args in [
        &["version", "-o", "wide"][..],
        &["version", "--output", ""],
        &["token", "generate", "-o", "short"],
        &["config", "print", "init-defaults", "-o", "yaml"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("--output"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}
