//! What a joining control plane builds from: the cluster's ClusterConfiguration (ConfigMap
//! kube-system/kubeadm-config) combined with this node's own name and API endpoint (its
//! JoinConfiguration). kubeadm does the same: a control-plane join fetches the cluster's
//! configuration and overrides the node-local parts, then runs the very phases `init` runs.
//!
//! So the specs here are the existing ones ([`PkiSpec`], [`StaticPodSpec`]) built by the same
//! constructors as init's ([`control_plane_pki_spec`], [`control_plane_static_pod_spec`]), plus
//! the join-only pieces: [`DownloadCertsSpec`] and [`EtcdJoinSpec`].

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::well_known::{ETCD_CLIENT_PORT, KUBERNETES_DIR};
use crate::config::{
    self, ApiEndpoint, CertificateKey, ClusterConfig, EtcdConfig, JoinConfig, NodeRegistration,
    Release,
};
use crate::context::{
    control_plane_pki_spec, control_plane_static_pod_spec, control_plane_wait_spec,
    process_proxy_env,
};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::{HostFs, NodeRoot};
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::contract::tree::Node;
use crate::domain::apiclient::ApiClient;
use crate::domain::apiclient::ClusterAccess;
use crate::domain::certificate_upload::EtcdFiles;
use crate::domain::etcd::EtcdClientTls;
use crate::domain::kubeadm_config::{KubeadmConfigError, fetch_cluster_configuration};
use crate::domain::pki::kubeconfig::KubeconfigName;
use crate::domain::pki::{PkiContext, PkiSession, PkiSpec};
use crate::domain::static_pod::{StaticPodContext, StaticPodSpec, url};
use crate::phases::download_certs::{DownloadCerts, DownloadCertsContext, DownloadCertsSpec};
use crate::phases::etcd_join::{EtcdJoinContext, EtcdJoinSpec, learner_mode};
use crate::phases::kubeconfig::KubeconfigPhase;
use crate::phases::mark_control_plane::{MarkControlPlaneContext, MarkSpec};
use crate::phases::update_status::{StatusSpec, UpdateStatusContext};
use crate::phases::wait_control_plane::{WaitContext, WaitSpec};

/// The kubeconfigs a joining control plane writes (kubeadm's `control-plane-prepare/
/// kubeconfig`): super-admin.conf stays on the first control plane, and kubelet.conf comes
/// from the kubelet's TLS bootstrap.
pub const JOIN_KUBECONFIGS: [KubeconfigName; 3] = [
    KubeconfigName::Admin,
    KubeconfigName::ControllerManager,
    KubeconfigName::Scheduler,
];

/// Why this node cannot join as a control plane with the cluster's configuration.
#[derive(Debug, thiserror::Error)]
pub enum JoiningControlPlaneError {
    #[error(transparent)]
    Cluster(#[from] KubeadmConfigError),

    /// kubeadm refuses too: each control plane's certificates and kubeconfigs must name a
    /// shared, stable endpoint, not the first node's address.
    #[error(
        "the cluster has no controlPlaneEndpoint: a control plane cannot be added to a cluster that does not have a stable controlPlaneEndpoint address"
    )]
    NoControlPlaneEndpoint,
}

impl crate::contract::diagnostics::Diagnostic for JoiningControlPlaneError {
    fn hint(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            JoiningControlPlaneError::Cluster(e) => e.hint(),
            JoiningControlPlaneError::NoControlPlaneEndpoint => crate::contract::diagnostics::hint(
                "set controlPlaneEndpoint in the ClusterConfiguration (kubeadm-config ConfigMap) to a DNS name or address every control plane serves, then join again",
            ),
        }
    }
}

