//! The kubelet phases of `join`: `kubelet-start` (discover the cluster, write the kubelet's
//! bootstrap kubeconfig, the cluster CA, its configuration from the cluster and its flags, and
//! with `--tls-bootstrap builtin` bootstrap the node's client certificate) and
//! `kubelet-wait-bootstrap` (wait for kubelet.conf).
//!
//! Everything `kubelet-start` needs from the cluster is fetched, and with builtin bootstrap the
//! certificate issued, before the first file is written: a join that fails on a bad token, a
//! wrong CA pin or an unreachable endpoint leaves the node as it was.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Node;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TlsBootstrap;
use crate::config::token::BootstrapTokenString;
use crate::config::well_known::{
    CLUSTER_CONFIGURATION_KEY, KUBE_SYSTEM, KUBEADM_CONFIG_MAP, KUBELET_CONFIG_KEY,
    NODE_SERVICE_HOOK,
};
use crate::config::{Arg, CriSocket, KubernetesVersion, Release, Taint};
use crate::contract::diagnostics::Diagnostic;
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{Mode, NodeRoot};
use crate::contract::step::{PhaseError, Step};
use crate::domain::apiclient::ApiClient;
use crate::domain::bootstrap_client::{BootstrapClient, Trust, describe};
use crate::domain::discovery::{ClusterDiscovery, ClusterTrust};
use crate::domain::kubeadm_config::fetch_cluster_configuration;
use crate::domain::kubelet::{KubeletService, KubeletSpec, merge_json};
use crate::domain::node::{CRI_SOCKET_ANNOTATION, ThisNode, annotate_cri_socket};
use crate::domain::pki::kubeconfig::{
    Cluster, Context, KubeConfig, NamedCluster, NamedContext, NamedUser, User,
};
use crate::domain::tls_bootstrap::{self, CertStore};

/// kubeadm's user name in bootstrap-kubelet.conf.
pub const TLS_BOOTSTRAP_USER: &str = "tls-bootstrap-token-user";
pub const BOOTSTRAP_KUBELET_CONF: &str = "bootstrap-kubelet.conf";
pub const KUBELET_CONF: &str = "kubelet.conf";

/// What the join's kubelet phases work from; paths resolved under the node root.
#[derive(Debug, Clone, Serialize)]
pub struct JoinKubeletSpec {
    #[serde(skip)]
    pub root: NodeRoot,
    pub node_name: String,
    /// This machine's hostname (lowercase): `--hostname-override` only when it differs.
    pub hostname: Option<String>,
    pub cri_socket: CriSocket,
    pub kubelet_extra_args: Vec<Arg>,
    /// A worker's `nodeRegistration.taints` (`--register-with-taints`).
    pub register_with_taints: Vec<Taint>,
    /// `/etc/kubernetes`, resolved.
    pub kubeconfig_dir: PathBuf,
    /// `caCertPath` (`/etc/kubernetes/pki/ca.crt`), resolved.
    pub ca_cert: PathBuf,
    /// `/var/lib/kubelet`, resolved.
    pub kubelet_dir: PathBuf,
    /// `/etc/kubernetes/manifests`, resolved: the kubelet's staticPodPath on this node.
    pub manifests_dir: PathBuf,
    pub tls_bootstrap: TlsBootstrap,
    /// The token the kubelet bootstraps with (`--tls-bootstrap-token`, else the discovery token).
    pub tls_bootstrap_token: Option<BootstrapTokenString>,
    /// `timeouts.kubernetesAPICall`: each API request.
    pub api_timeout: Duration,
    /// `timeouts.tlsBootstrap`: the CSR's approval and issue, or the kubelet's bootstrap.
    pub tls_bootstrap_timeout: Duration,
    /// A joining control plane's own API server (`controlPlane.localAPIEndpoint`); `None` on a
    /// worker.
    pub local_api_server: Option<String>,
}

impl JoinKubeletSpec {
    pub fn bootstrap_kubelet_conf(&self) -> PathBuf {
        self.kubeconfig_dir.join(BOOTSTRAP_KUBELET_CONF)
    }

