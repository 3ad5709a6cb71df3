//! `kubestrap join` of a worker against a real control plane (etcd 3.4, kube-apiserver,
//! kube-controller-manager, kube-scheduler v1.20.2 run by the test-bed stand-in): the builtin
//! TLS bootstrap gets a certificate approved and signed by the real controller-manager, a CSR
//! left Pending or denied by an administrator ends the join with the cause (and the stalled
//! join, re-run once its cause is fixed, resumes from its journal), and each way discovery can
//! fail (a deleted or expired token among them) fails fast, with its own message, leaving no
//! files.
//! Addresses: control plane 127.0.0.72 (API port 16472), nothing listens on 127.0.0.73, the
//! https discovery file is served on 127.0.0.74.
//!
//! A missing binary fails these tests, never skips them (scripts/test installs the test bed).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubestrap_test_support::ndjson::{Run, events};
use kubestrap_test_support::{bed, cli::kubestrap, kubeadm_config};
use kubestrap_testbed::Runner;
use serde_json::Value;

const ADVERTISE: &str = "127.0.0.72";
const PORT: u16 = 16472;
const TOKEN: &str = "jointk.0123456789abcdef";
/// Where the https discovery-file test serves its file.
const WEB: &str = "127.0.0.74:16475";
fn kubectl(kubeconfig: &Path, args: &[&str]) -> (bool, String) {
    bed::kubectl_as(kubeconfig, args)
}

fn admin(cp: &Path) -> PathBuf {
    cp.join("etc/kubernetes/admin.conf")
}