impl From<JoiningControlPlaneError> for PhaseError {
    fn from(e: JoiningControlPlaneError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// Everything the control-plane phases of a join run with.
#[derive(Debug, Clone)]
pub struct JoiningControlPlane {
    pub cluster: ClusterConfig,
    /// For `certs/*` and `kubeconfig/*` (only [`JOIN_KUBECONFIGS`]).
    pub pki: PkiSpec,
    /// For `control-plane/*` and `etcd-join`.
    pub static_pods: StaticPodSpec,
    /// `None` without a certificate key (the shared certificates were copied by hand).
    pub download_certs: Option<DownloadCertsSpec>,
    /// `None` with an external etcd.
    pub etcd_join: Option<EtcdJoinSpec>,
    /// For `control-plane-join/update-status` (ClusterStatus, kubeadm ≤ 1.21).
    pub status: StatusSpec,
    /// For `control-plane-join/mark-control-plane`.
    pub mark: MarkSpec,
    /// For the join's `wait-control-plane`: this node's own components.
    pub wait: WaitSpec,
}

/// This node's own settings, from its JoinConfiguration and flags.
#[derive(Debug, Clone)]
pub struct JoiningNode<'a> {
    pub node: &'a NodeRegistration,
    /// `controlPlane.localAPIEndpoint` / `--apiserver-advertise-address`, `--apiserver-bind-port`.
    pub endpoint: ApiEndpoint,
    /// `controlPlane.certificateKey` / `--certificate-key`.
    pub certificate_key: Option<CertificateKey>,
    pub timeouts: &'a config::Timeouts,
}

impl JoiningControlPlane {
    /// Combines the cluster's configuration with this node's settings under `root`.
    pub fn new(
        cluster: ClusterConfig,
        joining: &JoiningNode<'_>,
        root: &NodeRoot,
    ) -> Result<Self, JoiningControlPlaneError> {
        let Some(cp_endpoint) = cluster.control_plane_endpoint.clone() else {
            return Err(JoiningControlPlaneError::NoControlPlaneEndpoint);
        };
        let pki = control_plane_pki_spec(&cluster, joining.node, joining.endpoint, root);
        let mut static_pods = control_plane_static_pod_spec(
            &cluster,
            joining.node,
            joining.endpoint,
            joining.timeouts,
            root,
        );
        static_pods.proxy_env = process_proxy_env();
        let cert_dir = pki.cert_dir.clone();
        let etcd_files = match &cluster.etcd {
            EtcdConfig::Local(_) => EtcdFiles::Local,
            EtcdConfig::External(ext) => {
                let tls = ext.tls.as_ref();
                EtcdFiles::External {
                    ca: tls.map(|t| root.resolve(t.ca_file.as_path())),
                    cert: tls.map(|t| root.resolve(t.cert_file.as_path())),
                    key: tls.map(|t| root.resolve(t.key_file.as_path())),
                }
            }
        };
        let download_certs = joining
            .certificate_key
            .clone()
            .map(|key| DownloadCertsSpec {
                cert_dir: cert_dir.clone(),
                etcd: etcd_files,
                key,
            });
        let etcd_join = match &cluster.etcd {
            EtcdConfig::Local(_) => Some(EtcdJoinSpec {
                endpoints: vec![seed_etcd_endpoint(&cp_endpoint.host)],
                admin_kubeconfig: Some(KubeconfigName::Admin.path(&pki)),
                client: EtcdClientTls::apiserver_etcd_client(&cert_dir),
                call_timeout: joining.timeouts.etcd_api_call.as_duration(),
                wait: joining.timeouts.etcd_api_call.as_duration(),
                learner: learner_mode(&cluster.feature_gates, cluster.kubernetes_version.minor()),
            }),
            EtcdConfig::External(_) => None,
        };
        let release = Release::of(&cluster.kubernetes_version);
        let access = ClusterAccess {
            kubeconfig_dir: root.resolve(KUBERNETES_DIR),
            timeout: joining.timeouts.kubernetes_api_call.as_duration(),
        };
        let status = StatusSpec {
            access: access.clone(),
            release,
            node_name: joining.node.name.as_str().to_string(),
            endpoint: joining.endpoint,
        };
        let mark = MarkSpec {
            access,
            node_name: joining.node.name.as_str().to_string(),
            labels: release.control_plane_labels(),
            taints: joining
                .node
                .taints
                .clone()
                .unwrap_or_else(|| release.control_plane_taints()),
            register_timeout: joining.timeouts.kubelet_health_check.as_duration(),
        };
        let wait = control_plane_wait_spec(
            root,
            &cluster,
            joining.endpoint,
            &cert_dir,
            joining
                .timeouts
                .control_plane_component_health_check
                .as_duration(),
        );
        Ok(Self {
            cluster,
            pki,
            static_pods,
            download_certs,
            etcd_join,
            status,
            mark,
            wait,
        })
    }
}

/// The etcd client URL to fall back to when the etcd pods (kubeadm's source, see
/// [`crate::domain::etcd::client_urls_from_pods`]) name none — no kubelet mirrors them on a test bed:
/// the control-plane endpoint's host on etcd's client port. Wrong behind a load balancer that
/// only forwards 6443, which is why the pods come first.
pub fn seed_etcd_endpoint(host: &config::Host) -> String {
    match host {
        config::Host::Ip(ip) => url("https", *ip, ETCD_CLIENT_PORT),
        config::Host::Dns(name) => format!("https://{name}:{ETCD_CLIENT_PORT}"),
    }
}

/// The context the control-plane phases of a join run with: the specs above, the run's PKI
/// session, and how to reach the cluster before this node has credentials of its own.
///
/// `JoinContext` holds one in a [`JoiningControlPlaneCell`], filled on first use (after
/// discovery, when the cluster's configuration can be read), and hands it out through
/// [`HasJoiningControlPlane`]; the phases reach it through [`OnControlPlane`].
pub struct JoiningControlPlaneContext {
    pub plane: JoiningControlPlane,
    session: PkiSession,
    /// Discovery's kubeconfig, authenticated by the bootstrap token: a secret.
    bootstrap_kubeconfig: String,
    api_timeout: Duration,
}

impl fmt::Debug for JoiningControlPlaneContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoiningControlPlaneContext")
            .field("plane", &self.plane)
            .finish_non_exhaustive()
    }
}

