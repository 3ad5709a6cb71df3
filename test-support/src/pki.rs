//! PKI fixtures: a context over a fixed [`PkiSpec`], a phase runner, and the judges
//! (openssl, kubectl) that read what the phases wrote.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use kubestrap_phases::config::KubernetesVersion;
use kubestrap_phases::contract::effects::{Silent, WrittenFile};
use kubestrap_phases::domain::pki::{
    ControlPlaneEndpoint, DEFAULT_CA_VALIDITY, DEFAULT_CERT_VALIDITY, EncryptionAlgorithm,
    EtcdTopology, PkiContext, PkiSession, PkiSpec,
};
use kubestrap_phases::{
    Applicability, Effects, HostFs, PhaseError, Step, phases::certs, phases::kubeconfig,
};

pub struct Ctx {
    pub spec: PkiSpec,
    pub session: PkiSession,
}

impl PkiContext for Ctx {
    fn pki(&self) -> &PkiSpec {
        &self.spec
    }
    fn pki_session(&self) -> &PkiSession {
        &self.session
    }
}

pub fn spec(root: &Path, alg: EncryptionAlgorithm) -> PkiSpec {
    PkiSpec {
        cert_dir: root.join("etc/kubernetes/pki"),
        kubeconfig_dir: root.join("etc/kubernetes"),
        node_name: "node-1".into(),
        advertise_address: "192.0.2.10".parse().unwrap(),
        bind_port: 6443,
        control_plane_endpoint: Some(ControlPlaneEndpoint {
            host: "cp.example.test".into(),
            port: Some(7443),
        }),
        apiserver_service_ip: "10.96.0.1".parse::<IpAddr>().unwrap(),
        dns_domain: "cluster.local".into(),
        apiserver_cert_sans: vec!["extra.example.test".into(), "203.0.113.7".into()],
        etcd_server_cert_sans: vec!["etcd.example.test".into()],
        etcd_peer_cert_sans: vec!["198.51.100.5".into()],
        etcd: EtcdTopology::Local,
        key_algorithm: alg,
        ca_validity: DEFAULT_CA_VALIDITY,
        cert_validity: DEFAULT_CERT_VALIDITY,
        cluster_name: "kubernetes".into(),
        kubernetes_version: KubernetesVersion::default_version(),
    }
}

pub fn ctx(spec: PkiSpec) -> Ctx {
    let session = PkiSession::for_spec(&spec, &HostFs::real());
    Ctx { spec, session }
}

pub fn all_steps() -> Vec<Box<dyn Step<Ctx>>> {
    let mut v = certs::phases::<Ctx>();
    v.extend(kubeconfig::phases::<Ctx>());
    v
}

/// Runs `certs all` then `kubeconfig all`; the first error stops the run and names the phase.
pub async fn run_all(ctx: &Ctx, fs: &HostFs) -> Result<Vec<WrittenFile>, (String, PhaseError)> {
    run_steps(ctx, fs, &all_steps()).await
}

/// The phase's path in init's tree (`certs/apiserver`, `kubeconfig/admin`).
pub fn phase_path(name: &str) -> String {
    let group = if kubestrap_phases::domain::pki::kubeconfig::KubeconfigName::ALL
        .iter()
        .any(|k| k.as_str() == name)
    {
        "kubeconfig"
    } else {
        "certs"
    };
    format!("{group}/{name}")
}

/// Runs `steps` in order as the engine does: each is handed the plan of the applicable ones
/// (`Effects::plan`), so the first can check what the later ones need.
pub async fn run_steps(
    ctx: &Ctx,
    fs: &HostFs,
    steps: &[Box<dyn Step<Ctx>>],
) -> Result<Vec<WrittenFile>, (String, PhaseError)> {
    let steps: Vec<_> = steps
        .iter()
        .filter(|s| s.applicability(ctx) == Applicability::Applies)
        .collect();
    let plan: Vec<String> = steps.iter().map(|s| phase_path(s.name())).collect();
    let mut out = Vec::new();
    for step in steps {
        let mut fx = Effects::new(phase_path(step.name()), fs, &Silent).with_plan(&plan);
        step.run(ctx, &mut fx)
            .await
            .map_err(|e| (step.name().to_string(), e))?;
        out.extend(fx.into_record().0);
    }
    Ok(out)
}

