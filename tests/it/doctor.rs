//! `kubestrap doctor` on real nodes (a control plane made by `kubestrap init` and a worker
//! joined by `kubestrap join`, each with the real kubelet v1.20.2): healthy, both give no
//! finding and exit 0; then one link of the chain is broken at a time — a certificate, a key, a
//! kubeconfig, a static-pod manifest, the kubelet's files, a bootstrap token, cluster-info, the
//! bootstrap RBAC, a CSR, an etcd member, the Node — doctor names it (its id, the evidence and
//! the fix), and the link is put back before the next. The run time of each doctor run is
//! printed (issue 17 asks for it).
//!
//! Addresses (only inside the namespaces the test bed makes): 10.231.0.70 and .71.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kubestrap_test_support::bed::kube_bin;
use kubestrap_test_support::real_node::{self, RealNode, init_and_join, text, wait_until};
use serde_json::Value;

const TOKEN: &str = "doctor.0123456789abcdef";

/// `kubestrap doctor -o json` on `node`: its exit code and report.
fn doctor(node: &RealNode) -> (Option<i32>, Value) {
    let started = Instant::now();
    let out = node
        .kubestrap()
        .args(["doctor", "-o", "json", "--root"])
        .arg(&node.root)
        .output()
        .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["kind"] == "DoctorReport")
        .unwrap_or_else(|| panic!("no report: {}", text(&out)));
    eprintln!(
        "doctor on {}: {took:?}, {} finding(s)",
        node.name,
        report["findings"].as_array().map_or(0, Vec::len)
    );
    (out.status.code(), report)
}

/// The findings' ids.
fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect()
}

/// Asserts `node`'s doctor reports `id` with evidence mentioning `evidence` and a fix
/// mentioning `fix`; returns the exit code. A finding never shows the token secret.
fn expect(node: &RealNode, id: &str, evidence: &str, fix: &str) -> Option<i32> {
    let (code, report) = doctor(node);
    let found = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| {
            f["id"] == id
                && f["evidence"].to_string().contains(evidence)
                && f["fix"].as_str().is_some_and(|x| x.contains(fix))
        });
    assert!(
        found.is_some(),
        "{id} with evidence {evidence:?} and fix {fix:?} not in {:#}",
        report["findings"]
    );
    assert!(
        !report.to_string().contains("0123456789abcdef"),
        "a token secret in the report"
    );
    code
}

fn healthy(node: &RealNode) {
    let (code, report) = doctor(node);
    assert_eq!(ids(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["cluster"]["state"], "checked", "{report:#}");
}

/// Replaces `path` with `content` for the length of `check`, then puts the original back.
fn with_file(path: &Path, content: &[u8], check: impl FnOnce()) {
    let original = std::fs::read(path).unwrap();
    std::fs::write(path, content).unwrap();
    check();
    std::fs::write(path, original).unwrap();
}

/// Edits the text file `path` with `edit` (which must change it) for the length of `check`,
/// then puts the original back.
fn with_edit(path: &Path, edit: impl FnOnce(&str) -> String, check: impl FnOnce()) {
    let original = std::fs::read_to_string(path).unwrap();
    let edited = edit(&original);
    assert_ne!(edited, original, "{} unchanged", path.display());
    with_file(path, edited.as_bytes(), check);
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

/// A new EC key and a certificate for it: self-signed, or signed by `ca` (cert and key) with
/// the extensions in `ext` (an openssl extfile section body) for `days`.
fn cert(
    dir: &Path,
    name: &str,
    cn: &str,
    ca: Option<(&Path, &Path)>,
    ext: &str,
    days: u32,
) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let crt = dir.join(format!("{name}.crt"));
    let csr = dir.join(format!("{name}.csr"));
    let extfile = dir.join(format!("{name}.ext"));
    std::fs::write(&extfile, ext).unwrap();
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&key),
    ]);
    let days = days.to_string();
    match ca {
        None => openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &p(&key),
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            &days,
            "-out",
            &p(&crt),
        ]),
        Some((ca_crt, ca_key)) => {
            openssl(&[
                "req",
                "-new",
                "-key",
                &p(&key),
                "-subj",
                &format!("/CN={cn}"),
                "-out",
                &p(&csr),
            ]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &p(&csr),
                "-CA",
                &p(ca_crt),
                "-CAkey",
                &p(ca_key),
                "-CAcreateserial",
                "-days",
                &days,
                "-extfile",
                &p(&extfile),
                "-out",
                &p(&crt),
            ]);
        }
    }
    (crt, key)
}