impl JoiningControlPlaneContext {
    /// Starts the PKI session (background key generation) for this node's certificates.
    pub fn new(
        plane: JoiningControlPlane,
        bootstrap_kubeconfig: String,
        api_timeout: Duration,
        fs: &HostFs,
    ) -> Self {
        let session = PkiSession::for_spec(&plane.pki, fs);
        Self {
            plane,
            session,
            bootstrap_kubeconfig,
            api_timeout,
        }
    }

    /// What a `join --control-plane` does after discovery: read the cluster's
    /// ClusterConfiguration with the bootstrap-token kubeconfig and combine it with `join`.
    pub async fn fetch(
        bootstrap_kubeconfig: String,
        join: &JoinConfig,
        root: &NodeRoot,
        fs: &HostFs,
    ) -> Result<Self, PhaseError> {
        let Some(cp) = &join.control_plane else {
            return Err(PhaseError::failed(
                "a worker join has no control-plane configuration to fetch",
            ));
        };
        let api_timeout = join.timeouts.kubernetes_api_call.as_duration();
        let client = bootstrap_client(&bootstrap_kubeconfig, api_timeout).await?;
        let cluster = fetch_cluster_configuration(&client).await?;
        let plane = JoiningControlPlane::new(
            cluster,
            &JoiningNode {
                node: &join.node_registration,
                endpoint: cp.local_api_endpoint,
                certificate_key: cp.certificate_key.clone(),
                timeouts: &join.timeouts,
            },
            root,
        )?;
        Ok(Self::new(plane, bootstrap_kubeconfig, api_timeout, fs))
    }
}

async fn bootstrap_client(kubeconfig: &str, timeout: Duration) -> Result<ApiClient, PhaseError> {
    Ok(
        ApiClient::from_kubeconfig_yaml(kubeconfig, Path::new("bootstrap kubeconfig"), timeout)
            .await?,
    )
}

impl PkiContext for JoiningControlPlaneContext {
    fn pki(&self) -> &PkiSpec {
        &self.plane.pki
    }

    fn pki_session(&self) -> &PkiSession {
        &self.session
    }
}

impl StaticPodContext for JoiningControlPlaneContext {
    fn static_pods(&self) -> &StaticPodSpec {
        &self.plane.static_pods
    }
}

