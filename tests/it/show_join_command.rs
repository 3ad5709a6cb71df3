//! `init phase show-join-command`: the join commands reach the final JSON `result` event
//! (and only it), and the text output prints them.

use kubestrap_test_support::{cli::kubestrap, ndjson::events};

const TOKEN: &str = "abcdef.0123456789abcdef";

fn phase(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    kubestrap()
        .args(["init", "phase"])
        .args(args)
        .args(["--node-name", "node1", "--token", TOKEN])
        .args(["--apiserver-advertise-address", "127.0.0.11", "--root"])
        .arg(root)
        .output()
        .unwrap()
}

#[test]
fn join_commands_are_in_the_result_event_only() {
    let root = tempfile::tempdir().unwrap();
    assert!(phase(root.path(), &["certs", "ca"]).status.success());
    let out = phase(root.path(), &["show-join-command", "-o", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out.stdout);
    let (result, before) = ev.split_last().unwrap();
    assert_eq!(result["event"], "result");
    let cmd = result["join_command"].as_str().unwrap();
    assert!(
        cmd.starts_with(&format!(
            "kubestrap join 127.0.0.11:6443 --token {TOKEN} --discovery-token-ca-cert-hash sha256:"
        )),
        "{cmd}"
    );
    assert!(result.get("control_plane_join_command").is_none());
    for e in before {
        assert!(!e.to_string().contains(TOKEN), "token leaked into {e}");
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));

    let text = phase(root.path(), &["show-join-command"]);
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(cmd), "{stdout}");
}

#[test]
fn a_generated_certificate_key_is_printed_once_on_stdout() {
    let root = tempfile::tempdir().unwrap();
    for args in [&["certs", "all"][..], &["kubeconfig", "all"][..]] {
        let out = phase(root.path(), args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = phase(
        root.path(),
        &["upload-certs", "--upload-certs", "--dry-run"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .lines()
        .skip_while(|l| !l.contains("Using certificate key"))
        .nth(1)
        .unwrap_or_else(|| panic!("no key in {stdout}"));
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(stdout.matches(key).count(), 1, "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(key));
    assert!(
        stdout.contains("Secret kube-system/kubeadm-certs"),
        "the plan lists it"
    );
}