    pub fn kubelet_conf(&self) -> PathBuf {
        self.kubeconfig_dir.join(KUBELET_CONF)
    }

    pub fn cert_store(&self) -> CertStore {
        CertStore {
            dir: self.kubelet_dir.join("pki"),
        }
    }
}

/// The contract between the join's kubelet phases and their context.
pub trait JoinKubeletContext: Sync {
    fn join_kubelet(&self) -> &JoinKubeletSpec;
    fn discovery(&self) -> &ClusterDiscovery;
}

/// The few ClusterConfiguration fields a worker needs (kubeadm-config ConfigMap).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterFacts {
    kubernetes_version: String,
    #[serde(default)]
    image_repository: Option<String>,
    #[serde(default)]
    cluster_name: Option<String>,
}

/// What `kubelet-start` learns from the cluster before writing anything.
struct ClusterKubelet {
    version: KubernetesVersion,
    image_repository: String,
    cluster_name: String,
    kubelet_config: Value,
}

fn api_failure(what: &str, client: &BootstrapClient, e: &kube::Error) -> PhaseError {
    let hint = match e {
        kube::Error::Api(s) if s.code == 401 => Some(
            "the bootstrap token was refused: it is unknown, expired or deleted; make a new one with `kubestrap token create`",
        ),
        kube::Error::Api(s) if s.code == 403 => Some(
            "the token's groups may not read it: Role/RoleBinding kubeadm:nodes-kubeadm-config and kubeadm:kubelet-config in kube-system (`kubestrap init phase upload-config all`)",
        ),
        _ => None,
    };
    PhaseError::Failed {
        message: format!("{}: {what}: {}", client.endpoint(), describe(e)),
        hint: hint.map(str::to_string),
    }
}

/// Reads kubeadm-config and the kubelet's ConfigMap with the bootstrap token.
async fn read_cluster(client: &BootstrapClient) -> Result<ClusterKubelet, PhaseError> {
    let cm = client
        .config_map(KUBE_SYSTEM, KUBEADM_CONFIG_MAP)
        .await
        .map_err(|e| api_failure("get ConfigMap kube-system/kubeadm-config", client, &e))?
        .ok_or_else(|| {
            PhaseError::with_hint(
                format!(
                    "{}: ConfigMap kube-system/kubeadm-config does not exist",
                    client.endpoint()
                ),
                "run `kubestrap init phase upload-config kubeadm` on a control-plane node",
            )
        })?;
    let origin = format!(
        "{}: ConfigMap kube-system/kubeadm-config",
        client.endpoint()
    );
    let yaml = cm
        .data
        .as_ref()
        .and_then(|d| d.get(CLUSTER_CONFIGURATION_KEY))
        .ok_or_else(|| PhaseError::failed(format!("{origin}: no ClusterConfiguration key")))?;
    let facts: ClusterFacts = serde_saphyr::from_str(yaml)
        .map_err(|e| PhaseError::failed(format!("{origin}: ClusterConfiguration: {e}")))?;
    let version: KubernetesVersion = facts.kubernetes_version.parse().map_err(|e| {
        PhaseError::failed(format!(
            "{origin}: ClusterConfiguration.kubernetesVersion: {e}"
        ))
    })?;
    // kubeadm below 1.24 named the ConfigMap after the version; read what the cluster has.
    let candidates = Release::of(&version).kubelet_config_map_candidates();
    let mut kubelet = None;
    for (i, name) in candidates.iter().enumerate() {
        let action = format!("get ConfigMap kube-system/{name}");
        match client.config_map(KUBE_SYSTEM, name).await {
            Ok(Some(cm)) => {
                kubelet = Some((name.clone(), cm));
                break;
            }
            Ok(None) => {}
            // The token may read only the name its cluster's kubeadm wrote (and bound).
            Err(kube::Error::Api(s)) if s.code == 403 && i + 1 < candidates.len() => {}
            Err(e) => return Err(api_failure(&action, client, &e)),
        }
    }
    let (name, cm) = kubelet.ok_or_else(|| {
        PhaseError::with_hint(
            format!(
                "{}: neither ConfigMap kube-system/{} nor {} exists",
                client.endpoint(),
                candidates[0],
                candidates[1]
            ),
            "run `kubestrap init phase upload-config kubelet` on a control-plane node",
        )
    })?;
    let origin = format!("{}: ConfigMap kube-system/{name}", client.endpoint());
    let text = cm
        .data
        .as_ref()
        .and_then(|d| d.get(KUBELET_CONFIG_KEY))
        .ok_or_else(|| PhaseError::failed(format!("{origin}: no {KUBELET_CONFIG_KEY:?} key")))?;
    let kubelet_config: Value = serde_saphyr::from_str(text)
        .map_err(|e| PhaseError::failed(format!("{origin}: not YAML: {e}")))?;
    if !kubelet_config.is_object() {
        return Err(PhaseError::failed(format!(
            "{origin}: the KubeletConfiguration is not a mapping"
        )));
    }
    Ok(ClusterKubelet {
        version,
        image_repository: facts
            .image_repository
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "registry.k8s.io".into()),
        cluster_name: facts
            .cluster_name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "kubernetes".into()),
        kubelet_config,
    })
}