#[async_trait]
impl DownloadCertsContext for JoiningControlPlaneContext {
    fn download_certs_spec(&self) -> Option<DownloadCertsSpec> {
        self.plane.download_certs.clone()
    }

    async fn download_certs_client(&self) -> Result<ApiClient, PhaseError> {
        bootstrap_client(&self.bootstrap_kubeconfig, self.api_timeout).await
    }
}

impl EtcdJoinContext for JoiningControlPlaneContext {
    /// With an external etcd `etcd-join` is not applicable (it checks the static-pod spec
    /// first); the default returned then names no endpoint and is never used.
    fn etcd_join_spec(&self) -> EtcdJoinSpec {
        self.plane
            .etcd_join
            .clone()
            .unwrap_or_else(|| EtcdJoinSpec {
                endpoints: Vec::new(),
                admin_kubeconfig: None,
                client: EtcdClientTls::apiserver_etcd_client(&self.plane.pki.cert_dir),
                call_timeout: self.api_timeout,
                wait: self.api_timeout,
                learner: false,
            })
    }
}

impl UpdateStatusContext for JoiningControlPlaneContext {
    fn status_spec(&self) -> StatusSpec {
        self.plane.status.clone()
    }
}

impl MarkControlPlaneContext for JoiningControlPlaneContext {
    fn mark_spec(&self) -> MarkSpec {
        self.plane.mark.clone()
    }
}

impl WaitContext for JoiningControlPlaneContext {
    fn wait_spec(&self) -> WaitSpec {
        self.plane.wait.clone()
    }
}

/// The join context's slot for its [`JoiningControlPlaneContext`]: empty until the first
/// control-plane phase needs it, then filled once (discovery, then the cluster's
/// configuration) and shared by every later phase — as `ClusterDiscovery` is.
#[derive(Default)]
pub struct JoiningControlPlaneCell(OnceLock<JoiningControlPlaneContext>);

impl JoiningControlPlaneCell {
    /// A cell already holding `cp` (tests, or a context built eagerly).
    pub fn with(cp: JoiningControlPlaneContext) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(cp);
        Self(cell)
    }

    pub fn get(&self) -> Option<&JoiningControlPlaneContext> {
        self.0.get()
    }

    /// The context, fetched by `fetch` on first use. Phases run one at a time; should two
    /// ever race, the first value stored wins and the other is dropped.
    pub async fn get_or_fetch(
        &self,
        fetch: impl Future<Output = Result<JoiningControlPlaneContext, PhaseError>> + Send,
    ) -> Result<&JoiningControlPlaneContext, PhaseError> {
        if let Some(cp) = self.0.get() {
            return Ok(cp);
        }
        let cp = fetch.await?;
        Ok(self.0.get_or_init(|| cp))
    }
}

/// What `JoinContext` implements so that [`OnControlPlane`] phases can run in it.
#[async_trait]
pub trait HasJoiningControlPlane: Sync {
    /// `--control-plane` (or a JoinConfiguration with `controlPlane`).
    fn is_joining_control_plane(&self) -> bool;

    /// The control-plane context if it has been fetched already (for applicability and
    /// fingerprints, which cannot wait for the network).
    fn joining_control_plane_fetched(&self) -> Option<&JoiningControlPlaneContext>;

    /// The control-plane context, fetched on first use: typically
    /// `cell.get_or_fetch(JoiningControlPlaneContext::fetch(<discovery's bootstrap kubeconfig>, …))`.
    async fn joining_control_plane(
        &self,
        fx: &mut Effects<'_>,
    ) -> Result<&JoiningControlPlaneContext, PhaseError>;
}

/// Runs a control-plane phase (written for [`JoiningControlPlaneContext`]) in a join context:
/// not applicable on a worker join; before the cluster's configuration is known it applies,
/// and its run fetches the configuration first and then skips, with a progress line, what
/// the configuration makes inapplicable (`etcd-join` with an external etcd, `download-certs`
/// without a certificate key).
pub struct OnControlPlane {
    step: Box<dyn Step<JoiningControlPlaneContext>>,
    /// Set on the join's last phases: a control plane's result then carries
    /// `admin_kubeconfig`, this node's admin.conf (kubeadm's closing message tells the user to
    /// copy it).
    reports_admin_kubeconfig: bool,
}

