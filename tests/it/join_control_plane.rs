//! `kubestrap join --control-plane` against a real first control plane (etcd 3.4,
//! kube-apiserver, kube-controller-manager, kube-scheduler v1.20.2, each node's static pods
//! run by its own test-bed stand-in): the second node downloads the shared certificates with
//! the certificate key, writes its own, adds its etcd member, starts its own API server and is
//! marked as a control plane. A wrong key fails before anything is written; a second run
//! resumes from the journal.
//!
//! Addresses: first node 127.0.0.120, second node 127.0.0.2 (API port 16520 on both).
//! A missing binary fails these tests, never skips them (scripts/test installs the test bed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bed::{IGNORED_PREFLIGHT, ca_hash, kube_bin, kubectl_as as kubectl, register_node, stand_in};
use kubestrap_phases::HostFs;
use kubestrap_phases::domain::etcd::{EtcdClientTls, EtcdCluster};
use kubestrap_test_support::{
    bed,
    cli::{files_under, kubestrap},
    ndjson::Run,
};

const IP1: &str = "127.0.0.120";
const IP2: &str = "127.0.0.2";
const PORT: u16 = 16520;
const TOKEN: &str = "cpjoin.0123456789abcdef";

/// The Node registrations wait as long as a join may take.
const REGISTER_WITHIN: Duration = Duration::from_secs(240);

fn run(cmd: &mut assert_cmd::Command, timeout: Duration) -> Run {
    Run::of(cmd, timeout)
}

/// The first control plane: `kubestrap init --upload-certs --control-plane-endpoint`.
fn first_control_plane(cp: &Path, scratch: &Path) -> (kubestrap_testbed::Runner, String) {
    let runner = stand_in(cp);
    let registrar = register_node(
        cp.join("etc/kubernetes/admin.conf"),
        "cp1",
        scratch,
        REGISTER_WITHIN,
    );
    let mut cmd = kubestrap();
    cmd.args(["init", "-o", "json", "--root"])
        .arg(cp)
        .args(["--apiserver-advertise-address", IP1])
        .args(["--apiserver-bind-port", &PORT.to_string()])
        .args(["--control-plane-endpoint", &format!("{IP1}:{PORT}")])
        .args(["--upload-certs"])
        .args(["--node-name", "cp1", "--kubernetes-version", "v1.20.2"])
        .args(["--token", TOKEN])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT]);
    let init = run(&mut cmd, Duration::from_secs(240));
    assert!(registrar.join().unwrap(), "Node cp1 was never registered");
    assert_eq!(init.code, Some(0), "{:#?}\n{}", init.events, init.stderr);
    let key = init.result()["certificate_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no certificate_key: {:#?}", init.result()))
        .to_string();
    (runner, key)
}

/// `kubestrap join IP1:PORT --control-plane …` of node cp2 on IP2.
fn join_command(root: &Path, key: &str, hash: &str, output: &str) -> assert_cmd::Command {
    let mut cmd = join_command_without_key(root, hash, output);
    cmd.args(["--certificate-key", key]);
    cmd
}

