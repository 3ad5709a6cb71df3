//! `kubestrap init` against a real control plane: etcd 3.4 and kube-apiserver,
//! kube-controller-manager and kube-scheduler v1.20.2 (scripts/testbed/install.sh), run from
//! the static-pod manifests kubestrap writes by the test-bed stand-in for the kubelet
//! (`kubestrap-testbed`). Each test has its own node root and advertise address (127.0.0.2x)
//! and stops every process it started when it ends, failed or not (the runner's Drop).
//!
//! A missing binary fails these tests, never skips them: CI installs the test bed first
//! (scripts/test runs scripts/testbed/install.sh).

/// scripts/testbed/up and down themselves: what they remove, when they fail.
mod testbed_scripts;

use std::path::Path;
use std::time::{Duration, Instant};

use kubestrap_test_support::{bed, cli::kubestrap, ndjson::events};
use serde_json::Value;

/// The last phase of init.
const LAST_PHASE: &str = "show-join-command";

/// Runs `kubestrap init` for a node on `advertise`, its API server on `port`: not 6443,
/// which another process on this machine may hold on every address (kube-apiserver's
/// default bind), so that a test meets only its own control plane.
fn init(root: &Path, advertise: &str, port: u16, config: &Path) -> (Option<i32>, Vec<Value>) {
    init_with(root, advertise, port, config, &[])
}

/// [`init`] with more flags.
fn init_with(
    root: &Path,
    advertise: &str,
    port: u16,
    config: &Path,
    extra: &[&str],
) -> (Option<i32>, Vec<Value>) {
    let out = kubestrap()
        .args(["init", "-o", "json", "--root"])
        .arg(root)
        .args(["--apiserver-advertise-address", advertise])
        .args(["--apiserver-bind-port", &port.to_string()])
        .args(["--node-name", "n1", "--kubernetes-version", "v1.20.2"])
        .args([
            "--ignore-preflight-errors",
            bed::IGNORED_PREFLIGHT,
            "--config",
        ])
        .arg(config)
        .args(extra)
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    (out.status.code(), events(&out.stdout))
}

fn phases_with(ev: &[Value], event: &str) -> Vec<String> {
    ev.iter()
        .filter(|e| e["event"] == event)
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect()
}

fn error_of(ev: &[Value]) -> (String, String) {
    let e = ev
        .iter()
        .find(|e| e["event"] == "error")
        .unwrap_or_else(|| panic!("no error event in {ev:?}"));
    (
        e["message"].as_str().unwrap_or_default().to_string(),
        e["hint"].as_str().unwrap_or_default().to_string(),
    )
}

/// kubectl with admin.conf: v1.20's is in group system:masters, as kubeadm 1.20 makes it.
fn kubectl(root: &Path, args: &[&str]) -> String {
    bed::kubectl_as(&root.join("etc/kubernetes/admin.conf"), args).1
}

fn readyz(root: &Path) -> String {
    kubectl(root, &["get", "--raw", "/readyz"])
}

/// init ran to its end: every phase after the wait finished, and the result is a success.
fn assert_completed_past_the_wait(code: Option<i32>, ev: &[Value]) {
    assert_eq!(code, Some(0), "{ev:#?}");
    let finished = phases_with(ev, "phase_finished");
    for phase in [
        "wait-control-plane",
        "kubelet-finalize/enable-client-cert-rotation",
        "addon/coredns",
        "addon/kube-proxy",
        LAST_PHASE,
    ] {
        assert!(
            finished.contains(&phase.to_string()),
            "{phase}: {finished:?}\n{ev:#?}"
        );
    }
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "success", "{result}");
}