impl OnControlPlane {
    pub fn new(step: impl Step<JoiningControlPlaneContext> + 'static) -> Self {
        Self::boxed(Box::new(step))
    }

    pub fn boxed(step: Box<dyn Step<JoiningControlPlaneContext>>) -> Self {
        Self {
            step,
            reports_admin_kubeconfig: false,
        }
    }

    /// Records this node's admin.conf in the run's result once the phase has run.
    pub fn reporting_admin_kubeconfig(mut self) -> Self {
        self.reports_admin_kubeconfig = true;
        self
    }
}

#[async_trait]
impl<C: HasJoiningControlPlane> Step<C> for OnControlPlane {
    fn name(&self) -> &'static str {
        self.step.name()
    }

    fn help(&self) -> &'static str {
        self.step.help()
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if !ctx.is_joining_control_plane() {
            return Applicability::NotApplicable(
                "only a control-plane join (--control-plane) runs this phase".into(),
            );
        }
        match ctx.joining_control_plane_fetched() {
            Some(cp) => self.step.applicability(cp),
            None => Applicability::Applies,
        }
    }

    /// The cluster's configuration is fetched before any control-plane phase is
    /// fingerprinted, so its inputs are the same on a first run and on a resume.
    async fn resolve_inputs(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        if ctx.is_joining_control_plane() {
            let cp = ctx.joining_control_plane(fx).await?;
            self.step.resolve_inputs(cp, fx).await?;
        }
        Ok(())
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        if let Some(cp) = ctx.joining_control_plane_fetched() {
            self.step.inputs(cp, fp);
        }
    }

    fn always_run(&self) -> bool {
        self.step.always_run()
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        if !ctx.is_joining_control_plane() {
            return Ok(());
        }
        let cp = ctx.joining_control_plane(fx).await?;
        match self.step.applicability(cp) {
            Applicability::Applies => self.step.run(cp, fx).await?,
            Applicability::NotApplicable(why) => fx.progress(format!("skipped: {why}")),
        }
        if self.reports_admin_kubeconfig {
            let admin = KubeconfigName::Admin.path(&cp.plane.pki);
            fx.set_result_field(
                "admin_kubeconfig",
                serde_json::Value::from(admin.display().to_string()),
            );
        }
        Ok(())
    }
}