/// The cluster's kubelet configuration with this node's own paths: the CA file join writes
/// and this node's static-pod directory (the uploaded document carries the first
/// control-plane node's, which under another `--root` are not this node's files), and from
/// v1.34 its instance configuration (its CRI socket) over it, as kubeadm applies it.
fn node_kubelet_config(node: &KubeletSpec, mut config: Value) -> Result<String, PhaseError> {
    if let Value::Object(map) = &mut config {
        map.insert(
            "staticPodPath".into(),
            Value::String(node.static_pod_path.display().to_string()),
        );
        let auth = map
            .entry("authentication")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Value::Object(auth) = auth {
            let x509 = auth
                .entry("x509")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Value::Object(x509) = x509 {
                x509.insert(
                    "clientCAFile".into(),
                    Value::String(node.client_ca_file.display().to_string()),
                );
            }
        }
    }
    if let Some(instance) = node.instance_config() {
        merge_json(&mut config, &instance);
    }
    serde_saphyr::to_string(&config)
        .map_err(|e| PhaseError::failed(format!("cannot render the kubelet configuration: {e}")))
}

/// The API server this node's kubelet bootstraps with and then talks to: a joining control
/// plane's own from 1.33 (kubeadm's ControlPlaneKubeletLocalMode, #129956: bootstrap-kubelet.conf
/// and kubelet.conf name the local API server, which the node's static pods bring up once
/// etcd-join has run, before kubelet-wait-bootstrap), the discovered endpoint otherwise.
fn kubelet_server(
    spec: &JoinKubeletSpec,
    version: &KubernetesVersion,
    trust: &ClusterTrust,
) -> String {
    match &spec.local_api_server {
        Some(local) if Release::of(version).kubelet_uses_local_api_server() => local.clone(),
        _ => trust.server.clone(),
    }
}

/// kubeadm's bootstrap-kubelet.conf: the cluster at `server`, the token as credentials. A
/// control-plane join reads the cluster's configuration and certificates with the same.
pub fn bootstrap_kubeconfig(
    cluster_name: &str,
    server: &str,
    trust: &ClusterTrust,
    token: &BootstrapTokenString,
) -> Result<String, PhaseError> {
    use base64::Engine;
    let context = format!("{TLS_BOOTSTRAP_USER}@{cluster_name}");
    let kc = KubeConfig {
        api_version: "v1".into(),
        clusters: vec![NamedCluster {
            cluster: Cluster {
                certificate_authority_data: base64::engine::general_purpose::STANDARD
                    .encode(&trust.ca_pem),
                server: server.to_owned(),
            },
            name: cluster_name.into(),
        }],
        contexts: vec![NamedContext {
            context: Context {
                cluster: cluster_name.into(),
                user: TLS_BOOTSTRAP_USER.into(),
            },
            name: context.clone(),
        }],
        current_context: context,
        kind: "Config".into(),
        preferences: Default::default(),
        users: vec![NamedUser {
            name: TLS_BOOTSTRAP_USER.into(),
            user: User {
                token: Some(token.expose()),
                ..Default::default()
            },
        }],
    };
    kc.to_yaml()
        .map_err(|e| PhaseError::failed(format!("cannot render {BOOTSTRAP_KUBELET_CONF}: {e}")))
}

