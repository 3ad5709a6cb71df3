//! `kubestrap doctor`'s offline pass on realistic node roots: a control plane rendered by init's
//! own phases (certs, kubeconfig, etcd, control-plane; v1.20.2 and v1.37.0) and a worker built
//! as join leaves one (ca.crt, kubelet.conf naming the kubelet's rotated certificate, the
//! kubelet's config and serving certificate). Healthy nodes give no finding; then each test
//! breaks one link and asserts the finding's id, its evidence and that the fix names the
//! command. ECDSA keys keep the nodes fast to make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubestrap_phases::NodeRoot;
use kubestrap_phases::doctor::{DoctorInputs, EXPIRING_WITHIN, Finding, NodeFacts, Severity, node};
use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_phases::domain::pki::{
    CertInfo, CertProfile, EncryptionAlgorithm, PrivateKey, Usage, issue, self_signed_ca,
};
use kubestrap_test_support::static_pods::{init_context, init_steps, run_steps};
use time::OffsetDateTime;

const ADVERTISE: &str = "127.0.0.7";
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// A control plane as `kubestrap init` leaves it, plus the kubelet configuration kubeadm's
/// kubelet-start writes (rotation on, the cluster domain, the client CA).
async fn control_plane(version: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let ctx = init_context(
        root.path(),
        version,
        ADVERTISE,
        "encryptionAlgorithm: ECDSA-P256\n",
    );
    run_steps(&ctx, &init_steps()).await;
    let ca = root.path().join("etc/kubernetes/pki/ca.crt");
    write_kubelet_config(root.path(), &ca, true);
    root
}

fn write_kubelet_config(root: &Path, ca: &Path, rotate: bool) {
    let dir = root.join("var/lib/kubelet");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  x509:\n    clientCAFile: {}\nclusterDomain: cluster.local\nrotateCertificates: {rotate}\n",
            ca.display()
        ),
    )
    .unwrap();
}

fn pem_key(path: &Path) -> PrivateKey {
    PrivateKey::from_pem(path, &std::fs::read(path).unwrap()).unwrap()
}

fn pem_cert(path: &Path) -> CertInfo {
    CertInfo::from_pem(path, &std::fs::read(path).unwrap()).unwrap()
}

fn ecdsa() -> PrivateKey {
    EncryptionAlgorithm::EcdsaP256.generate().unwrap()
}

/// A worker as join leaves it, trusting the CA of `cp` (a control plane root): ca.crt,
/// the kubelet's rotated client certificate kubelet-client-<date>.pem with the
/// kubelet-client-current.pem link kubelet.conf names, the kubelet's self-signed serving
/// certificate, its config.
fn worker(cp: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let pki = r.join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    let cp_pki = cp.join("etc/kubernetes/pki");
    std::fs::copy(cp_pki.join("ca.crt"), pki.join("ca.crt")).unwrap();
    let ca = pem_cert(&cp_pki.join("ca.crt"));
    let ca_key = pem_key(&cp_pki.join("ca.key"));

    let kubelet_pki = r.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&kubelet_pki).unwrap();
    let key = ecdsa();
    let cert = issue(
        &CertProfile::new("system:node:worker-1", Usage::Client).org("system:nodes"),
        &key,
        &ca.der,
        &ca_key,
        YEAR,
    )
    .unwrap();
    let rotated = kubelet_pki.join("kubelet-client-2025-01-01-00-00-00.pem");
    std::fs::write(&rotated, format!("{cert}{}", key.to_pem())).unwrap();
    let current = kubelet_pki.join("kubelet-client-current.pem");
    std::os::unix::fs::symlink(&rotated, &current).unwrap();

    let mut kc = KubeConfig::with_client_cert(
        "kubernetes",
        "https://127.0.0.7:6443",
        &std::fs::read(cp_pki.join("ca.crt")).unwrap(),
        "default-auth",
        None,
        b"",
    );
    kc.users[0].user.client_key_data.clear();
    kc.users[0].user.client_certificate = Some(current.display().to_string());
    kc.users[0].user.client_key = Some(current.display().to_string());
    std::fs::write(r.join("etc/kubernetes/kubelet.conf"), kc.to_yaml().unwrap()).unwrap();

    write_serving_cert(r, "worker-1");
    write_kubelet_config(r, &pki.join("ca.crt"), true);
    root
}