/// Replaces a certificate pair for the length of `check`.
fn with_pair(pki: &Path, name: &str, pair: &(PathBuf, PathBuf), check: impl FnOnce()) {
    let crt = pki.join(format!("{name}.crt"));
    let key = pki.join(format!("{name}.key"));
    let (old_crt, old_key) = (std::fs::read(&crt).unwrap(), std::fs::read(&key).unwrap());
    std::fs::copy(&pair.0, &crt).unwrap();
    std::fs::copy(&pair.1, &key).unwrap();
    check();
    std::fs::write(&crt, old_crt).unwrap();
    std::fs::write(&key, old_key).unwrap();
}

/// kubectl as `node`'s admin, which must succeed; its output.
fn kubectl(node: &RealNode, args: &[&str]) -> String {
    let (ok, out) = node.kubectl(args);
    assert!(ok, "kubectl {args:?}: {out}");
    out
}

/// Deletes bootstrap token `id`'s Secret.
fn delete_token(node: &RealNode, id: &str) {
    let secret = format!("bootstrap-token-{id}");
    kubectl(node, &["-n", "kube-system", "delete", "secret", &secret]);
}

/// kubectl apply of `yaml` (written to a file under the node root).
fn apply(node: &RealNode, verb: &str, yaml: &str) {
    let file = node.root.join("doctor-object.yaml");
    std::fs::write(&file, yaml).unwrap();
    kubectl(node, &[verb, "-f", file.to_str().unwrap()]);
}

/// etcd's v3 JSON gateway on the control plane, with its healthcheck client.
fn etcd_post(node: &RealNode, path: &str, body: &str) -> Value {
    let pki = node.root.join("etc/kubernetes/pki/etcd");
    let out = node
        .command("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("healthcheck-client.crt"))
        .arg("--key")
        .arg(pki.join("healthcheck-client.key"))
        .args(["-X", "POST", "-d", body])
        .arg(format!("https://{}:2379{path}", node.ip))
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("etcd {path}: {e}: {}", text(&out)))
}