/// This node's kubelet as kubeadm-flags.env and instance-config.yaml describe it, with the
/// cluster's version and image repository (the configuration itself comes from the cluster).
fn node_kubelet(spec: &JoinKubeletSpec, cluster: &ClusterKubelet) -> KubeletSpec {
    KubeletSpec {
        root: spec.root.clone(),
        kubelet_dir: spec.kubelet_dir.clone(),
        kubernetes_version: cluster.version.clone(),
        cri_socket: spec.cri_socket.clone(),
        image_repository: cluster.image_repository.clone(),
        node_name: spec.node_name.clone(),
        hostname: spec.hostname.clone(),
        kubelet_extra_args: spec.kubelet_extra_args.clone(),
        register_with_taints: spec.register_with_taints.clone(),
        resolv_conf: None,
        user_config: None,
        client_ca_file: spec.ca_cert.clone(),
        static_pod_path: spec.manifests_dir.clone(),
        cluster_dns: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        cluster_domain: String::new(),
    }
}

fn report_requests(ctx: &impl JoinKubeletContext, fx: &mut Effects<'_>) {
    fx.set_result_field(
        "api_requests",
        Value::from(ctx.discovery().requests().get()),
    );
}

/// `join phase kubelet-start`.
#[derive(Default)]
pub struct KubeletStartJoin {
    pub kubelet: KubeletService,
}

#[async_trait]
impl<C: JoinKubeletContext> Step<C> for KubeletStartJoin {
    fn name(&self) -> &'static str {
        "kubelet-start"
    }

    fn help(&self) -> &'static str {
        "Discover the cluster, write bootstrap-kubelet.conf, ca.crt, the kubelet config and flags, then start the kubelet (or bootstrap the node's certificate with --tls-bootstrap builtin)."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.join_kubelet();
        fp.value("join-kubelet", spec)
            .value("discovery", ctx.discovery().method())
            .value("root_is_system", &spec.root.is_system());
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.join_kubelet();
        let progress = |m: String| fx.progress(m);
        let trust = ctx.discovery().cluster(&progress).await;
        let trust = match trust {
            Ok(t) => t,
            Err(e) => {
                report_requests(ctx, fx);
                return Err(e.into());
            }
        };
        let result = start(self, spec, ctx, trust, fx).await;
        report_requests(ctx, fx);
        result
    }
}