/// The kubelet's self-signed serving pair: a leaf for `san` signed by its own one-off CA.
fn write_serving_cert(root: &Path, san: &str) {
    let own_ca_key = ecdsa();
    let own_ca = self_signed_ca(
        &CertProfile::new(format!("{san}-ca@1700000000"), Usage::Ca),
        &own_ca_key,
        YEAR,
    )
    .unwrap();
    let own_ca = CertInfo::from_pem(Path::new("x"), own_ca.as_bytes()).unwrap();
    let mut profile = CertProfile::new(format!("{san}@1700000000"), Usage::Server);
    profile.san(san);
    let key = ecdsa();
    let pem = issue(&profile, &key, &own_ca.der, &own_ca_key, YEAR).unwrap();
    let dir = root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kubelet.crt"), pem).unwrap();
    std::fs::write(dir.join("kubelet.key"), key.to_pem()).unwrap();
}

fn doctor_at(root: &Path, now: OffsetDateTime) -> Vec<Finding> {
    let inputs = DoctorInputs {
        root: NodeRoot::new(root).unwrap(),
        kubeconfig: None,
        now,
        expiring_within: EXPIRING_WITHIN,
        api_timeout: Duration::from_secs(1),
    };
    let facts = NodeFacts::gather(&inputs.root);
    node::check(&inputs, &facts)
}

fn doctor(root: &Path) -> Vec<Finding> {
    doctor_at(root, OffsetDateTime::now_utc())
}

/// The one finding with `id` whose evidence mentions `subject`; panics listing all otherwise.
fn finding<'a>(all: &'a [Finding], id: &str, subject: &str) -> &'a Finding {
    let hits: Vec<&Finding> = all
        .iter()
        .filter(|f| f.id.as_str() == id)
        .filter(|f| {
            f.evidence.iter().any(|e| {
                e.subject.contains(subject)
                    || e.value.as_deref().is_some_and(|v| v.contains(subject))
            })
        })
        .collect();
    assert_eq!(hits.len(), 1, "one {id} about {subject} in {all:#?}");
    hits[0]
}

fn ids(all: &[Finding]) -> Vec<&str> {
    all.iter().map(|f| f.id.as_str()).collect()
}

fn pki(root: &Path) -> PathBuf {
    root.join("etc/kubernetes/pki")
}

fn manifest(root: &Path, component: &str) -> PathBuf {
    root.join(format!("etc/kubernetes/manifests/{component}.yaml"))
}