/// A control plane on `cp`, from `kubestrap init` with the stand-in running its static pods.
fn control_plane(cp: &Path) -> Runner {
    let runner = bed::stand_in(cp);
    // No kubelet registers the control-plane Node; mark-control-plane waits for it.
    let registrar = bed::register_node_when_up(cp, "cp1", Duration::from_secs(170));
    let out = kubestrap()
        .args(["init", "-o", "json", "--root"])
        .arg(cp)
        .args(["--apiserver-advertise-address", ADVERTISE])
        .args(["--apiserver-bind-port", &PORT.to_string()])
        .args(["--node-name", "cp1", "--kubernetes-version", "v1.20.2"])
        .args(["--token", TOKEN])
        .args(["--ignore-preflight-errors", bed::IGNORED_PREFLIGHT])
        .timeout(Duration::from_secs(200))
        .output()
        .unwrap();
    registrar.join().unwrap();
    let ev = events(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{ev:#?}");
    runner
}

/// `kubestrap join [endpoint] …` (no endpoint argument when it is empty).
fn join(root: &Path, endpoint: &str, args: &[&str]) -> Run {
    join_with_env(root, endpoint, args, &[])
}

/// [`join`] with extra environment variables.
fn join_with_env(root: &Path, endpoint: &str, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = kubestrap();
    cmd.arg("join");
    if !endpoint.is_empty() {
        cmd.arg(endpoint);
    }
    cmd.envs(env.iter().copied())
        .args(["-o", "json", "--root"])
        .arg(root)
        .args(["--ignore-preflight-errors", bed::IGNORED_PREFLIGHT])
        .args(args);
    Run::of(&mut cmd, Duration::from_secs(120))
}

/// Files a failed join left on the node, apart from kubestrap's own journal.
fn files_left(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.retain(|p| !p.starts_with(root.join("var/lib/kubestrap")) && !p.ends_with("join.yaml"));
    out
}

/// `openssl s_server -WWW` on [`WEB`], serving the files of a directory over TLS with a
/// certificate from its own test CA (`ca`); stopped when dropped.
struct HttpsFileServer {
    child: std::process::Child,
    ca: PathBuf,
}

impl HttpsFileServer {
    fn start(dir: &Path) -> Self {
        let ca = dir.join("web-ca.crt");
        let (ca_key, key, csr, crt, ext) = (
            dir.join("web-ca.key"),
            dir.join("web.key"),
            dir.join("web.csr"),
            dir.join("web.crt"),
            dir.join("web.ext"),
        );
        let ip = WEB.split(':').next().unwrap();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName=IP:{ip}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
            ),
        )
        .unwrap();
        let d = |p: &PathBuf| p.display().to_string();
        let (ca_key, ca_crt, key, csr, crt, ext) =
            (d(&ca_key), d(&ca), d(&key), d(&csr), d(&crt), d(&ext));
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        for command in [
            format!(
                "req -x509 {ec} -keyout {ca_key} -out {ca_crt} -subj /CN=discovery-web-ca -days 1"
            ),
            format!("req {ec} -keyout {key} -out {csr} -subj /CN=discovery-web"),
            format!(
                "x509 -req -in {csr} -CA {ca_crt} -CAkey {ca_key} -CAcreateserial -out {crt} -days 1 -extfile {ext}"
            ),
        ] {
            let out = Command::new("openssl")
                .args(command.split_whitespace())
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let child = Command::new("openssl")
            .args(["s_server", "-WWW", "-quiet", "-accept", WEB, "-cert"])
            .arg(&crt)
            .arg("-key")
            .arg(&key)
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl s_server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(WEB).is_err() {
            assert!(
                Instant::now() < deadline,
                "openssl s_server is not listening on {WEB}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, ca }
    }
}

impl Drop for HttpsFileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_file(path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["base64", "-A", "-in"])
        .arg(path)
        .output()
        .expect("openssl runs");
    String::from_utf8(out.stdout).unwrap()
}

fn endpoint() -> String {
    format!("{ADVERTISE}:{PORT}")
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `kubestrap token <args…>` against the control plane of `cp`, which must succeed.
fn token_command(cp: &Path, args: &[&str]) {
    let out = kubestrap()
        .arg("token")
        .args(args)
        .arg("--root")
        .arg(cp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Once the bootstrap signer has dropped `token`'s signature from cluster-info (the token is
/// deleted or expired), a join with it fails in seconds naming the missing signature (never
/// the secret), and leaves no files.
fn join_fails_without_signature(cp: &Path, hash: &str, token: &str, node: &str) {
    let id = token.split('.').next().unwrap();
    bed::wait_for_signature(cp, id, false);
    let root = tempfile::tempdir().unwrap();
    let j = join(
        root.path(),
        &endpoint(),
        &[
            "--token",
            token,
            "--discovery-token-ca-cert-hash",
            hash,
            "--node-name",
            node,
        ],
    );
    assert_eq!(j.code, Some(1), "{:#?}", j.events);
    let e = j.error();
    assert!(
        e.contains(&format!("no signature for token id {id}")),
        "{e}"
    );
    assert!(!e.contains("0123456789abcdef"), "the secret leaked: {e}");
    assert!(j.took < Duration::from_secs(15), "{:?}", j.took);
    assert_eq!(files_left(root.path()), Vec::<PathBuf>::new());
}

/// The names of the CertificateSigningRequests a join's result lists as created.
fn csr_records(result: &Value) -> Vec<String> {
    result["api_objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no api_objects in {result:#}"))
        .iter()
        .filter(|o| o["kind"] == "CertificateSigningRequest")
        .map(|o| {
            assert_eq!(
                (&o["verb"], &o["changed"]),
                (&"create".into(), &true.into())
            );
            o["name"].as_str().unwrap().to_string()
        })
        .collect()
}

fn csr_names(cp: &Path) -> Vec<String> {
    let (ok, out) = kubectl(
        &admin(cp),
        &["get", "csr", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    assert!(ok, "{out}");
    out.split_whitespace().map(str::to_string).collect()
}

/// Node `node` posts a renewal CSR for its client certificate (a new key; the kubelet's
/// subject, usages and signer) authenticated by `kubelet_conf`; the real controller-manager
/// must approve it as a self-renewal (the selfnodeclient check) and issue the certificate
/// within 60 s.
fn node_renews_its_client_certificate(cp: &Path, kubelet_conf: &Path, node: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (key, csr, yaml, issued) = (
        dir.path().join("renewal.key"),
        dir.path().join("renewal.csr"),
        dir.path().join("renewal.yaml"),
        dir.path().join("renewal.crt"),
    );
    let subject = format!("/O=system:nodes/CN=system:node:{node}");
    let said = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
        "-subj",
        &subject,
    ]);
    assert!(csr.is_file(), "{said}");
    let name = format!("{node}-renewal");
    std::fs::write(
        &yaml,
        format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  signerName: kubernetes.io/kube-apiserver-client-kubelet\n  usages: [digital signature, key encipherment, client auth]\n  request: {}\n",
            base64_file(&csr)
        ),
    )
    .unwrap();
    let (ok, out) = kubectl(kubelet_conf, &["create", "-f", yaml.to_str().unwrap()]);
    assert!(ok, "{out}");
    let started = Instant::now();
    let status = loop {
        let (_, status) = kubectl(
            &admin(cp),
            &[
                "get",
                "csr",
                &name,
                "-o",
                "jsonpath={.spec.username}|{.status.conditions[*].reason}|{.status.conditions[*].message}|{.status.certificate}",
            ],
        );
        if !status.ends_with('|') {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no certificate for the renewal CSR within 60 s: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!("renewal CSR issued after {:?}", started.elapsed());
    let fields: Vec<&str> = status.split('|').collect();
    assert_eq!(
        fields[..3],
        [
            format!("system:node:{node}").as_str(),
            "AutoApproved",
            "Auto approving self kubelet client certificate after SubjectAccessReview."
        ],
        "{status}"
    );
    use base64::Engine;
    let pem = base64::engine::general_purpose::STANDARD
        .decode(fields[3])
        .unwrap_or_else(|e| panic!("{e}: {status}"));
    std::fs::write(&issued, pem).unwrap();
    let text = openssl(&[
        "x509",
        "-in",
        issued.to_str().unwrap(),
        "-noout",
        "-subject",
        "-issuer",
    ]);
    assert!(
        text.contains(&format!("O = system:nodes, CN = system:node:{node}"))
            && text.contains("issuer=CN = kubernetes"),
        "{text}"
    );
}

#[test]
fn a_worker_joins_with_builtin_tls_bootstrap_and_each_discovery_failure_fails_fast() {
    let cp_dir = tempfile::tempdir().unwrap();
    let cp = cp_dir.path();
    let runner = control_plane(cp);
    let hash = bed::ca_hash(cp);
    let signed = Instant::now();
    bed::wait_for_signature(cp, "jointk", true);
    eprintln!(
        "the init token was signed {:?} after init ended",
        signed.elapsed()
    );

    // A wrong CA pin: refused at once, the hash actually seen is printed, nothing written.
    let bad = tempfile::tempdir().unwrap();
    let wrong = format!("sha256:{}", "ab".repeat(32));
    let j = join(
        bad.path(),
        &endpoint(),
        &[
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &wrong,
            "--tls-bootstrap",
            "builtin",
            "--node-name",
            "bad1",
        ],
    );
    assert_eq!(j.code, Some(1));
    let e = j.error();
    assert!(
        e.contains("matches none") && e.contains(&hash) && e.contains(&wrong),
        "{e}"
    );
    assert_eq!(j.result()["failed_phase"], "kubelet-start");
    assert!(j.took < Duration::from_secs(10), "{:?}", j.took);
    assert_eq!(files_left(bad.path()), Vec::<PathBuf>::new());

    // An unreachable endpoint: retried until timeouts.discovery, then named.
    let unreachable = tempfile::tempdir().unwrap();
    let config = kubeadm_config::join()
        .timeout("discovery", "3s")
        .write(unreachable.path().join("join.yaml"));
    let j = join(
        unreachable.path(),
        &format!("127.0.0.73:{PORT}"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--node-name",
            "bad2",
        ],
    );
    assert_eq!(j.code, Some(1));
    let e = j.error();
    assert!(
        e.contains("unreachable") && e.contains(&format!("https://127.0.0.73:{PORT}")),
        "{e}"
    );
    assert!(j.took < Duration::from_secs(10), "{:?}", j.took);
    assert_eq!(files_left(unreachable.path()), Vec::<PathBuf>::new());

    // A deleted token and an expired one: the bootstrap signer drops the signature (for the
    // expired one once the real tokencleaner has removed its Secret); join says so in
    // seconds. The short-lived token is made first, so that it expires meanwhile.
    let expiring = "exprtk.0123456789abcdef";
    let made = Instant::now();
    token_command(cp, &["create", expiring, "--ttl", "10s"]);
    let gone = "gonetk.0123456789abcdef";
    token_command(cp, &["create", gone]);
    bed::wait_for_signature(cp, "exprtk", true);
    bed::wait_for_signature(cp, "gonetk", true);
    token_command(cp, &["delete", "gonetk"]);
    join_fails_without_signature(cp, &hash, gone, "bad3");
    bed::wait_for_signature(cp, "exprtk", false);
    eprintln!(
        "the 10s token's signature was gone {:?} after it was made",
        made.elapsed()
    );
    join_fails_without_signature(cp, &hash, expiring, "bad5");

    // A dry run discovers for real but posts no CSR and writes only into its staging dir
    // (kept, to look at it).
    let dry = tempfile::tempdir().unwrap();
    let keep = tempfile::tempdir().unwrap();
    let csrs_before = csr_names(cp);
    let j = join(
        dry.path(),
        &endpoint(),
        &[
            "--dry-run",
            "--dry-run-dir",
            keep.path().to_str().unwrap(),
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--tls-bootstrap",
            "builtin",
            "--node-name",
            "dry1",
        ],
    );
    assert_eq!(j.code, Some(0), "{:#?}", j.events);
    assert_eq!(j.result()["dry_run"], true);
    // The plan lists the CertificateSigningRequest a real join would create (issue 12).
    let planned = csr_records(j.result());
    assert_eq!(planned.len(), 1, "{:#?}", j.result());
    assert!(planned[0].starts_with("node-csr-"), "{planned:?}");
    let staged = PathBuf::from(j.result()["staging_dir"].as_str().unwrap());
    let staged_conf = staged
        .join(dry.path().strip_prefix("/").unwrap())
        .join("etc/kubernetes/bootstrap-kubelet.conf");
    assert!(staged_conf.is_file(), "{}", staged_conf.display());
    assert_eq!(files_left(dry.path()), Vec::<PathBuf>::new());
    assert_eq!(csr_names(cp), csrs_before);
    std::fs::remove_dir_all(&staged).unwrap();

    // The worker joins. Two CA pins, the wrong one first: any pin that matches passes, as
    // with kubeadm.
    let w = tempfile::tempdir().unwrap();
    let w1 = w.path();
    let csrs_before = csr_names(cp);
    let w1_args = [
        "--token",
        TOKEN,
        "--discovery-token-ca-cert-hash",
        &wrong,
        "--discovery-token-ca-cert-hash",
        &hash,
        "--tls-bootstrap",
        "builtin",
        "--node-name",
        "w1",
    ];
    let j = join(w1, &endpoint(), &w1_args);
    assert_eq!(j.code, Some(0), "{:#?}", j.events);
    let not_applicable = j.phases("phase_skipped", Some("not-applicable"));
    for p in [
        "control-plane-prepare/download-certs",
        "etcd-join",
        "control-plane-join/mark-control-plane",
        "wait-control-plane",
    ] {
        assert!(
            not_applicable.contains(&p.to_string()),
            "{p}: {not_applicable:?}"
        );
    }
    let requests = j.result()["api_requests"].as_u64().unwrap();
    eprintln!("worker join: {:?}, {requests} API requests", j.took);
    assert_eq!(
        requests, 6,
        "cluster-info twice, kubeadm-config, kubelet-config, the CSR, one watch"
    );
    let etc = w1.join("etc/kubernetes");
    let pki = w1.join("var/lib/kubelet/pki");
    for f in [
        etc.join("bootstrap-kubelet.conf"),
        etc.join("pki/ca.crt"),
        etc.join("kubelet.conf"),
        w1.join("var/lib/kubelet/config.yaml"),
        w1.join("var/lib/kubelet/kubeadm-flags.env"),
    ] {
        assert!(f.is_file(), "{}", f.display());
    }
    assert_eq!(
        std::fs::read(etc.join("pki/ca.crt")).unwrap(),
        std::fs::read(cp.join("etc/kubernetes/pki/ca.crt")).unwrap()
    );
    let bootstrap = std::fs::read_to_string(etc.join("bootstrap-kubelet.conf")).unwrap();
    assert!(
        bootstrap.contains("tls-bootstrap-token-user") && bootstrap.contains(TOKEN),
        "{bootstrap}"
    );
    let kubelet_config = std::fs::read_to_string(w1.join("var/lib/kubelet/config.yaml")).unwrap();
    assert!(
        kubelet_config.contains(&etc.join("pki/ca.crt").display().to_string()),
        "{kubelet_config}"
    );
    let current = pki.join("kubelet-client-current.pem");
    let target = std::fs::read_link(&current).unwrap();
    assert!(
        target
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("kubelet-client-20"),
        "{target:?}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&current).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let cur = current.to_str().unwrap();
    let subject = openssl(&["x509", "-in", cur, "-noout", "-subject", "-issuer"]);
    assert!(
        subject.contains("O = system:nodes") && subject.contains("CN = system:node:w1"),
        "{subject}"
    );
    assert!(subject.contains("issuer=CN = kubernetes"), "{subject}");
    let ca = cp.join("etc/kubernetes/pki/ca.crt");
    let verify = openssl(&["verify", "-CAfile", ca.to_str().unwrap(), cur]);
    assert!(verify.contains(": OK"), "{verify}");
    // The real controller-manager approved it.
    let new_csrs: Vec<String> = csr_names(cp)
        .into_iter()
        .filter(|n| !csrs_before.contains(n))
        .collect();
    assert_eq!(new_csrs.len(), 1, "{new_csrs:?}");
    // The result reports the request that was made, by the name the cluster has.
    assert_eq!(csr_records(j.result()), new_csrs, "{:#?}", j.result());
    assert_eq!(j.result()["csr"], new_csrs[0].as_str());
    let (_, cond) = kubectl(
        &admin(cp),
        &[
            "get",
            "csr",
            &new_csrs[0],
            "-o",
            "jsonpath={.status.conditions[*].reason} {.spec.signerName} {.spec.username}",
        ],
    );
    assert!(
        cond.contains("AutoApproved")
            && cond.contains("kubernetes.io/kube-apiserver-client-kubelet")
            && cond.contains("system:bootstrap:jointk"),
        "{cond}"
    );
    // kubelet.conf authenticates as the node: /api answers, and the authorizer names the
    // node in a denial.
    let kubelet_conf = etc.join("kubelet.conf");
    let (ok, out) = kubectl(&kubelet_conf, &["get", "--raw", "/api"]);
    assert!(ok && out.contains("APIVersions"), "{out}");
    let (ok, out) = kubectl(&kubelet_conf, &["get", "secrets", "-n", "kube-system"]);
    assert!(!ok && out.contains("User \"system:node:w1\""), "{out}");

    // Run again: resumed from the journal, kubelet-start is not redone, no new CSR.
    let again = join(w1, &endpoint(), &w1_args);
    assert_eq!(again.code, Some(0), "{:#?}", again.events);
    assert!(
        again
            .phases("phase_skipped", Some("completed"))
            .contains(&"kubelet-start".to_string())
    );
    assert_eq!(again.result()["api_requests"], 0);
    assert_eq!(csr_names(cp).len(), csrs_before.len() + 1);

    // Certificate rotation: the node, with its own kubelet.conf, asks for a new certificate
    // as the kubelet does; kubeadm:node-autoapprove-certificate-rotation gets it approved.
    node_renews_its_client_certificate(cp, &kubelet_conf, "w1");

    // File discovery: a kubeconfig with the cluster's endpoint and CA and the token as user.
    let fd = tempfile::tempdir().unwrap();
    let discovery_file = fd.path().join("discovery.conf");
    let ca_file = cp.join("etc/kubernetes/pki/ca.crt");
    std::fs::write(
        &discovery_file,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://{}\n    certificate-authority: {}\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: {TOKEN}}}\n", endpoint(), ca_file.display()),
    )
    .unwrap();
    let root3 = fd.path().join("node");
    let j = join(
        &root3,
        "",
        &[
            "--discovery-file",
            discovery_file.to_str().unwrap(),
            "--tls-bootstrap",
            "builtin",
            "--node-name",
            "w3",
        ],
    );
    assert_eq!(j.code, Some(0), "{:#?}", j.events);
    let (ok, out) = kubectl(
        &root3.join("etc/kubernetes/kubelet.conf"),
        &["get", "--raw", "/api"],
    );
    assert!(ok, "{out}");

    // File discovery from an https URL (the CA inline: a downloaded file cannot point at this
    // node's files). The server is verified against the host's trust roots: refused while
    // they do not hold its CA, accepted once SSL_CERT_FILE names it.
    let web = HttpsFileServer::start(fd.path());
    let ca_data = base64_file(&ca_file);
    std::fs::write(
        fd.path().join("discovery-inline.conf"),
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://{}\n    certificate-authority-data: {ca_data}\ncontexts:\n- name: c\n  context: {{cluster: k, user: u}}\ncurrent-context: c\nusers:\n- name: u\n  user: {{token: {TOKEN}}}\n", endpoint()),
    )
    .unwrap();
    let url = format!("https://{WEB}/discovery-inline.conf");
    let url_args = [
        "--discovery-file",
        url.as_str(),
        "--tls-bootstrap",
        "builtin",
        "--node-name",
        "w4",
    ];
    // Trust roots without the server's CA (the cluster CA stands in for them), so the check
    // does not depend on what this host's store holds.
    let untrusted = tempfile::tempdir().unwrap();
    let j = join_with_env(
        untrusted.path(),
        "",
        &url_args,
        &[("SSL_CERT_FILE", &ca_file)],
    );
    assert_eq!(j.code, Some(1));
    let e = j.error();
    assert!(
        e.contains(&url)
            && e.contains("cannot download it")
            && e.contains("UnknownIssuer")
            && e.contains("SSL_CERT_FILE"),
        "{e}"
    );
    assert_eq!(files_left(untrusted.path()), Vec::<PathBuf>::new());
    let root4 = fd.path().join("node4");
    let j = join_with_env(&root4, "", &url_args, &[("SSL_CERT_FILE", &web.ca)]);
    assert_eq!(j.code, Some(0), "{:#?}", j.events);
    let (ok, out) = kubectl(
        &root4.join("etc/kubernetes/kubelet.conf"),
        &["get", "--raw", "/api"],
    );
    assert!(ok, "{out}");
    drop(web);

    // The kubelet's own bootstrap (the default): the files for it are written, the host's
    // kubelet is never touched under a --root, and the wait for kubelet.conf says why it
    // cannot end.
    let k = tempfile::tempdir().unwrap();
    let config = kubeadm_config::join()
        .timeout("tlsBootstrap", "2s")
        .write(k.path().join("join.yaml"));
    let j = join(
        k.path(),
        &endpoint(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--node-name",
            "k1",
        ],
    );
    assert_eq!(j.code, Some(1));
    assert_eq!(
        j.result()["failed_phase"],
        "kubelet-wait-bootstrap",
        "{:#?}",
        j.events
    );
    let warned: Vec<&str> = j
        .events
        .iter()
        .filter(|e| e["event"] == "warning")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("the kubelet was not (re)started")),
        "{warned:?}"
    );
    assert!(
        j.error().contains("--tls-bootstrap builtin"),
        "{}",
        j.error()
    );
    let kroot = k.path();
    for f in [
        "etc/kubernetes/bootstrap-kubelet.conf",
        "etc/kubernetes/pki/ca.crt",
        "var/lib/kubelet/config.yaml",
        "var/lib/kubelet/kubeadm-flags.env",
    ] {
        assert!(kroot.join(f).is_file(), "{f}");
    }
    assert!(!kroot.join("etc/kubernetes/kubelet.conf").exists());
    let flags = std::fs::read_to_string(kroot.join("var/lib/kubelet/kubeadm-flags.env")).unwrap();
    assert!(
        flags.starts_with("KUBELET_KUBEADM_ARGS=") && flags.contains("--hostname-override=k1"),
        "{flags}"
    );
    // The bootstrap kubeconfig works: the token may read what a joining kubelet reads.
    let (ok, out) = kubectl(
        &kroot.join("etc/kubernetes/bootstrap-kubelet.conf"),
        &[
            "get",
            "cm",
            "kubelet-config-1.20",
            "-n",
            "kube-system",
            "-o",
            "name",
        ],
    );
    assert!(ok, "{out}");

    // Without the binding that lets the token's group have node CSRs auto-approved, the CSR
    // stays Pending: the join says why while it waits, and fails at timeouts.tlsBootstrap
    // with the cause, having written nothing.
    let (ok, out) = kubectl(
        &admin(cp),
        &[
            "delete",
            "clusterrolebinding",
            "kubeadm:node-autoapprove-bootstrap",
        ],
    );
    assert!(ok, "{out}");
    let stalled = tempfile::tempdir().unwrap();
    let config = kubeadm_config::join()
        .timeout("tlsBootstrap", "14s")
        .write(stalled.path().join("join.yaml"));
    let stalled_args = [
        "--config",
        config.to_str().unwrap(),
        "--token",
        TOKEN,
        "--discovery-token-ca-cert-hash",
        &hash,
        "--tls-bootstrap",
        "builtin",
        "--node-name",
        "w2",
    ];
    let j = join(stalled.path(), &endpoint(), &stalled_args);
    assert_eq!(j.code, Some(1));
    let said: Vec<&str> = j
        .events
        .iter()
        .filter(|e| e["event"] == "progress" && e["phase"] == "kubelet-start")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        said.iter().any(
            |m| m.contains("still Pending") && m.contains("kubeadm:node-autoapprove-bootstrap")
        ),
        "{said:?}"
    );
    let e = j.error();
    assert!(
        e.contains("no certificate within") && e.contains("nodeclient"),
        "{e}"
    );
    assert!(j.took < Duration::from_secs(30), "{:?}", j.took);
    assert_eq!(files_left(stalled.path()), Vec::<PathBuf>::new());

    // Denied while it waits: an administrator denies the Pending CSR; the join stops at once
    // with the approver's reason instead of waiting out its timeout, having written nothing.
    let before = csr_names(cp);
    let denied = tempfile::tempdir().unwrap();
    let denied_root = denied.path().to_path_buf();
    let denied_config = config.clone();
    let (hash_, endpoint_) = (hash.clone(), endpoint());
    let waiting = std::thread::spawn(move || {
        join(
            &denied_root,
            &endpoint_,
            &[
                "--config",
                denied_config.to_str().unwrap(),
                "--token",
                TOKEN,
                "--discovery-token-ca-cert-hash",
                &hash_,
                "--tls-bootstrap",
                "builtin",
                "--node-name",
                "w3",
            ],
        )
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let csr = loop {
        if let Some(new) = csr_names(cp).into_iter().find(|n| !before.contains(n)) {
            break new;
        }
        assert!(Instant::now() < deadline, "the join posted no CSR");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (ok, out) = kubectl(&admin(cp), &["certificate", "deny", &csr]);
    assert!(ok, "{out}");
    let j = waiting.join().unwrap();
    assert_eq!(j.code, Some(1));
    let e = j.error();
    assert!(
        e.contains(&format!("CertificateSigningRequest {csr} was denied")),
        "{e}"
    );
    assert!(
        j.took < Duration::from_secs(14),
        "waited out the timeout: {:?}",
        j.took
    );
    assert_eq!(files_left(denied.path()), Vec::<PathBuf>::new());

    // The stalled join, re-run once the binding is back (as init made it), resumes from its
    // journal: preflight, done, is skipped as completed; the failed kubelet-start runs again,
    // this time gets its certificate, and the node joins.
    let journal: Value = serde_json::from_slice(
        &std::fs::read(stalled.path().join("var/lib/kubestrap/join.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        journal["phases"]["preflight"]["state"], "done",
        "{journal:#}"
    );
    assert_eq!(
        journal["phases"]["kubelet-start"]["state"], "failed",
        "{journal:#}"
    );
    let binding = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/manifests/rbac/node-autoapprove-bootstrap-clusterrolebinding.yaml"
    );
    let (ok, out) = kubectl(&admin(cp), &["create", "-f", binding]);
    assert!(ok, "{out}");
    let resumed = join(stalled.path(), &endpoint(), &stalled_args);
    assert_eq!(resumed.code, Some(0), "{:#?}", resumed.events);
    assert_eq!(
        resumed.phases("phase_skipped", Some("completed")),
        ["preflight"],
        "{:#?}",
        resumed.events
    );
    let ran = resumed.phases("phase_finished", None);
    assert!(
        ran.contains(&"kubelet-start".to_string())
            && ran.contains(&"kubelet-wait-bootstrap".to_string())
            && !ran.contains(&"preflight".to_string()),
        "{ran:?}"
    );
    let (ok, out) = kubectl(
        &stalled.path().join("etc/kubernetes/kubelet.conf"),
        &["get", "secrets", "-n", "kube-system"],
    );
    assert!(!ok && out.contains("User \"system:node:w2\""), "{out}");

    // Tampered cluster-info: with the controller-manager (whose signer would re-sign it)
    // stopped, the published kubeconfig is changed; its signature no longer matches.
    let manifests = cp.join("etc/kubernetes/manifests");
    std::fs::rename(
        manifests.join("kube-controller-manager.yaml"),
        cp.join("kube-controller-manager.yaml"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while runner
        .containers()
        .iter()
        .any(|c| c.pod == "kube-controller-manager" && c.exit.is_none())
    {
        assert!(
            Instant::now() < deadline,
            "the controller-manager did not stop"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, kubeconfig) = kubectl(
        &admin(cp),
        &[
            "get",
            "cm",
            "cluster-info",
            "-n",
            "kube-public",
            "-o",
            "jsonpath={.data.kubeconfig}",
        ],
    );
    let tampered = kubeconfig.replace(&format!("{ADVERTISE}:{PORT}"), "198.51.100.1:6443");
    assert_ne!(tampered, kubeconfig);
    let patch = serde_json::json!({"data": {"kubeconfig": tampered}}).to_string();
    let admin = cp.join("etc/kubernetes/admin.conf");
    let (ok, out) = kubectl(
        &admin,
        &[
            "patch",
            "cm",
            "cluster-info",
            "-n",
            "kube-public",
            "--type",
            "merge",
            "-p",
            &patch,
        ],
    );
    assert!(ok, "{out}");
    let t = tempfile::tempdir().unwrap();
    let j = join(
        t.path(),
        &endpoint(),
        &[
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            &hash,
            "--tls-bootstrap",
            "builtin",
            "--node-name",
            "bad4",
        ],
    );
    assert_eq!(j.code, Some(1));
    let e = j.error();
    assert!(
        e.contains("signature for token id jointk does not match"),
        "{e}"
    );
    assert!(j.took < Duration::from_secs(15), "{:?}", j.took);
    assert_eq!(files_left(t.path()), Vec::<PathBuf>::new());
}

#[test]
fn an_unknown_tls_bootstrap_mode_is_a_usage_error_naming_the_flag() {
    let out = kubestrap()
        .args(["join", "127.0.0.51:6443", "--tls-bootstrap", "kubeadm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--tls-bootstrap") && err.contains("builtin"),
        "{err}"
    );
}