/// kubeadm's `control-plane-prepare` group — download-certs, every `certs/*`, the three
/// kubeconfigs, `control-plane/*` — in kubeadm's order, for a join context. The join's tree
/// (the binary's workflow) takes it from here, and so do the tests, so both run one list.
pub fn control_plane_prepare<C: HasJoiningControlPlane + 'static>() -> Node<C> {
    fn on_control_plane<C: HasJoiningControlPlane + 'static>(
        steps: Vec<Box<dyn Step<JoiningControlPlaneContext>>>,
    ) -> Vec<Node<C>> {
        steps
            .into_iter()
            .map(|s| Node::leaf(OnControlPlane::boxed(s)))
            .collect()
    }
    let kubeconfigs = JOIN_KUBECONFIGS
        .into_iter()
        .map(|k| Box::new(KubeconfigPhase(k)) as Box<dyn Step<JoiningControlPlaneContext>>)
        .collect();
    Node::group(
        "control-plane-prepare",
        "With --control-plane: prepare this node to serve as a control plane.",
        vec![
            Node::leaf(OnControlPlane::new(DownloadCerts)),
            Node::group(
                "certs",
                "Write this node's certificates under the certificates dir.",
                on_control_plane(crate::phases::certs::phases()),
            ),
            Node::group(
                "kubeconfig",
                "Write this node's kubeconfig files under /etc/kubernetes.",
                on_control_plane(kubeconfigs),
            ),
            Node::group(
                "control-plane",
                "Write this node's control-plane static-pod manifests.",
                on_control_plane(crate::phases::control_plane::phases()),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;

    use crate::contract::diagnostics::Diagnostic;

    use crate::config::well_known::CLUSTER_CONFIGURATION_KEY;
    use crate::contract::tree::PhaseTree;
    use crate::domain::kubeadm_config::cluster_from_config_map;
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{InitFlags, JoinFlags};

    fn init_config(cluster_extra: &str) -> config::InitConfig {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kubeadm.yaml");
        std::fs::write(
            &file,
            format!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.0.1\nnodeRegistration:\n  name: node-1\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\n{cluster_extra}"
            ),
        )
        .unwrap();
        config::load_init(Some(&file), &InitFlags::default()).unwrap()
    }

    fn config_map(text: String) -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([(
                CLUSTER_CONFIGURATION_KEY.to_string(),
                text,
            )])),
            ..ConfigMap::default()
        }
    }

    fn join_config() -> config::JoinConfig {
        config::load_join(
            None,
            &JoinFlags {
                endpoint: Some("cp.example:6443".into()),
                token: Some("abcdef.0123456789abcdef".into()),
                discovery_token_unsafe_skip_ca_verification: true,
                control_plane: true,
                certificate_key: Some(hex::encode([7u8; 32]).into()),
                node_name: Some("node-2".into()),
                apiserver_advertise_address: Some("10.0.0.2".into()),
                apiserver_bind_port: Some(6444),
                ..JoinFlags::default()
            },
        )
        .unwrap()
    }

    fn plane(
        cluster: ClusterConfig,
        join: &config::JoinConfig,
    ) -> Result<JoiningControlPlane, JoiningControlPlaneError> {
        let cp = join.control_plane.clone().unwrap();
        JoiningControlPlane::new(
            cluster,
            &JoiningNode {
                node: &join.node_registration,
                endpoint: cp.local_api_endpoint,
                certificate_key: cp.certificate_key,
                timeouts: &join.timeouts,
            },
            &NodeRoot::new("/nodes/two").unwrap(),
        )
    }

    /// What init uploads is exactly what a joining control plane reads back.
    #[test]
    fn uploaded_cluster_configuration_round_trips() {
        let init = init_config(
            "controlPlaneEndpoint: cp.example:6443\napiServer:\n  certSANs: [lb.example]\nnetworking:\n  podSubnet: 10.244.0.0/16\n",
        );
        let cm = config_map(init.kubeadm_config_data()["ClusterConfiguration"].clone());
        assert_eq!(cluster_from_config_map(&cm).unwrap(), init.cluster);
    }

    #[test]
    fn specs_combine_the_cluster_with_this_node() {
        let init = init_config(
            "controlPlaneEndpoint: cp.example:6443\napiServer:\n  certSANs: [lb.example]\n",
        );
        let join = join_config();
        let p = plane(init.cluster.clone(), &join).unwrap();
        // This node's own identity and endpoint…
        assert_eq!(p.pki.node_name, "node-2");
        assert_eq!(p.pki.advertise_address.to_string(), "10.0.0.2");
        assert_eq!(p.pki.bind_port, 6444);
        assert_eq!(p.static_pods.advertise_address.to_string(), "10.0.0.2");
        assert_eq!(p.mark.node_name, "node-2");
        // …the cluster's everything else, with paths under this node's root.
        assert_eq!(p.pki.apiserver_cert_sans, ["lb.example"]);
        assert_eq!(p.pki.cluster_api_url(), "https://cp.example:6443");
        assert_eq!(p.pki.cert_dir, Path::new("/nodes/two/etc/kubernetes/pki"));
        let download = p.download_certs.unwrap();
        assert_eq!(download.cert_dir, p.pki.cert_dir);
        assert_eq!(download.etcd, EtcdFiles::Local);
        let etcd = p.etcd_join.unwrap();
        assert_eq!(etcd.endpoints, ["https://cp.example:2379"]);
        assert!(
            etcd.learner,
            "v1.30: kubeadm's EtcdLearnerMode is on by default"
        );
        assert_eq!(
            etcd.client.cert,
            Path::new("/nodes/two/etc/kubernetes/pki/apiserver-etcd-client.crt")
        );
        // The same constructor as init's: init with this node's settings gives the same spec.
        let mut as_init = init.clone();
        as_init.node_registration = join.node_registration.clone();
        as_init.local_api_endpoint = join.control_plane.unwrap().local_api_endpoint;
        as_init.timeouts = join.timeouts;
        let root = NodeRoot::new("/nodes/two").unwrap();
        assert_eq!(p.pki, crate::context::init_pki_spec(&as_init, &root));
        let mut expected = crate::context::init_static_pod_spec(&as_init, &root);
        expected.proxy_env = crate::context::process_proxy_env();
        assert_eq!(p.static_pods, expected);
    }

    /// A join context whose fetch always fails, to see what runs before it.
    struct Host {
        control_plane: bool,
    }

    #[async_trait]
    impl HasJoiningControlPlane for Host {
        fn is_joining_control_plane(&self) -> bool {
            self.control_plane
        }
        fn joining_control_plane_fetched(&self) -> Option<&JoiningControlPlaneContext> {
            None
        }
        async fn joining_control_plane(
            &self,
            _: &mut Effects<'_>,
        ) -> Result<&JoiningControlPlaneContext, PhaseError> {
            Err(PhaseError::failed("discovery: token unknown"))
        }
    }

    #[tokio::test]
    async fn control_plane_phases_skip_workers_and_fetch_first() {
        let tree = PhaseTree {
            workflow: "join",
            run_first: &[],
            nodes: vec![control_plane_prepare::<Host>()],
        };
        let steps: Vec<&dyn Step<Host>> = tree.leaves().into_iter().map(|l| l.step).collect();
        assert_eq!(steps[0].name(), "download-certs");
        let worker = Host {
            control_plane: false,
        };
        assert!(
            steps
                .iter()
                .all(|s| matches!(s.applicability(&worker), Applicability::NotApplicable(_)))
        );
        let joining = Host {
            control_plane: true,
        };
        assert_eq!(steps[0].applicability(&joining), Applicability::Applies);
        let fs = HostFs::real();
        let mut fx = Effects::new("download-certs", &fs, &crate::contract::effects::Silent);
        steps[0].run(&worker, &mut fx).await.unwrap();
        let err = steps[0].run(&joining, &mut fx).await.unwrap_err();
        assert!(err.to_string().contains("token unknown"), "{err}");
    }

    #[test]
    fn refuses_a_cluster_without_control_plane_endpoint() {
        let init = init_config("");
        let err = plane(init.cluster, &join_config()).unwrap_err();
        assert!(matches!(
            err,
            JoiningControlPlaneError::NoControlPlaneEndpoint
        ));
        let phase: PhaseError = err.into();
        assert!(phase.hint().unwrap().contains("controlPlaneEndpoint"));
    }

    #[test]
    fn external_etcd_downloads_its_client_files_and_joins_no_member() {
        let init = init_config(
            "controlPlaneEndpoint: 10.0.0.10:6443\netcd:\n  external:\n    endpoints: [https://10.0.0.50:2379]\n    caFile: /etc/etcd/ca.pem\n    certFile: /etc/etcd/client.pem\n    keyFile: /etc/etcd/client-key.pem\n",
        );
        let p = plane(init.cluster, &join_config()).unwrap();
        assert!(p.etcd_join.is_none());
        assert_eq!(
            p.download_certs.unwrap().etcd,
            EtcdFiles::External {
                ca: Some("/nodes/two/etc/etcd/ca.pem".into()),
                cert: Some("/nodes/two/etc/etcd/client.pem".into()),
                key: Some("/nodes/two/etc/etcd/client-key.pem".into()),
            }
        );
    }

    #[test]
    fn bad_kubeadm_config_is_named() {
        let err = cluster_from_config_map(&ConfigMap::default()).unwrap_err();
        assert!(err.to_string().contains("has no ClusterConfiguration key"));
        let err = cluster_from_config_map(&config_map(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersoin: v1.30.0\n"
                .into(),
        ))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("kube-system/kubeadm-config"), "{text}");
        assert!(text.contains("kubernetesVersoin"), "{text}");
    }
}
