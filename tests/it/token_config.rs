//! `kubestrap token create --config FILE` through the binary, without a cluster: the flags
//! kubeadm refuses to mix with `--config` (cmd/kubeadm/app/cmd/token.go,
//! `ValidateMixedArguments`; the real kubeadm 1.20.2 says "can not mix '--config' with
//! arguments [ttl]") are usage errors naming both, and a bad file fails before any cluster is
//! contacted, naming the file and field. Creating the tokens is the library's
//! (`load_bootstrap_tokens`) and the token commands' against a real cluster (token.rs).

use std::path::Path;

use kubestrap_test_support::cli::kubestrap;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = kubestrap().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_owned()
}

const TOKENS: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 1h\n";

#[test]
fn config_does_not_mix_with_the_tokens_own_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tokens.yaml", TOKENS);
    for (extra, flag) in [
        (&["--ttl", "2h"][..], "--ttl"),
        (&["--usages", "signing"], "--usages"),
        (&["--groups", "system:bootstrappers:x"], "--groups"),
        (&["--description", "x"], "--description"),
        (&["zzzzzz.0123456789abcdef"], "TOKEN"),
        (
            &[
                "--print-join-command",
                "--certificate-key",
                "8f1ca3c1b0e5d6a7f8e9d0c1b2a3948576a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1",
            ],
            "--certificate-key",
        ),
    ] {
        let mut args = vec!["token", "create", "--kubeconfig", "/nonexistent/k.conf"];
        args.extend_from_slice(&["--config", &file]);
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--config") && err.contains(flag),
            "{args:?}: {err}"
        );
        assert!(out.is_empty(), "{out}");
    }
}

#[test]
fn a_bad_config_fails_before_the_cluster_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  usages: [signing, bogus]\n",
    );
    let (code, out, err) = run(&[
        "token",
        "create",
        "--kubeconfig",
        "/nonexistent/k.conf",
        "--config",
        &bad,
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&bad) && err.contains("usages"), "{err}");
    assert!(
        !err.contains("/nonexistent/k.conf"),
        "the cluster is not reached: {err}"
    );
    assert!(
        !err.contains("0123456789abcdef"),
        "no secret in errors: {err}"
    );
    assert!(out.is_empty(), "{out}");

    // A good file gets as far as the cluster: the kubeconfig is what fails, by name, and
    // --print-join-command and --dry-run mix with --config as in kubeadm.
    let good = write(dir.path(), "good.yaml", TOKENS);
    let (code, _, err) = run(&[
        "token",
        "create",
        "--kubeconfig",
        "/nonexistent/k.conf",
        "--config",
        &good,
        "--print-join-command",
        "--dry-run",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/nonexistent/k.conf"), "{err}");
}