#[test]
fn doctor_names_each_broken_link_and_nothing_on_a_healthy_cluster() {
    kube_bin();
    let _one = real_node::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let cp = RealNode::create("dc1", &dir.path().join("dc1"), "10.231.0.70");
    let worker = RealNode::create("dw1", &dir.path().join("dw1"), "10.231.0.71");
    init_and_join(&cp, &worker, TOKEN);

    // Healthy: nothing on either node.
    healthy(&cp);
    healthy(&worker);

    let pki = cp.root.join("etc/kubernetes/pki");
    let work = tempfile::tempdir().unwrap();
    let scratch = work.path();
    let (ca_crt, ca_key) = (pki.join("ca.crt"), pki.join("ca.key"));
    let (fp_crt, fp_key) = (
        pki.join("front-proxy-ca.crt"),
        pki.join("front-proxy-ca.key"),
    );
    const CLIENT: &str = "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
    const SERVER: &str = "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";

    // 1. A key that is not its certificate's.
    with_file(
        &pki.join("front-proxy-client.key"),
        &std::fs::read(pki.join("apiserver-etcd-client.key")).unwrap(),
        || {
            assert_eq!(
                expect(&cp, "cert-key-mismatch", "front-proxy-client", "kubestrap"),
                Some(1)
            );
        },
    );
    // 2. A certificate its CA did not sign.
    let stranger = cert(scratch, "stranger", "front-proxy-client", None, "", 365);
    with_pair(&pki, "front-proxy-client", &stranger, || {
        expect(
            &cp,
            "cert-not-signed-by-ca",
            "front-proxy-client",
            "front-proxy-client",
        );
    });
    // 3. The API server's certificate without the names and addresses the cluster uses.
    let bare = cert(
        scratch,
        "bare",
        "kube-apiserver",
        Some((&ca_crt, &ca_key)),
        SERVER,
        365,
    );
    with_pair(&pki, "apiserver", &bare, || {
        expect(&cp, "cert-san-missing", "10.231.0.70", "apiserver");
    });
    // 4. A certificate that ends in two days.
    let short = cert(
        scratch,
        "short",
        "front-proxy-client",
        Some((&fp_crt, &fp_key)),
        CLIENT,
        2,
    );
    with_pair(&pki, "front-proxy-client", &short, || {
        assert_eq!(
            expect(&cp, "cert-expiring", "front-proxy-client", "certs renew"),
            Some(0)
        );
    });
    // 5. A client certificate made for serving.
    let server_only = cert(
        scratch,
        "server-only",
        "front-proxy-client",
        Some((&fp_crt, &fp_key)),
        SERVER,
        365,
    );
    with_pair(&pki, "front-proxy-client", &server_only, || {
        expect(
            &cp,
            "cert-usage-wrong",
            "front-proxy-client",
            "front-proxy-client",
        );
    });
    // 6. A kubeconfig that trusts another CA.
    let b64 = |p: &Path| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p).unwrap())
    };
    let cm_conf = cp.root.join("etc/kubernetes/controller-manager.conf");
    with_edit(
        &cm_conf,
        |c| c.replace(&b64(&ca_crt), &b64(&fp_crt)),
        || {
            expect(
                &cp,
                "kubeconfig-ca-mismatch",
                "controller-manager.conf",
                "certificate-authority",
            );
        },
    );
    // 7. A certificate of the set gone.
    let hc = pki.join("etcd/healthcheck-client.crt");
    std::fs::rename(&hc, scratch.join("hc.crt")).unwrap();
    expect(
        &cp,
        "cert-missing",
        "healthcheck-client",
        "kubestrap init phase certs",
    );
    std::fs::rename(scratch.join("hc.crt"), &hc).unwrap();

    // The static-pod manifests (each edit restarts only that component).
    let manifests = cp.root.join("etc/kubernetes/manifests");
    let scheduler = manifests.join("kube-scheduler.yaml");
    let kcm = manifests.join("kube-controller-manager.yaml");
    // 8. A path no volume mounts.
    let extra_flag = "    - --tls-cert-file=/srv/unmounted/tls.crt\n    - --bind-address";
    with_edit(
        &scheduler,
        |m| m.replacen("    - --bind-address", extra_flag, 1),
        || {
            expect(
                &cp,
                "static-pod-path-unmounted",
                "/srv/unmounted/tls.crt",
                "volume",
            );
        },
    );
    // 9. Versions outside the skew policy.
    with_edit(
        &scheduler,
        |m| m.replace(":v1.20.2", ":v1.18.0"),
        || {
            expect(&cp, "static-pod-version-skew", "kube-scheduler", "image");
        },
    );
    // 10. The controller-manager cannot sign kubelet certificates.
    let without_signing_key = |m: &str| -> String {
        m.lines()
            .filter(|l| !l.contains("--cluster-signing-key-file"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    with_edit(&kcm, without_signing_key, || {
        expect(
            &cp,
            "controller-manager-signing",
            "cluster-signing-key-file",
            "ca.key",
        );
    });
    // 11. The bootstrap signer is not among the controllers.
    with_edit(
        &kcm,
        |m| m.replace("*,bootstrapsigner,tokencleaner", "*,tokencleaner"),
        || {
            expect(
                &cp,
                "controller-manager-controllers",
                "*,tokencleaner",
                "bootstrapsigner,tokencleaner",
            );
        },
    );

    // 12. A flag given in a manifest alone, which kubeadm-config does not render.
    let log_level = "    - --leader-elect=true\n    - --v=4";
    with_edit(
        &scheduler,
        |m| m.replacen("    - --leader-elect=true", log_level, 1),
        || {
            expect(&cp, "static-pod-drift", "--v=4", "scheduler.extraArgs");
        },
    );

    // The worker's kubelet files.
    // 13. kubelet.conf names a certificate that is not there.
    let current = worker
        .root
        .join("var/lib/kubelet/pki/kubelet-client-current.pem");
    let target = std::fs::read_link(&current).unwrap();
    std::fs::remove_file(&current).unwrap();
    expect(
        &worker,
        "kubelet-conf-cert-missing",
        "kubelet-client-current.pem",
        "ln -s",
    );
    std::os::unix::fs::symlink(&target, &current).unwrap();
    // 14. Client certificate rotation off.
    let kubelet_config = worker.root.join("var/lib/kubelet/config.yaml");
    let off = |c: &str| c.replace("rotateCertificates: true", "rotateCertificates: false");
    with_edit(&kubelet_config, off, || {
        expect(
            &worker,
            "kubelet-client-rotation-off",
            "rotateCertificates",
            "rotateCertificates: true",
        );
    });

    // The cluster's side.
    // 15. A token that expires within the hour.
    let out = cp
        .kubestrap()
        .args([
            "token",
            "create",
            "shortl.0123456789abcdef",
            "--ttl",
            "1h",
            "--root",
        ])
        .arg(&cp.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    expect(&cp, "token-expiring", "bootstrap-token-shortl", "token");
    delete_token(&cp, "shortl");
    // 16. A token that cannot join (no authentication usage) and 17. one with a group the
    // bootstrap RBAC does not know.
    let token_secret = |id: &str, auth: &str, groups: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-{id}\n  namespace: kube-system\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: {id}\n  token-secret: 0123456789abcdef\n  usage-bootstrap-signing: \"true\"\n  usage-bootstrap-authentication: \"{auth}\"\n{groups}"
        )
    };
    apply(&cp, "create", &token_secret("noauth", "false", ""));
    expect(&cp, "token-usages", "bootstrap-token-noauth", "--usages");
    delete_token(&cp, "noauth");
    apply(
        &cp,
        "create",
        &token_secret(
            "badgrp",
            "true",
            "  auth-extra-groups: system:bootstrappers:Not_Valid\n",
        ),
    );
    expect(
        &cp,
        "token-groups",
        "bootstrap-token-badgrp",
        "token create",
    );
    delete_token(&cp, "badgrp");
    // 18. cluster-info names another CA.
    let cluster_info = ["-n", "kube-public", "get", "configmap", "cluster-info"];
    let ci = kubectl(
        &cp,
        &[&cluster_info[..], &["-o", "jsonpath={.data.kubeconfig}"]].concat(),
    );
    let forged = ci.replace(&b64(&ca_crt), &b64(&fp_crt));
    assert_ne!(forged, ci);
    let set_cluster_info = |kubeconfig: &str| {
        let patch = serde_json::json!({"data": {"kubeconfig": kubeconfig}}).to_string();
        let args = [
            "-n",
            "kube-public",
            "patch",
            "configmap",
            "cluster-info",
            "--type",
            "merge",
        ];
        kubectl(&cp, &[&args[..], &["-p", &patch]].concat());
    };
    set_cluster_info(&forged);
    expect(
        &cp,
        "cluster-info-ca-mismatch",
        "cluster-info",
        "bootstrap-token",
    );
    set_cluster_info(&ci);
    // 19. A binding of the chain deleted, 20. one pointing at the wrong subjects.
    let saved = kubectl(
        &cp,
        &[
            "get",
            "clusterrolebinding",
            "kubeadm:node-autoapprove-bootstrap",
            "-o",
            "yaml",
        ],
    );
    kubectl(
        &cp,
        &[
            "delete",
            "clusterrolebinding",
            "kubeadm:node-autoapprove-bootstrap",
        ],
    );
    expect(
        &cp,
        "rbac-binding-missing",
        "kubeadm:node-autoapprove-bootstrap",
        "bootstrap-token",
    );
    apply(&cp, "create", &saved);
    let get_nodes = kubectl(
        &cp,
        &[
            "get",
            "clusterrolebinding",
            "kubeadm:get-nodes",
            "-o",
            "yaml",
        ],
    );
    kubectl(
        &cp,
        &[
            "patch",
            "clusterrolebinding",
            "kubeadm:get-nodes",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/subjects/0/name","value":"system:bootstrappers:elsewhere"}]"#,
        ],
    );
    expect(
        &cp,
        "rbac-binding-wrong",
        "kubeadm:get-nodes",
        "bootstrap-token",
    );
    kubectl(&cp, &["delete", "clusterrolebinding", "kubeadm:get-nodes"]);
    apply(&cp, "create", &get_nodes);
    // 21. Anonymous users given more than cluster-info.
    kubectl(
        &cp,
        &[
            "create",
            "clusterrolebinding",
            "doctor-anonymous-view",
            "--clusterrole",
            "view",
            "--user",
            "system:anonymous",
        ],
    );
    expect(
        &cp,
        "rbac-anonymous-too-wide",
        "doctor-anonymous-view",
        "delete",
    );
    kubectl(
        &cp,
        &["delete", "clusterrolebinding", "doctor-anonymous-view"],
    );
    // 22. A kubelet client CSR that will never be approved: it asks for server auth, which the
    // csrapproving controller refuses for this signer (ValidateKubeletClientCSR).
    let (csr_key, csr) = (scratch.join("csr.key"), scratch.join("node.csr"));
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        csr_key.to_str().unwrap(),
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        csr_key.to_str().unwrap(),
        "-subj",
        "/O=system:nodes/CN=system:node:ghost",
        "-out",
        csr.to_str().unwrap(),
    ]);
    let request = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&csr).unwrap())
    };
    apply(
        &cp,
        "create",
        &format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: doctor-ghost\nspec:\n  request: {request}\n  signerName: kubernetes.io/kube-apiserver-client-kubelet\n  usages: [digital signature, key encipherment, server auth]\n"
        ),
    );
    expect(&cp, "csr-pending", "doctor-ghost", "certificate");
    kubectl(&cp, &["delete", "csr", "doctor-ghost"]);
    // 23. An etcd member that is no control-plane node (a learner, which counts for no quorum).
    let added = etcd_post(
        &cp,
        "/v3/cluster/member/add",
        r#"{"peerURLs":["https://10.231.0.99:2380"],"isLearner":true}"#,
    );
    let id = added["member"]["ID"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("{added}"));
    expect(&cp, "etcd-member-stale", "10.231.0.99", "member remove");
    etcd_post(
        &cp,
        "/v3/cluster/member/remove",
        &format!(r#"{{"ID":"{id}"}}"#),
    );
    // 24. The Node without kubeadm's CRI-socket annotation, 25. without its control-plane labels.
    let annotation = "kubeadm.alpha.kubernetes.io/cri-socket";
    kubectl(&cp, &["annotate", "node", "dc1", &format!("{annotation}-")]);
    expect(&cp, "node-cri-socket-annotation", "dc1", "kubectl annotate");
    kubectl(
        &cp,
        &[
            "annotate",
            "node",
            "dc1",
            &format!("{annotation}=/run/containerd/containerd.sock"),
        ],
    );
    kubectl(
        &cp,
        &["label", "node", "dc1", "node-role.kubernetes.io/master-"],
    );
    expect(&cp, "node-control-plane-labels", "dc1", "label");
    kubectl(
        &cp,
        &["label", "node", "dc1", "node-role.kubernetes.io/master="],
    );

    // Everything put back: healthy again (the edited components have restarted).
    wait_until("a healthy report again", Duration::from_secs(180), || {
        let (code, report) = doctor(&cp);
        if code == Some(0) && ids(&report).is_empty() {
            Ok(())
        } else {
            Err(report["findings"].to_string())
        }
    });
    healthy(&worker);
    drop(worker);
    drop(cp);
}