async fn start<C: JoinKubeletContext>(
    phase: &KubeletStartJoin,
    spec: &JoinKubeletSpec,
    ctx: &C,
    trust: &ClusterTrust,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    let token = spec
        .tls_bootstrap_token
        .as_ref()
        .or(trust.file_token.as_ref())
        .ok_or_else(|| {
            PhaseError::with_hint(
                "no token for the kubelet's TLS bootstrap",
                "give --tls-bootstrap-token (or discovery.tlsBootstrapToken), or a discovery file whose user has a bootstrap token",
            )
        })?;
    let client = BootstrapClient::new(
        &trust.server,
        Trust::Token {
            ca_der: &trust.ca_der,
            token,
        },
        spec.api_timeout,
        ctx.discovery().requests(),
    )
    .map_err(|e| PhaseError::failed(format!("{}: {e}", trust.server)))?;
    let cluster = read_cluster(&client).await?;
    let node = node_kubelet(spec, &cluster);
    let kubelet_config = node_kubelet_config(&node, cluster.kubelet_config.clone())?;
    let instance_config = node
        .instance_config()
        .map(|c| serde_saphyr::to_string(&c))
        .transpose()
        .map_err(|e| {
            PhaseError::failed(format!(
                "cannot render the kubelet's instance-config.yaml: {e}"
            ))
        })?;
    let server = kubelet_server(spec, &cluster.version, trust);
    let bootstrap_conf = bootstrap_kubeconfig(&cluster.cluster_name, &server, trust, token)?;
    let flags = node.flags_env();

    let credentials = match (spec.tls_bootstrap, fx.is_dry_run()) {
        (TlsBootstrap::Builtin, false) => {
            let started = Instant::now();
            let creds =
                tls_bootstrap::bootstrap(&client, &spec.node_name, spec.tls_bootstrap_timeout, fx)
                    .await
                    .map_err(|e| PhaseError::Failed {
                        message: format!("[tls-bootstrap] {e}"),
                        hint: e.hint().map(std::borrow::Cow::into_owned),
                    })?;
            let waited = started.elapsed();
            fx.progress(format!(
                "CertificateSigningRequest {} approved and issued for system:node:{} in {waited:?}",
                creds.csr_name, spec.node_name
            ));
            let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            fx.set_result_field("tls_bootstrap_ms", Value::from(ms));
            Some(creds)
        }
        (TlsBootstrap::Builtin, true) => {
            tls_bootstrap::plan(&spec.node_name, fx)
                .map_err(|e| PhaseError::failed(format!("[tls-bootstrap] {e}")))?;
            fx.warn(
                "dry run: no CertificateSigningRequest was posted; kubelet.conf is not written",
            );
            None
        }
        (TlsBootstrap::Kubelet, _) => None,
    };

    // Everything is known: write.
    fx.write_file(
        &spec.bootstrap_kubelet_conf(),
        bootstrap_conf.as_bytes(),
        Mode::PRIVATE,
    )?;
    fx.write_file(&spec.ca_cert, &trust.ca_pem, Mode::PUBLIC)?;
    if let Some(instance) = &instance_config {
        fx.write_file(
            &node.instance_config_path(),
            instance.as_bytes(),
            Mode::PUBLIC,
        )?;
    }
    fx.write_file(&node.config_path(), kubelet_config.as_bytes(), Mode::PUBLIC)?;
    fx.write_file(
        &spec.kubelet_dir.join("kubeadm-flags.env"),
        flags.as_bytes(),
        Mode::PUBLIC,
    )?;
    if let Some(creds) = &credentials {
        let store = spec.cert_store();
        let dated = store.dated(time::OffsetDateTime::now_utc());
        fx.write_file(
            &dated,
            tls_bootstrap::pair_pem(creds).as_bytes(),
            Mode::PRIVATE,
        )?;
        let current = store.current();
        fx.write_symlink(&current, &dated)?;
        let conf = tls_bootstrap::kubelet_conf(&server, &trust.ca_pem, &current);
        fx.write_file(&spec.kubelet_conf(), conf.as_bytes(), Mode::PRIVATE)?;
        fx.set_result_field("csr", Value::from(creds.csr_name.clone()));
    }
    fx.set_result_field("node_name", Value::from(spec.node_name.clone()));
    phase.kubelet.restart(&spec.root, fx).await
}

/// `join phase kubelet-wait-bootstrap`.
pub struct KubeletWaitBootstrap;

/// How often kubelet.conf is looked for, and how often the wait says so.
const POLL: Duration = Duration::from_millis(500);
const SAY_EVERY: Duration = Duration::from_secs(10);