#[test]
fn init_starts_a_real_control_plane_and_waits_until_it_is_healthy() {
    bed::kube_bin();
    let root = tempfile::tempdir().unwrap();
    let advertise = "127.0.0.21";
    let config = bed::config_file(root.path(), "2m", "1m");
    // Started on an empty root, before init writes any manifest, as a kubelet would be.
    let pods = bed::stand_in(root.path());
    let registrar = bed::register_node_when_up(root.path(), "n1", Duration::from_secs(170));

    let started = Instant::now();
    let (code, ev) = init(root.path(), advertise, 16421, &config);
    let took = started.elapsed();
    assert_completed_past_the_wait(code, &ev);
    let finished = phases_with(&ev, "phase_finished");
    for phase in [
        "preflight",
        "certs/ca",
        "kubeconfig/admin",
        "etcd/local",
        "control-plane/apiserver",
        "control-plane/controller-manager",
        "control-plane/scheduler",
    ] {
        assert!(
            finished.contains(&phase.to_string()),
            "{phase}: {finished:?}"
        );
    }
    let wait_ms = ev
        .iter()
        .find(|e| e["event"] == "phase_finished" && e["phase"] == "wait-control-plane")
        .and_then(|e| e["duration_ms"].as_u64())
        .unwrap();
    // The wait said what it saw, in words, and ended on all three healthy.
    let progress: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "progress" && e["phase"] == "wait-control-plane")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        progress.contains(&"apiserver: ok; controller-manager: ok; scheduler: ok"),
        "{progress:?}"
    );
    eprintln!("init up to the end of wait-control-plane: {took:?} (the wait itself {wait_ms} ms)");

    assert_eq!(readyz(root.path()).trim(), "ok");
    registrar.join().unwrap();
    let marks = kubectl(
        root.path(),
        &[
            "get",
            "node",
            "n1",
            "-o",
            "jsonpath={.metadata.labels}{.spec.taints}",
        ],
    );
    assert!(
        marks.contains("node-role.kubernetes.io/control-plane") && marks.contains("NoSchedule"),
        "{marks}"
    );
    // Every pod the stand-in started is still up: none crashed on kubestrap's files.
    let containers = pods.containers();
    let running: Vec<&str> = containers
        .iter()
        .filter(|c| c.exit.is_none())
        .map(|c| c.pod.as_str())
        .collect();
    assert_eq!(
        running,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler"
        ],
        "{containers:#?}"
    );
}

#[test]
fn a_failed_wait_says_what_each_component_answered_and_a_resumed_init_goes_past_it() {
    bed::kube_bin();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let advertise = "127.0.0.22";
    let config = bed::config_file(r, "20s", "1m");

    // No kubelet stand-in: the manifests are written, nothing runs them.
    let (code, ev) = init(r, advertise, 16422, &config);
    assert_eq!(code, Some(1));
    assert_eq!(ev.last().unwrap()["failed_phase"], "wait-control-plane");
    let (message, hint) = error_of(&ev);
    assert!(message.contains("within 20s"), "{message}");
    for line in [
        "kube-apiserver (https://127.0.0.22:16422/livez): connection refused",
        "kube-controller-manager (https://127.0.0.22:10257/healthz): connection refused",
        "kube-scheduler (https://127.0.0.22:10259/healthz): connection refused",
    ] {
        assert!(message.contains(line), "{line}\n{message}");
    }
    assert!(!message.contains("waiting for the condition"));
    let manifests = r.join("etc/kubernetes/manifests");
    assert!(
        hint.contains(manifests.join("kube-apiserver.yaml").to_str().unwrap()),
        "{hint}"
    );
    assert!(hint.contains("journalctl -u kubelet"), "{hint}");
    assert!(
        hint.contains(
            r.join("var/log/kubestrap-testbed/kube-scheduler.log")
                .to_str()
                .unwrap()
        ),
        "{hint}"
    );

    // The kubelet comes up; the same init resumes: the phases done before are skipped,
    // the wait runs again and succeeds.
    let _pods = bed::stand_in(r);
    let registrar = bed::register_node_when_up(r, "n1", Duration::from_secs(170));
    let (code, ev) = init(r, advertise, 16422, &config);
    registrar.join().unwrap();
    assert_completed_past_the_wait(code, &ev);
    let started = phases_with(&ev, "phase_started");
    assert_eq!(started[0], "wait-control-plane", "{started:?}");
    assert_eq!(started.last().unwrap(), LAST_PHASE);
    let completed: Vec<String> = ev
        .iter()
        .filter(|e| e["event"] == "phase_skipped" && e["reason"] == "completed")
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect();
    for phase in [
        "preflight",
        "certs/ca",
        "etcd/local",
        "control-plane/scheduler",
    ] {
        assert!(
            completed.contains(&phase.to_string()),
            "{phase}: {completed:?}"
        );
    }
    assert_eq!(readyz(r).trim(), "ok");
}