/// [`join_command`] without `--certificate-key`: the shared certificates must be on the node.
fn join_command_without_key(root: &Path, hash: &str, output: &str) -> assert_cmd::Command {
    let mut cmd = kubestrap();
    cmd.args(["join", &format!("{IP1}:{PORT}"), "-o", output, "--root"])
        .arg(root)
        .arg("--control-plane")
        .args(["--token", TOKEN, "--discovery-token-ca-cert-hash", hash])
        .args(["--apiserver-advertise-address", IP2])
        .args(["--apiserver-bind-port", &PORT.to_string()])
        .args(["--node-name", "cp2", "--tls-bootstrap", "builtin"])
        .args(["--ignore-preflight-errors", IGNORED_PREFLIGHT]);
    cmd
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn readyz(admin: &Path, ip: &str) -> (bool, String) {
    kubectl(
        admin,
        &[
            "--server",
            &format!("https://{ip}:{PORT}"),
            "get",
            "--raw",
            "/readyz",
        ],
    )
}

#[test]
fn a_second_control_plane_joins_with_the_certificate_key() {
    let _ = kube_bin();
    let scratch = tempfile::tempdir().unwrap();
    let cp1_dir = tempfile::tempdir().unwrap();
    let cp1 = cp1_dir.path();
    let (_runner1, key) = first_control_plane(cp1, scratch.path());
    let hash = ca_hash(cp1);

    // A wrong certificate key: refused in download-certs, named, and no file written.
    let bad = tempfile::tempdir().unwrap();
    let wrong = "42".repeat(32);
    let j = run(
        &mut join_command(bad.path(), &wrong, &hash, "json"),
        Duration::from_secs(120),
    );
    assert_eq!(j.code, Some(1), "{:#?}\n{}", j.events, j.stderr);
    assert_eq!(
        j.result()["failed_phase"],
        "control-plane-prepare/download-certs"
    );
    let e = j.error();
    assert!(
        e.contains("wrong certificate key") && e.contains("kube-system/kubeadm-certs"),
        "{e}"
    );
    assert!(e.contains("--certificate-key"), "{e}");
    assert!(
        !e.contains(&wrong) && !e.contains(&key),
        "a key leaked: {e}"
    );
    let left: Vec<PathBuf> = files_under(bad.path())
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/kubestrap"))
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new());

    // No key and no shared certificates: refused in preflight, as kubeadm's join preflight
    // refuses it, before any certificate is made (the certs phases would otherwise make a CA
    // of this node's own).
    let nokey = tempfile::tempdir().unwrap();
    let j = run(
        &mut join_command_without_key(nokey.path(), &hash, "json"),
        Duration::from_secs(120),
    );
    assert_eq!(j.code, Some(1), "{:#?}\n{}", j.events, j.stderr);
    assert_eq!(j.result()["failed_phase"], "preflight");
    let e = j.error();
    assert!(
        e.contains("without --certificate-key")
            && e.contains("pki/ca.key")
            && e.contains("upload-certs"),
        "{e}"
    );
    let left: Vec<PathBuf> = files_under(nokey.path())
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/kubestrap"))
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new());

    // A dry run reads the cluster (configuration, certificates, etcd membership) and writes
    // only into its staging dir: no file on the node, no etcd member, no CSR.
    let dry = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let mut cmd = join_command(dry.path(), &key, &hash, "json");
    cmd.arg("--dry-run").arg("--dry-run-dir").arg(keep.path());
    let d = run(&mut cmd, Duration::from_secs(120));
    assert_eq!(d.code, Some(0), "{:#?}\n{}", d.events, d.stderr);
    let staged = PathBuf::from(d.result()["staging_dir"].as_str().unwrap());
    let staged_etc = staged
        .join(dry.path().strip_prefix("/").unwrap())
        .join("etc/kubernetes");
    for f in [
        "pki/ca.key",
        "pki/apiserver.crt",
        "admin.conf",
        "manifests/etcd.yaml",
    ] {
        assert!(staged_etc.join(f).is_file(), "{f} not staged");
    }
    let left: Vec<PathBuf> = files_under(dry.path())
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/kubestrap"))
        .collect();
    assert_eq!(left, Vec::<PathBuf>::new());
    // The staged cluster CA, etcd CA and service-account keys are private: the kept
    // directory and its PKI directories 0700, the keys 0600 (issue 12).
    assert_eq!(mode(&staged), 0o700);
    for d in ["pki", "pki/etcd"] {
        assert_eq!(mode(&staged_etc.join(d)), 0o700, "{d}");
    }
    for k in ["pki/ca.key", "pki/etcd/ca.key", "pki/sa.key"] {
        assert_eq!(mode(&staged_etc.join(k)), 0o600, "{k}");
    }
    std::fs::remove_dir_all(&staged).unwrap();
    // Without --dry-run-dir the dry run leaves nothing in $TMPDIR, those keys included.
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = join_command(dry.path(), &key, &hash, "json");
    cmd.arg("--dry-run").env("TMPDIR", tmp.path());
    let d = run(&mut cmd, Duration::from_secs(120));
    assert_eq!(d.code, Some(0), "{:#?}\n{}", d.events, d.stderr);
    assert_eq!(d.result()["staging_kept"], false, "{:#?}", d.result());
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    let first_etcd = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP1}:2379")],
        &EtcdClientTls::apiserver_etcd_client(&cp1.join("etc/kubernetes/pki")),
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(
        first_etcd.members().unwrap().len(),
        1,
        "a dry run adds no member"
    );

    // The second control plane, its static pods run by its own stand-in.
    let cp2_dir = tempfile::tempdir().unwrap();
    let cp2 = cp2_dir.path();
    let _runner2 = stand_in(cp2);
    let registrar = register_node(
        cp1.join("etc/kubernetes/admin.conf"),
        "cp2",
        scratch.path(),
        REGISTER_WITHIN,
    );
    let kubelet_conf = cp2.join("etc/kubernetes/kubelet.conf");
    // Register cp2 only once its kubelet has credentials, as a kubelet would.
    let registrar_gate = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(240);
        while !kubelet_conf.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        registrar.join().unwrap()
    });
    let j = run(
        &mut join_command(cp2, &key, &hash, "json"),
        Duration::from_secs(300),
    );
    assert_eq!(j.code, Some(0), "{:#?}\n{}", j.events, j.stderr);
    assert!(
        registrar_gate.join().unwrap(),
        "Node cp2 was never registered"
    );
    eprintln!("control-plane join took {:?}", j.took);
    let finished = j.phases("phase_finished", None);
    for p in [
        "control-plane-prepare/download-certs",
        "control-plane-prepare/certs/apiserver",
        "control-plane-prepare/kubeconfig/admin",
        "control-plane-prepare/control-plane/apiserver",
        "kubelet-start",
        "etcd-join",
        "control-plane-join/update-status",
        "control-plane-join/mark-control-plane",
        "wait-control-plane",
    ] {
        assert!(finished.contains(&p.to_string()), "{p}: {finished:?}");
    }
    let etc2 = cp2.join("etc/kubernetes");
    let admin2 = etc2.join("admin.conf");
    assert_eq!(
        j.result()["admin_kubeconfig"],
        admin2.display().to_string().as_str()
    );
    assert_eq!(j.result()["node_name"], "cp2");

    // The shared certificates, byte for byte; this node's own, with kubeadm's modes.
    let pki1 = cp1.join("etc/kubernetes/pki");
    let pki2 = etc2.join("pki");
    for f in [
        "ca.crt",
        "ca.key",
        "sa.key",
        "sa.pub",
        "front-proxy-ca.crt",
        "front-proxy-ca.key",
        "etcd/ca.crt",
        "etcd/ca.key",
    ] {
        assert_eq!(
            std::fs::read(pki2.join(f)).unwrap(),
            std::fs::read(pki1.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_ne!(
        std::fs::read(pki2.join("apiserver.crt")).unwrap(),
        std::fs::read(pki1.join("apiserver.crt")).unwrap(),
        "each control plane has its own serving certificate"
    );
    for (f, want) in [
        ("pki/ca.crt", 0o644),
        ("pki/ca.key", 0o600),
        ("pki/sa.key", 0o600),
        ("pki/etcd/ca.key", 0o600),
        ("pki/apiserver.crt", 0o644),
        ("pki/apiserver.key", 0o600),
        ("pki/etcd/server.key", 0o600),
        ("pki/etcd/peer.key", 0o600),
        ("admin.conf", 0o600),
        ("controller-manager.conf", 0o600),
        ("scheduler.conf", 0o600),
        ("manifests/kube-apiserver.yaml", 0o600),
        ("manifests/etcd.yaml", 0o600),
    ] {
        assert_eq!(mode(&etc2.join(f)), want, "{f}");
    }
    // Private directories, as on init: the PKI and etcd's data (made by etcd-join before the
    // kubelet could make it with its own mode; issue 12).
    for d in [
        "etc/kubernetes/pki",
        "etc/kubernetes/pki/etcd",
        "var/lib/etcd",
    ] {
        assert_eq!(mode(&cp2.join(d)), 0o700, "{d}");
    }
    assert!(
        !etc2.join("super-admin.conf").exists(),
        "super-admin.conf stays on the first node"
    );
    let apiserver = std::fs::read_to_string(etc2.join("manifests/kube-apiserver.yaml")).unwrap();
    assert!(
        apiserver.contains(&format!("--advertise-address={IP2}")),
        "{apiserver}"
    );
    let san = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(pki2.join("apiserver.crt"))
        .output()
        .unwrap();
    let san = String::from_utf8_lossy(&san.stdout);
    assert!(
        san.contains(&format!("IP Address:{IP2}")) && san.contains(&format!("IP Address:{IP1}")),
        "{san}"
    );

    // etcd has two members; each node's etcd answers.
    let client = EtcdClientTls::apiserver_etcd_client(&pki2);
    for ip in [IP1, IP2] {
        let etcd = EtcdCluster::connect(
            &HostFs::real(),
            vec![format!("https://{ip}:2379")],
            &client,
            Duration::from_secs(10),
        )
        .unwrap();
        let members = etcd.members().unwrap();
        let mut names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["cp1", "cp2"], "via {ip}: {members:?}");
    }

    // Both API servers answer, each trusted with each node's own admin.conf.
    let admin1 = cp1.join("etc/kubernetes/admin.conf");
    for (admin, ip) in [
        (&admin1, IP1),
        (&admin1, IP2),
        (&admin2, IP2),
        (&admin2, IP1),
    ] {
        let (ok, out) = readyz(admin, ip);
        assert!(
            ok && out.trim() == "ok",
            "{ip} with {}: {out}",
            admin.display()
        );
    }

    // cp2 is labelled and tainted as kubeadm 1.20 marks a control plane: both role labels,
    // the master taint (config/release.rs).
    let labels = kubectl_json(
        &admin2,
        &["get", "node", "cp2", "-o", "jsonpath={.metadata.labels}"],
    );
    assert_eq!(labels["node-role.kubernetes.io/master"], "", "{labels}");
    assert_eq!(
        labels["node-role.kubernetes.io/control-plane"], "",
        "{labels}"
    );
    let taints = kubectl_json(
        &admin2,
        &["get", "node", "cp2", "-o", "jsonpath={.spec.taints}"],
    );
    assert_eq!(
        taints,
        serde_json::json!([{"effect": "NoSchedule", "key": "node-role.kubernetes.io/master"}])
    );

    // kubeadm 1.20 keeps every control plane's endpoint in ClusterStatus: cp2 added its own.
    let (ok, status) = kubectl(
        &admin2,
        &[
            "-n",
            "kube-system",
            "get",
            "cm",
            "kubeadm-config",
            "-o",
            "jsonpath={.data.ClusterStatus}",
        ],
    );
    assert!(ok, "{status}");
    assert!(
        status.contains("  cp1:\n")
            && status.contains(&format!("  cp2:\n    advertiseAddress: {IP2}\n")),
        "{status}"
    );

    // Run again (text output): resumed from the journal; etcd keeps two members; kubeadm's
    // closing message names this node's admin.conf.
    let again = join_command(cp2, &key, &hash, "text")
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "This node has joined the cluster and a new control plane instance was created"
        ) && stdout.contains(&format!(
            "sudo cp -i {} $HOME/.kube/config",
            admin2.display()
        )),
        "{stdout}"
    );
    // Every phase before etcd-join is complete: the cluster's configuration is read before
    // the control-plane phases are fingerprinted, so the first of them (download-certs, which
    // no longer needs the Secret) and the next (certs/ca) see the same inputs as the first run.
    for p in [
        "preflight",
        "control-plane-prepare/download-certs",
        "control-plane-prepare/certs/ca",
        "kubelet-start",
        "control-plane-prepare/certs/apiserver",
        "control-plane-prepare/kubeconfig/admin",
        "control-plane-prepare/control-plane/apiserver",
    ] {
        assert!(
            stderr.contains(&format!("- [{p}] skipped (completed")),
            "{p}: {stderr}"
        );
    }
    // Membership lives in etcd: etcd-join checks it again and adds nothing.
    assert!(
        stderr.contains(&format!("etcd member https://{IP2}:2380 already exists")),
        "{stderr}"
    );
    assert!(
        !stdout.contains(&key) && !stderr.contains(&key),
        "the key leaked"
    );
    let etcd = EtcdCluster::connect(
        &HostFs::real(),
        vec![format!("https://{IP2}:2379")],
        &client,
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(etcd.members().unwrap().len(), 2);
}

/// kubectl's output for `args`, parsed as JSON.
fn kubectl_json(kubeconfig: &Path, args: &[&str]) -> serde_json::Value {
    let (ok, out) = kubectl(kubeconfig, args);
    assert!(ok, "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}