#[async_trait]
impl<C: JoinKubeletContext> Step<C> for KubeletWaitBootstrap {
    fn name(&self) -> &'static str {
        "kubelet-wait-bootstrap"
    }

    fn help(&self) -> &'static str {
        "Wait for the kubelet's TLS bootstrap to produce kubelet.conf, then record this node's CRI socket on its Node (annotation kubeadm.alpha.kubernetes.io/cri-socket, up to v1.35)."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fp.value("kubelet-conf", &ctx.join_kubelet().kubelet_conf());
    }

    /// A wait: its result is the kubelet's file, checked afresh every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.join_kubelet();
        let conf = spec.kubelet_conf();
        let result = wait_for(&conf, spec, fx).await;
        report_requests(ctx, fx);
        result?;
        annotate_node(spec, fx).await
    }
}

/// kubeadm's join records the node's CRI socket on its Node with the node's own credentials
/// (join/kubelet.go: `patchnodephase.AnnotateCRISocket` with a client from kubelet.conf),
/// once the kubelet has registered it; the cluster's kubeadm-config (which nodes may read)
/// says which release's form to write. With `--tls-bootstrap builtin` kubestrap wrote
/// kubelet.conf itself and a kubelet may not run yet: the Node is annotated if it is there,
/// else the run says so instead of waiting.
async fn annotate_node(spec: &JoinKubeletSpec, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
    let conf = spec.kubelet_conf();
    if fx.is_dry_run() && !fx.fs().exists(&conf) {
        return Ok(());
    }
    let client = ApiClient::from_kubeconfig(fx.fs(), &conf, spec.api_timeout).await?;
    let release = Release::of(
        &fetch_cluster_configuration(&client)
            .await?
            .kubernetes_version,
    );
    if spec.tls_bootstrap == TlsBootstrap::Builtin
        && !fx.is_dry_run()
        && client
            .get_opt::<Node>(None, &spec.node_name)
            .await?
            .is_none()
    {
        if release.annotates_cri_socket() {
            fx.warn(format!(
                "Node {} is not registered yet: its {CRI_SOCKET_ANNOTATION} annotation is set when this phase runs again after the kubelet registers it",
                spec.node_name
            ));
        }
        return Ok(());
    }
    let node = ThisNode {
        name: spec.node_name.clone(),
        cri_socket: spec.cri_socket.clone(),
        register_timeout: spec.tls_bootstrap_timeout,
    };
    annotate_cri_socket(&client, &node, release, fx).await
}

async fn wait_for(
    conf: &Path,
    spec: &JoinKubeletSpec,
    fx: &mut Effects<'_>,
) -> Result<(), PhaseError> {
    if usable(conf, fx) {
        return Ok(());
    }
    if fx.is_dry_run() {
        fx.warn(format!(
            "dry run: {} does not exist; a real run waits up to {:?} for the kubelet to write it",
            conf.display(),
            spec.tls_bootstrap_timeout
        ));
        return Ok(());
    }
    let start = Instant::now();
    let mut said = start;
    while start.elapsed() < spec.tls_bootstrap_timeout {
        tokio::time::sleep(POLL).await;
        if usable(conf, fx) {
            return Ok(());
        }
        if said.elapsed() >= SAY_EVERY {
            said = Instant::now();
            fx.progress(format!(
                "waiting for the kubelet to bootstrap from {} and write {} ({:?} so far)",
                spec.bootstrap_kubelet_conf().display(),
                conf.display(),
                start.elapsed()
            ));
        }
    }
    let hint = if spec.root.is_system() {
        "check `systemctl status kubelet` and `journalctl -xeu kubelet`; its CSR must be approved (`kubectl get csr` on a control-plane node)".to_string()
    } else {
        format!(
            "under --root {} only the node's {NODE_SERVICE_HOOK} starts a kubelet: provide one, or use --tls-bootstrap builtin",
            spec.root.as_path().display()
        )
    };
    Err(PhaseError::with_hint(
        format!(
            "{} did not appear within {:?} (timeouts.tlsBootstrap)",
            conf.display(),
            spec.tls_bootstrap_timeout
        ),
        hint,
    ))
}