/// Every object of the kinds init writes, as `(kind, namespace, name)` → resourceVersion.
fn resource_versions(root: &Path) -> std::collections::BTreeMap<(String, String, String), String> {
    let mut out = std::collections::BTreeMap::new();
    for kinds in [
        "configmaps,secrets,serviceaccounts,services,deployments,daemonsets,roles,rolebindings",
        "clusterroles,clusterrolebindings,nodes",
    ] {
        let text = kubectl(root, &["get", kinds, "-A", "-o", "json"]);
        let list: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("kubectl get {kinds}: {e}: {text}"));
        for item in list["items"].as_array().unwrap() {
            let meta = &item["metadata"];
            out.insert(
                (
                    item["kind"].as_str().unwrap().to_string(),
                    meta["namespace"].as_str().unwrap_or_default().to_string(),
                    meta["name"].as_str().unwrap().to_string(),
                ),
                meta["resourceVersion"].as_str().unwrap().to_string(),
            );
        }
    }
    out
}

/// The objects a run reported writing, from its result event.
fn written_objects(ev: &[Value]) -> Vec<(String, String, String)> {
    ev.last().unwrap()["api_objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["namespace"].as_str().unwrap_or_default().to_string(),
                o["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until `f` holds, polling; panics with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[test]
fn init_runs_to_the_end_with_addons_and_a_second_init_changes_no_object() {
    bed::kube_bin();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let advertise = "127.0.0.60";
    let config = bed::config_file(r, "2m", "1m");
    // A fixed token and certificate key: without them, every init makes a new token and a
    // new key, and so a new bootstrap token Secret and a re-encrypted kubeadm-certs (as
    // kubeadm does).
    let token = [
        "--token",
        "abcdef.0123456789abcdef",
        "--upload-certs",
        "--certificate-key",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ];
    let _pods = bed::stand_in(r);
    let registrar = bed::register_node_when_up(r, "n1", Duration::from_secs(170));

    let started = Instant::now();
    let (code, ev) = init_with(r, advertise, 16460, &config, &token);
    eprintln!("full init: {:?}", started.elapsed());
    registrar.join().unwrap();
    assert_completed_past_the_wait(code, &ev);
    let result = ev.last().unwrap();
    assert!(
        result["join_command"]
            .as_str()
            .is_some_and(|c| c.starts_with("kubestrap join 127.0.0.60:16460 --token ")),
        "{result}"
    );
    // No kubelet bootstrapped here: kubelet-finalize says so and leaves kubelet.conf alone.
    let kubelet_conf = r.join("etc/kubernetes/kubelet.conf");
    let warning = ev
        .iter()
        .find(|e| {
            e["event"] == "warning" && e["phase"] == "kubelet-finalize/enable-client-cert-rotation"
        })
        .unwrap_or_else(|| panic!("no kubelet-finalize warning: {ev:#?}"));
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{warning}"
    );
    assert!(
        std::fs::read_to_string(&kubelet_conf)
            .unwrap()
            .contains("client-certificate-data")
    );

    // The addon objects exist, filled from the configuration.
    let get = |args: &[&str]| kubectl(r, args);
    assert_eq!(
        get(&[
            "-n",
            "kube-system",
            "get",
            "service",
            "kube-dns",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "10.96.0.10"
    );
    assert_eq!(
        get(&[
            "-n",
            "kube-system",
            "get",
            "deployment",
            "coredns",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "2 k8s.gcr.io/coredns:1.7.0"
    );
    assert!(
        get(&[
            "-n",
            "kube-system",
            "get",
            "configmap",
            "coredns",
            "-o",
            "jsonpath={.data.Corefile}"
        ])
        .contains("kubernetes cluster.local in-addr.arpa ip6.arpa")
    );
    assert_eq!(
        get(&[
            "-n",
            "kube-system",
            "get",
            "daemonset",
            "kube-proxy",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ]),
        "k8s.gcr.io/kube-proxy:v1.20.2"
    );
    assert!(
        get(&[
            "-n",
            "kube-system",
            "get",
            "configmap",
            "kube-proxy",
            "-o",
            "jsonpath={.data.kubeconfig\\.conf}"
        ])
        .contains("server: https://127.0.0.60:16460")
    );
    for (ns, kind, name) in [
        ("kube-system", "serviceaccount", "coredns"),
        ("kube-system", "serviceaccount", "kube-proxy"),
        (
            "",
            "clusterrole.rbac.authorization.k8s.io",
            "system:coredns",
        ),
        (
            "",
            "clusterrolebinding.rbac.authorization.k8s.io",
            "system:coredns",
        ),
        (
            "",
            "clusterrolebinding.rbac.authorization.k8s.io",
            "kubeadm:node-proxier",
        ),
        (
            "kube-system",
            "role.rbac.authorization.k8s.io",
            "kube-proxy",
        ),
        (
            "kube-system",
            "rolebinding.rbac.authorization.k8s.io",
            "kube-proxy",
        ),
    ] {
        let mut args = vec!["get", kind, name, "-o", "name"];
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        assert_eq!(get(&args).trim(), format!("{kind}/{name}"));
    }
    // The service account can do what kube-proxy needs (system:node-proxier).
    assert_eq!(
        get(&[
            "auth",
            "can-i",
            "watch",
            "endpointslices.discovery.k8s.io",
            "--as",
            "system:serviceaccount:kube-system:kube-proxy"
        ])
        .trim(),
        "yes"
    );
    assert_eq!(
        get(&[
            "auth",
            "can-i",
            "list",
            "services",
            "--as",
            "system:serviceaccount:kube-system:coredns"
        ])
        .trim(),
        "yes"
    );

    // What init's RBAC grants, as the API server's authorizer decides it (kubectl impersonating
    // as super-admin; `-A` for cluster-scoped kinds, or kubectl warns): the init token's user
    // and groups, a node, and an anonymous user. The "no"s show the answers are not blanket
    // ones: a token may not read Secrets, nor have a node's own renewal approved; an anonymous
    // user reads cluster-info and nothing else in kube-public.
    let init_token = [
        "system:bootstrap:abcdef",
        "system:bootstrappers",
        "system:bootstrappers:kubeadm:default-node-token",
    ];
    let node = ["system:node:n1", "system:nodes"];
    let csrs = "certificatesigningrequests.certificates.k8s.io";
    let kubeadm_config = ["get", "configmap/kubeadm-config", "-n", "kube-system"];
    let kubelet_config = ["get", "configmap/kubelet-config-1.20", "-n", "kube-system"];
    let cases: [(&[&str], &[&str], &str); 9] = [
        (&init_token, &["get", "nodes", "-A"], "yes"),
        (&init_token, &["create", csrs, "-A"], "yes"),
        (
            &init_token,
            &["create", csrs, "-A", "--subresource", "nodeclient"],
            "yes",
        ),
        (
            &init_token,
            &["create", csrs, "-A", "--subresource", "selfnodeclient"],
            "no",
        ),
        (&init_token, &kubeadm_config, "yes"),
        (&init_token, &kubelet_config, "yes"),
        (&init_token, &["get", "secrets", "-n", "kube-system"], "no"),
        (
            &node,
            &["create", csrs, "-A", "--subresource", "selfnodeclient"],
            "yes",
        ),
        (&node, &kubeadm_config, "yes"),
    ];
    for (who, what, expected) in cases {
        let mut args = vec!["auth", "can-i"];
        args.extend_from_slice(what);
        args.extend(["--as", who[0]]);
        for group in &who[1..] {
            args.extend(["--as-group", group]);
        }
        assert_eq!(bed::kubectl(r, &args).trim(), expected, "{args:?}");
    }
    // can-i asks by a SelfSubjectAccessReview, which an anonymous user may not create: ask by
    // the read itself (denied before the lookup, so a missing ConfigMap is Forbidden too).
    let anonymous_get = |name: &str| {
        let args = ["get", "configmap", name, "-n", "kube-public", "-o", "name"];
        bed::kubectl(r, &[&args[..], &["--as", "system:anonymous"]].concat())
    };
    assert_eq!(
        anonymous_get("cluster-info").trim(),
        "configmap/cluster-info"
    );
    let denied = anonymous_get("other");
    assert!(
        denied.contains("Forbidden") && denied.contains("\"system:anonymous\""),
        "{denied}"
    );

    // Let the controllers finish with the new objects (status, service-account tokens, the
    // node lifecycle controller marking the kubelet-less Node unreachable after its startup
    // grace period) so that only a change by kubestrap could move a resourceVersion.
    wait_for(
        "the node lifecycle controller to mark n1",
        Duration::from_secs(150),
        || {
            get(&["get", "node", "n1", "-o", "jsonpath={.spec.taints}"])
                .contains("node.kubernetes.io/unreachable")
        },
    );
    let written: std::collections::BTreeSet<_> = written_objects(&ev).into_iter().collect();
    let of_written = |all: std::collections::BTreeMap<(String, String, String), String>| {
        all.into_iter()
            .filter(|(k, _)| written.contains(k))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let mut before = of_written(resource_versions(r));
    let mut stable_since = Instant::now();
    let settle = Instant::now();
    while stable_since.elapsed() < Duration::from_secs(8) {
        assert!(
            settle.elapsed() < Duration::from_secs(120),
            "objects never settled"
        );
        std::thread::sleep(Duration::from_secs(2));
        let now = of_written(resource_versions(r));
        if now != before {
            before = now;
            stable_since = Instant::now();
        }
    }
    // Everything init wrote is in the snapshot: the addons, the token, the Node, the RBAC.
    for key in [
        ("Deployment", "kube-system", "coredns"),
        ("DaemonSet", "kube-system", "kube-proxy"),
        ("Service", "kube-system", "kube-dns"),
        ("ConfigMap", "kube-public", "cluster-info"),
        ("Secret", "kube-system", "bootstrap-token-abcdef"),
        ("Secret", "kube-system", "kubeadm-certs"),
        ("Node", "", "n1"),
    ] {
        let key = (key.0.to_string(), key.1.to_string(), key.2.to_string());
        assert!(before.contains_key(&key), "{key:?} not in {before:#?}");
    }
    // kubeadm 1.20's admin.conf needs no binding, and kubeadm 1.20 makes none.
    let binding = (
        "ClusterRoleBinding".into(),
        String::new(),
        "kubeadm:cluster-admins".into(),
    );
    assert!(!before.contains_key(&binding), "{before:#?}");

    // The second init on the same node: succeeds, creates and updates nothing, and every
    // object keeps its resourceVersion.
    let started = Instant::now();
    let (code, ev2) = init_with(r, advertise, 16460, &config, &token);
    eprintln!("second init: {:?}", started.elapsed());
    assert_completed_past_the_wait(code, &ev2);
    // It reports so: no request sent, every object found as wanted (issue 12, item 10).
    let result = ev2.last().unwrap();
    assert_eq!(result["api_objects"], serde_json::json!([]), "{result:#}");
    let unchanged = result["api_objects_unchanged"].as_array().unwrap();
    for (kind, name) in [
        ("Deployment", "coredns"),
        ("DaemonSet", "kube-proxy"),
        ("ConfigMap", "cluster-info"),
        ("Secret", "bootstrap-token-abcdef"),
        ("Node", "n1"),
    ] {
        assert!(
            unchanged
                .iter()
                .any(|o| o["kind"] == kind && o["name"] == name),
            "{kind} {name} not reported unchanged: {result:#}"
        );
    }
    let after = of_written(resource_versions(r));
    assert_eq!(after, before, "objects changed by the second init");
}