/// Replaces `from` by `to` in a file, asserting `from` was there.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains(from),
        "{} has no {from:?}:\n{text}",
        path.display()
    );
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// No finding mentions private key material.
fn assert_no_secrets(all: &[Finding]) {
    let text = serde_json::to_string(all).unwrap();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[tokio::test]
async fn healthy_control_planes_give_no_finding() {
    for version in ["v1.20.2", "v1.37.0"] {
        let root = control_plane(version).await;
        let all = doctor(root.path());
        assert!(all.is_empty(), "{version}: {all:#?}");
    }
}

#[tokio::test]
async fn a_healthy_worker_gives_no_finding() {
    let cp = control_plane("v1.37.0").await;
    let w = worker(cp.path());
    let all = doctor(w.path());
    assert!(all.is_empty(), "{all:#?}");
}

#[tokio::test]
async fn a_missing_certificate_names_the_phase_that_makes_it() {
    let root = control_plane("v1.37.0").await;
    std::fs::remove_file(pki(root.path()).join("apiserver.crt")).unwrap();
    std::fs::remove_file(pki(root.path()).join("etcd/peer.key")).unwrap();
    let all = doctor(root.path());
    let f = finding(&all, "cert-missing", "apiserver.crt");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.fix.contains("kubestrap init phase certs apiserver"),
        "{f:#?}"
    );
    let f = finding(&all, "cert-missing", "etcd/peer.key");
    assert!(
        f.fix.contains("kubestrap init phase certs etcd-peer"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn without_an_etcd_manifest_the_etcd_certificates_are_not_required() {
    let root = control_plane("v1.37.0").await;
    std::fs::remove_file(manifest(root.path(), "etcd")).unwrap();
    std::fs::remove_dir_all(pki(root.path()).join("etcd")).unwrap();
    std::fs::remove_file(pki(root.path()).join("apiserver-etcd-client.crt")).unwrap();
    std::fs::remove_file(pki(root.path()).join("apiserver-etcd-client.key")).unwrap();
    let all = doctor(root.path());
    // kube-apiserver's --etcd-* flags still name the removed files: that is the manifest's
    // business, not the certificate set's.
    assert!(!ids(&all).contains(&"cert-missing"), "{all:#?}");
}

#[tokio::test]
async fn a_worker_without_the_cluster_ca_is_told_to_join_again() {
    let cp = control_plane("v1.37.0").await;
    let w = worker(cp.path());
    std::fs::remove_file(pki(w.path()).join("ca.crt")).unwrap();
    let all = doctor(w.path());
    let f = finding(&all, "cert-missing", "ca.crt");
    assert!(f.fix.contains("kubestrap join"), "{f:#?}");
}

#[tokio::test]
async fn expired_and_expiring_certificates_name_their_renewal() {
    let root = control_plane("v1.37.0").await;
    // Thirteen months on, every leaf and kubeconfig certificate (a year) has expired.
    let later = OffsetDateTime::now_utc() + time::Duration::days(396);
    let all = doctor_at(root.path(), later);
    let f = finding(&all, "cert-expired", "apiserver.crt");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.evidence[0].field.as_deref(), Some("notAfter"));
    assert!(f.fix.contains("kubestrap certs renew apiserver"), "{f:#?}");
    let f = finding(&all, "cert-expired", "/admin.conf");
    assert!(f.fix.contains("kubestrap certs renew admin.conf"), "{f:#?}");

    // Eleven months on: within 30 days of the end.
    let soon = OffsetDateTime::now_utc() + time::Duration::days(350);
    let all = doctor_at(root.path(), soon);
    let f = finding(&all, "cert-expiring", "front-proxy-client.crt");
    assert_eq!(f.severity, Severity::Warning);
    assert!(!ids(&all).contains(&"cert-expired"), "{all:#?}");

    // Ten years and a day: the CA too, whose fix says what replacing it means.
    let much_later = OffsetDateTime::now_utc() + time::Duration::days(3651);
    let all = doctor_at(root.path(), much_later);
    let f = finding(&all, "cert-expired", "pki/ca.crt");
    assert!(f.fix.contains("new CA"), "{f:#?}");
}

#[tokio::test]
async fn a_leaf_from_another_ca_is_not_signed_by_its_ca() {
    let root = control_plane("v1.37.0").await;
    let other_key = ecdsa();
    let other = self_signed_ca(
        &CertProfile::new("front-proxy-ca", Usage::Ca),
        &other_key,
        YEAR,
    )
    .unwrap();
    let other = CertInfo::from_pem(Path::new("x"), other.as_bytes()).unwrap();
    let key = ecdsa();
    let pem = issue(
        &CertProfile::new("front-proxy-client", Usage::Client),
        &key,
        &other.der,
        &other_key,
        YEAR,
    )
    .unwrap();
    std::fs::write(pki(root.path()).join("front-proxy-client.crt"), pem).unwrap();
    std::fs::write(
        pki(root.path()).join("front-proxy-client.key"),
        key.to_pem(),
    )
    .unwrap();
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["cert-not-signed-by-ca"], "{all:#?}");
    let f = finding(&all, "cert-not-signed-by-ca", "front-proxy-client.crt");
    assert_eq!(f.evidence[0].field.as_deref(), Some("issuer"));
    assert!(
        f.fix
            .contains("kubestrap init phase certs front-proxy-client"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_kubeconfig_client_certificate_from_another_ca_is_named() {
    let root = control_plane("v1.37.0").await;
    let conf = root.path().join("etc/kubernetes/scheduler.conf");
    let mut kc = KubeConfig::from_yaml(&conf, &std::fs::read(&conf).unwrap()).unwrap();
    let other_key = ecdsa();
    let other =
        self_signed_ca(&CertProfile::new("kubernetes", Usage::Ca), &other_key, YEAR).unwrap();
    let other = CertInfo::from_pem(Path::new("x"), other.as_bytes()).unwrap();
    let key = ecdsa();
    let pem = issue(
        &CertProfile::new("system:kube-scheduler", Usage::Client),
        &key,
        &other.der,
        &other_key,
        YEAR,
    )
    .unwrap();
    kc.set_client_credentials(pem.as_bytes(), key.to_pem().as_bytes());
    std::fs::write(&conf, kc.to_yaml().unwrap()).unwrap();
    let all = doctor(root.path());
    let f = finding(&all, "cert-not-signed-by-ca", "scheduler.conf");
    assert!(
        f.fix.contains("kubestrap certs renew scheduler.conf"),
        "{f:#?}"
    );
    assert_no_secrets(&all);
}

#[tokio::test]
async fn a_swapped_key_does_not_match_its_certificate() {
    let root = control_plane("v1.20.2").await;
    let key = pki(root.path()).join("apiserver-etcd-client.key");
    std::fs::write(&key, ecdsa().to_pem()).unwrap();
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["cert-key-mismatch"], "{all:#?}");
    let f = finding(&all, "cert-key-mismatch", "apiserver-etcd-client.crt");
    assert!(
        f.fix
            .contains("kubestrap init phase certs apiserver-etcd-client"),
        "{f:#?}"
    );
    assert_no_secrets(&all);
}

#[tokio::test]
async fn an_advertise_address_the_serving_certificates_lack_is_named() {
    let root = control_plane("v1.37.0").await;
    edit(
        &manifest(root.path(), "kube-apiserver"),
        "--advertise-address=127.0.0.7",
        "--advertise-address=127.0.0.99",
    );
    edit(
        &manifest(root.path(), "etcd"),
        "--advertise-client-urls=https://127.0.0.7:2379",
        "--advertise-client-urls=https://127.0.0.99:2379",
    );
    let all = doctor(root.path());
    let f = finding(&all, "cert-san-missing", "apiserver.crt");
    assert_eq!(f.evidence[0].field.as_deref(), Some("subjectAltName"));
    assert_eq!(f.evidence[0].value.as_deref(), Some("127.0.0.99"));
    assert!(
        f.fix.contains("kubestrap init phase certs apiserver"),
        "{f:#?}"
    );
    let f = finding(&all, "cert-san-missing", "etcd/server.crt");
    assert!(
        f.fix.contains("kubestrap init phase certs etcd-server"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_server_certificate_without_server_auth_is_named() {
    let root = control_plane("v1.37.0").await;
    let p = pki(root.path());
    let current = pem_cert(&p.join("apiserver.crt"));
    let mut profile = CertProfile::new("kube-apiserver", Usage::Client);
    profile.dns_names = current.dns_names.clone();
    profile.ip_addresses = current.ip_addresses.clone();
    let pem = issue(
        &profile,
        &pem_key(&p.join("apiserver.key")),
        &pem_cert(&p.join("ca.crt")).der,
        &pem_key(&p.join("ca.key")),
        YEAR,
    )
    .unwrap();
    std::fs::write(p.join("apiserver.crt"), pem).unwrap();
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["cert-usage-wrong"], "{all:#?}");
    let f = &all[0];
    assert!(f.what.contains("serverAuth"), "{f:#?}");
    assert!(
        f.fix.contains("kubestrap init phase certs apiserver"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_kubeconfig_trusting_another_ca_is_named() {
    let root = control_plane("v1.37.0").await;
    let conf = root.path().join("etc/kubernetes/controller-manager.conf");
    let mut kc = KubeConfig::from_yaml(&conf, &std::fs::read(&conf).unwrap()).unwrap();
    let other = self_signed_ca(&CertProfile::new("not-the-ca", Usage::Ca), &ecdsa(), YEAR).unwrap();
    kc.set_ca_data(other.as_bytes());
    std::fs::write(&conf, kc.to_yaml().unwrap()).unwrap();
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["kubeconfig-ca-mismatch"], "{all:#?}");
    let f = &all[0];
    assert_eq!(
        f.evidence[0].field.as_deref(),
        Some("clusters[].cluster.certificate-authority-data")
    );
    assert!(f.fix.contains("--embed-certs"), "{f:#?}");
}

#[tokio::test]
async fn a_component_given_another_ca_file_is_named() {
    let root = control_plane("v1.37.0").await;
    let p = pki(root.path());
    edit(
        &manifest(root.path(), "kube-controller-manager"),
        &format!("--root-ca-file={}", p.join("ca.crt").display()),
        &format!("--root-ca-file={}", p.join("front-proxy-ca.crt").display()),
    );
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["ca-bundle-mismatch"], "{all:#?}");
    let f = &all[0];
    assert_eq!(
        f.evidence[0].field.as_deref(),
        Some("spec.containers[0].command --root-ca-file")
    );
    assert!(
        f.fix.contains(&p.join("ca.crt").display().to_string()),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_kubelet_conf_pointing_at_a_missing_certificate_is_named() {
    let cp = control_plane("v1.37.0").await;
    let w = worker(cp.path());
    let current = w
        .path()
        .join("var/lib/kubelet/pki/kubelet-client-current.pem");
    std::fs::remove_file(&current).unwrap();
    let all = doctor(w.path());
    let f = finding(
        &all,
        "kubelet-conf-cert-missing",
        "kubelet-client-current.pem",
    );
    assert_eq!(
        f.evidence[0].field.as_deref(),
        Some("users[].user.client-certificate")
    );
    // The dated certificate is still there: the fix relinks it.
    assert!(f.fix.contains("ln -sf"), "{f:#?}");
    assert!(
        f.fix.contains("kubelet-client-2025-01-01-00-00-00.pem"),
        "{f:#?}"
    );

    // Nothing left to link: join again.
    std::fs::remove_file(
        w.path()
            .join("var/lib/kubelet/pki/kubelet-client-2025-01-01-00-00-00.pem"),
    )
    .unwrap();
    let all = doctor(w.path());
    assert!(
        all.iter()
            .filter(|f| f.id.as_str() == "kubelet-conf-cert-missing")
            .all(|f| f.fix.contains("kubestrap join")),
        "{all:#?}"
    );
}

#[tokio::test]
async fn client_rotation_off_is_a_warning() {
    let cp = control_plane("v1.37.0").await;
    let w = worker(cp.path());
    write_kubelet_config(w.path(), &pki(w.path()).join("ca.crt"), false);
    let all = doctor(w.path());
    assert_eq!(ids(&all), ["kubelet-client-rotation-off"], "{all:#?}");
    assert_eq!(all[0].severity, Severity::Warning);
    assert_eq!(
        all[0].evidence[0].field.as_deref(),
        Some("rotateCertificates")
    );
    assert!(
        all[0].fix.contains("rotateCertificates: true"),
        "{:#?}",
        all[0]
    );

    // The command-line flag wins over the file.
    write_kubelet_config(w.path(), &pki(w.path()).join("ca.crt"), true);
    std::fs::write(
        w.path().join("var/lib/kubelet/kubeadm-flags.env"),
        "KUBELET_KUBEADM_ARGS=\"--rotate-certificates=false\"\n",
    )
    .unwrap();
    let all = doctor(w.path());
    assert_eq!(ids(&all), ["kubelet-client-rotation-off"], "{all:#?}");
}

#[tokio::test]
async fn a_serving_certificate_for_another_name_is_named() {
    let cp = control_plane("v1.37.0").await;
    let w = worker(cp.path());
    write_serving_cert(w.path(), "someone-else");
    let all = doctor(w.path());
    assert_eq!(ids(&all), ["kubelet-serving-cert"], "{all:#?}");
    assert_eq!(all[0].evidence[0].value.as_deref(), Some("worker-1"));
    assert!(
        all[0].fix.contains("systemctl restart kubelet"),
        "{:#?}",
        all[0]
    );
}

#[tokio::test]
async fn a_flag_path_no_volume_mounts_is_named() {
    let root = control_plane("v1.37.0").await;
    let policy = root.path().join("etc/kubernetes/audit/policy.yaml");
    edit(
        &manifest(root.path(), "kube-apiserver"),
        "    - --advertise-address=127.0.0.7\n",
        &format!(
            "    - --advertise-address=127.0.0.7\n    - --audit-policy-file={}\n    - --etcd-prefix=/registry\n    - --authorization-always-allow-paths=/healthz,/readyz\n",
            policy.display()
        ),
    );
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["static-pod-path-unmounted"], "{all:#?}");
    let f = &all[0];
    assert_eq!(
        f.evidence[0].field.as_deref(),
        Some("spec.containers[0].command --audit-policy-file")
    );
    assert_eq!(
        f.evidence[0].value.as_deref(),
        Some(policy.to_str().unwrap())
    );
    assert!(
        f.fix.contains("hostPath volume") && f.fix.contains("extraVolumes"),
        "{f:#?}"
    );
}

#[tokio::test]
async fn a_controller_manager_that_cannot_sign_is_named() {
    let root = control_plane("v1.37.0").await;
    let key = pki(root.path()).join("ca.key");
    edit(
        &manifest(root.path(), "kube-controller-manager"),
        &format!("    - --cluster-signing-key-file={}\n", key.display()),
        "",
    );
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["controller-manager-signing"], "{all:#?}");
    let f = &all[0];
    assert_eq!(f.evidence[0].value.as_deref(), Some("(not set)"));
    assert!(
        f.fix
            .contains(&format!("--cluster-signing-key-file={}", key.display())),
        "{f:#?}"
    );
    assert!(f.what.contains("kubelet CSRs"), "{f:#?}");
}

#[tokio::test]
async fn controllers_the_chain_needs_must_run() {
    let root = control_plane("v1.20.2").await;
    edit(
        &manifest(root.path(), "kube-controller-manager"),
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--controllers=*,-csrsigning,tokencleaner",
    );
    let all = doctor(root.path());
    assert_eq!(
        ids(&all),
        [
            "controller-manager-controllers",
            "controller-manager-controllers"
        ],
        "{all:#?}"
    );
    assert!(
        all.iter().any(|f| f.what.contains("csrsigning")),
        "{all:#?}"
    );
    assert!(
        all.iter().any(|f| f.what.contains("bootstrapsigner")),
        "{all:#?}"
    );
    assert!(
        all.iter().all(|f| f
            .fix
            .contains("--controllers=*,bootstrapsigner,tokencleaner")),
        "{all:#?}"
    );
}

#[tokio::test]
async fn components_outside_the_skew_policy_are_named() {
    let root = control_plane("v1.37.0").await;
    edit(
        &manifest(root.path(), "kube-controller-manager"),
        "kube-controller-manager:v1.37.0",
        "kube-controller-manager:v1.35.0",
    );
    edit(
        &manifest(root.path(), "kube-scheduler"),
        "kube-scheduler:v1.37.0",
        "kube-scheduler:v1.36.4",
    );
    let all = doctor(root.path());
    // One minor older is within the policy; two is not.
    assert_eq!(ids(&all), ["static-pod-version-skew"], "{all:#?}");
    let f = &all[0];
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.evidence[0].field.as_deref(),
        Some("spec.containers[0].image")
    );
    assert!(
        f.evidence[0]
            .value
            .as_deref()
            .unwrap()
            .ends_with(":v1.35.0")
    );

    edit(
        &manifest(root.path(), "kube-scheduler"),
        "kube-scheduler:v1.36.4",
        "kube-scheduler:v1.38.0",
    );
    let all = doctor(root.path());
    assert!(
        all.iter()
            .any(|f| f.what.contains("newer than kube-apiserver")),
        "{all:#?}"
    );
}

#[tokio::test]
async fn a_truncated_certificate_is_unreadable_and_named() {
    let root = control_plane("v1.37.0").await;
    let crt = pki(root.path()).join("apiserver-kubelet-client.crt");
    std::fs::write(&crt, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    let all = doctor(root.path());
    assert_eq!(ids(&all), ["file-unreadable"], "{all:#?}");
    assert_eq!(all[0].evidence[0].subject, crt.display().to_string());
}

/// `static-pod-drift` (the online pass, judged here on a rendered node): the manifests init
/// wrote are what the configuration renders; a flag added to a manifest alone is named.
#[tokio::test]
async fn a_flag_only_in_the_manifest_is_drift_from_the_configuration() {
    use kubestrap_phases::doctor::cluster::drift;
    let root = control_plane("v1.20.2").await;
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = kubestrap_test_support::static_pods::init_config(
        cfg_dir.path(),
        "v1.20.2",
        ADVERTISE,
        "encryptionAlgorithm: ECDSA-P256\n",
    );
    let node_root = NodeRoot::new(root.path()).unwrap();
    let facts = NodeFacts::gather(&node_root);
    assert_eq!(drift::check(&cfg.cluster, &facts, &node_root), []);
    edit(
        &manifest(root.path(), "kube-scheduler"),
        "    - --leader-elect=true",
        "    - --leader-elect=true\n    - --v=4",
    );
    let found = drift::check(&cfg.cluster, &facts, &node_root);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].id.as_str(), "static-pod-drift");
    assert_eq!(found[0].evidence[0].value.as_deref(), Some("--v=4"));
    assert!(
        found[0].fix.contains("scheduler.extraArgs"),
        "{}",
        found[0].fix
    );
}