/// Whether kubelet.conf is there and so are the certificate files it names: the kubelet writes
/// kubelet.conf before it requests its certificate (kubelet's bootstrap `LoadClientCert`), so
/// kubeadm waits until a client can be made from it (`waitForTLSBootstrappedClient`), not just
/// for the file.
fn usable(conf: &Path, fx: &Effects<'_>) -> bool {
    let fs = fx.fs();
    let Ok(Some(bytes)) = fs.read_if_exists(conf) else {
        return false;
    };
    let Ok(kubeconfig) = KubeConfig::from_yaml(conf, &bytes) else {
        return false;
    };
    let Ok(current) = kubeconfig.current(conf) else {
        return false;
    };
    let Some(user) = kubeconfig
        .users
        .iter()
        .find(|u| u.name == current.user_name)
    else {
        return false;
    };
    [&user.user.client_certificate, &user.user.client_key]
        .into_iter()
        .flatten()
        .all(|file| fs.exists(Path::new(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(local_api_server: Option<&str>) -> JoinKubeletSpec {
        let root = NodeRoot::system();
        JoinKubeletSpec {
            root,
            node_name: "cp2".into(),
            hostname: None,
            cri_socket: "unix:///run/containerd/containerd.sock".parse().unwrap(),
            kubelet_extra_args: Vec::new(),
            register_with_taints: Vec::new(),
            kubeconfig_dir: "/etc/kubernetes".into(),
            ca_cert: "/etc/kubernetes/pki/ca.crt".into(),
            kubelet_dir: "/var/lib/kubelet".into(),
            manifests_dir: "/etc/kubernetes/manifests".into(),
            tls_bootstrap: TlsBootstrap::Kubelet,
            tls_bootstrap_token: None,
            api_timeout: Duration::from_secs(1),
            tls_bootstrap_timeout: Duration::from_secs(1),
            local_api_server: local_api_server.map(str::to_owned),
        }
    }

    /// kubeadm 1.33 (ControlPlaneKubeletLocalMode on by default, #129956) has a joining control
    /// plane's kubelet bootstrap against, and keep talking to, the node's own API server; a
    /// worker, and any node of an older cluster, use the discovered endpoint.
    #[test]
    fn a_control_planes_kubelet_talks_to_its_own_api_server_from_1_33() {
        let trust = ClusterTrust {
            server: "https://127.0.0.40:6443".into(),
            ca_pem: Vec::new(),
            ca_der: Vec::new(),
            ca_hash: format!("sha256:{}", "ab".repeat(32)).parse().unwrap(),
            file_token: None,
        };
        let local = Some("https://127.0.0.41:6443");
        let v = |minor| KubernetesVersion::new(1, minor, 0);
        assert_eq!(
            kubelet_server(&spec(local), &v(33), &trust),
            "https://127.0.0.41:6443"
        );
        assert_eq!(
            kubelet_server(&spec(local), &v(32), &trust),
            "https://127.0.0.40:6443"
        );
        assert_eq!(
            kubelet_server(&spec(None), &v(37), &trust),
            "https://127.0.0.40:6443"
        );
    }

    /// The kubelet writes kubelet.conf before its certificate: the wait is over only when the
    /// files kubelet.conf names exist too.
    #[test]
    fn kubelet_conf_is_usable_once_the_files_it_names_exist() {
        use crate::contract::effects::Silent;
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("kubelet.conf");
        let pem = dir.path().join("kubelet-client-current.pem");
        let fs = crate::contract::host::HostFs::real();
        let fx = Effects::new("kubelet-wait-bootstrap", &fs, &Silent);
        assert!(!usable(&conf, &fx));
        std::fs::write(
            &conf,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: default-cluster\n  cluster:\n    server: https://127.0.0.40:6443\ncontexts:\n- name: default-context\n  context:\n    cluster: default-cluster\n    user: default-auth\ncurrent-context: default-context\nusers:\n- name: default-auth\n  user:\n    client-certificate: {0}\n    client-key: {0}\n",
                pem.display()
            ),
        )
        .unwrap();
        assert!(!usable(&conf, &fx));
        std::fs::write(&pem, "pem").unwrap();
        assert!(usable(&conf, &fx));
    }
}