pub async fn run_one(ctx: &Ctx, name: &str) -> Result<Vec<WrittenFile>, PhaseError> {
    let steps: Vec<_> = all_steps()
        .into_iter()
        .filter(|s| s.name() == name)
        .collect();
    assert_eq!(steps.len(), 1, "phase {name}");
    run_steps(ctx, &HostFs::real(), &steps)
        .await
        .map_err(|(_, e)| e)
}

pub fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

/// Runs openssl and returns stdout; panics with stderr when it fails.
pub fn openssl(args: &[&str]) -> String {
    let out = run("openssl", args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `openssl x509 -text` of a certificate file, as fields.
pub struct X509Text {
    pub text: String,
}

impl X509Text {
    pub fn of(path: &Path) -> Self {
        Self {
            text: openssl(&["x509", "-in", p(path), "-noout", "-text"]),
        }
    }

    pub fn subject(&self) -> String {
        self.text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Subject: "))
            .unwrap_or("")
            .to_string()
    }

    /// The line after an extension header, and whether the header says `critical`.
    pub fn extension(&self, header: &str) -> Option<(String, bool)> {
        let lines: Vec<&str> = self.text.lines().collect();
        let i = lines.iter().position(|l| l.contains(header))?;
        Some((
            lines.get(i + 1)?.trim().to_string(),
            lines[i].contains("critical"),
        ))
    }

    pub fn sans(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .extension("X509v3 Subject Alternative Name")
            .map(|(s, _)| s.split(", ").map(str::to_string).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// Seconds until expiry, according to openssl's `-checkend`: true when still valid in `secs`.
pub fn valid_for(path: &Path, secs: u64) -> bool {
    run(
        "openssl",
        &[
            "x509",
            "-in",
            p(path),
            "-noout",
            "-checkend",
            &secs.to_string(),
        ],
    )
    .status
    .success()
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` with its content and mtime, to prove a run touched nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let m = std::fs::metadata(&path).unwrap().modified().unwrap();
                out.push((path.clone(), std::fs::read(&path).unwrap(), m));
            }
        }
    }
    out.sort();
    out
}

/// A CA made by openssl: a self-signed RSA certificate for `cn` at `crt` (its directory
/// created), its key at `key`.
pub fn openssl_ca(crt: &Path, key: &Path, cn: &str) {
    std::fs::create_dir_all(crt.parent().unwrap()).unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={cn}"),
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
        "-keyout",
        p(key),
        "-out",
        p(crt),
    ]);
}

/// Signs `csr` as it is (its extensions copied) with the CA `ca` / `ca_key`, for a year.
pub fn openssl_sign(csr: &Path, ca: &Path, ca_key: &Path, out: &Path) {
    openssl(&[
        "x509",
        "-req",
        "-in",
        p(csr),
        "-CA",
        p(ca),
        "-CAkey",
        p(ca_key),
        "-CAcreateserial",
        "-days",
        "365",
        "-copy_extensions",
        "copy",
        "-out",
        p(out),
    ]);
}

/// Asserts, by openssl, that certificate `crt` holds the public half of `key`.
pub fn assert_key_matches(crt: &Path, key: &Path) {
    assert_eq!(
        openssl(&["x509", "-in", p(crt), "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", p(key), "-pubout"]),
        "{} holds the public half of {}",
        crt.display(),
        key.display()
    );
}

/// `kubectl config view --raw -o <output>` of the kubeconfig `conf`: its stdout; panics when
/// kubectl rejects the file.
pub fn kubectl_view(conf: &Path, output: &str) -> Vec<u8> {
    let out = run(
        "kubectl",
        &[
            "--kubeconfig",
            p(conf),
            "config",
            "view",
            "--raw",
            "-o",
            output,
        ],
    );
    assert!(
        out.status.success(),
        "kubectl rejects {}: {}",
        conf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// kubectl's view of the kubeconfig `conf`, as JSON.
pub fn kubeconfig_json(conf: &Path) -> serde_json::Value {
    serde_json::from_slice(&kubectl_view(conf, "json")).unwrap()
}

/// The decoded `<field>` (`client-certificate-data`, `client-key-data`) of the first user in
/// kubectl's JSON view of a kubeconfig.
pub fn user_data(view: &serde_json::Value, field: &str) -> Vec<u8> {
    use base64::Engine;
    let data = view["users"][0]["user"][field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {view}"));
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

/// The client certificate (PEM) that kubectl hands out from the kubeconfig `conf`.
pub fn client_certificate(conf: &Path) -> Vec<u8> {
    user_data(&kubeconfig_json(conf), "client-certificate-data")
}
