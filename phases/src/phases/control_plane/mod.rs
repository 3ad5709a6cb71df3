//! `control-plane/{apiserver, controller-manager, scheduler}`: the static-pod manifests of the
//! control plane, with kubeadm's flags (`phases/controlplane/manifests.go`).
//!
//! What depends on the target Kubernetes version (supported: v1.20 to v1.37):
//! - kube-apiserver `--insecure-port=0` below v1.22 (kubeadm dropped it in 1.22, #102121; the
//!   API server opens an unauthenticated port 8080 without it before 1.20's default changed);
//! - kube-controller-manager and kube-scheduler `--port=0` below v1.23 (kubeadm dropped it in
//!   1.23, #104157 and #105034: their insecure ports 10252/10251);
//! - no `--authorization-mode` from 1.30 when the user passes `authorization-config`
//!   ([`Release::authorization_config_replaces_mode`]);
//! - kube-scheduler probed on `/livez` and `/readyz` from 1.32
//!   ([`Release::scheduler_probes_livez_readyz`]);
//! - no flex-volume directory in kube-controller-manager from 1.36
//!   ([`Release::mounts_flex_volume_dir`]).
//!
//! Every release: the containers get the `*_proxy` variables of kubestrap's environment
//! merged with `extraEnvs` (domain/static_pod/env.rs), and the startup probes wait as long as
//! the control-plane timeout allows.
//!
//! kube-controller-manager and kube-scheduler bind to 127.0.0.1 on a real node, as kubeadm; on
//! a simulated node (`--root` other than `/`, several nodes on one machine's 127.0.0.x) they
//! bind to the node's advertise address so that the nodes' ports do not collide.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::config::well_known::{CONTROLLER_MANAGER_PORT, SCHEDULER_PORT};
use crate::config::{Arg, HostPathType, Release};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::HostFs;
use crate::contract::step::{PhaseError, Step};
use crate::domain::pki::PkiContext;
use crate::domain::pki::files::is_external_ca_mode;
use crate::domain::static_pod::{
    ComponentSpec, EtcdSpec, Fill, Mount, Pod, ProbeTarget, StaticPodContext, StaticPodSpec, arg,
    arg_value, ca_cert_dirs, command, fill, fingerprint_common, host_port, loopback_like,
    merge_args, merge_env, merge_mounts, path_arg, ssl_certs, startup_failure_threshold,
    write_manifest,
};

mod etcd_cert_volumes;

/// The control-plane components kubestrap runs as static pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
    ];

    /// The pod, container, binary and manifest name (`kube-apiserver`).
    pub fn pod_name(self) -> &'static str {
        match self {
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
        }
    }

    /// kubeadm's phase name (`apiserver`).
    pub fn phase_name(self) -> &'static str {
        match self {
            Component::ApiServer => "apiserver",
            Component::ControllerManager => "controller-manager",
            Component::Scheduler => "scheduler",
        }
    }

    fn skeleton(self) -> &'static str {
        match self {
            Component::ApiServer => include_str!("../../../../manifests/kube-apiserver.yaml"),
            Component::ControllerManager => {
                include_str!("../../../../manifests/kube-controller-manager.yaml")
            }
            Component::Scheduler => include_str!("../../../../manifests/kube-scheduler.yaml"),
        }
    }

    fn component_spec(self, spec: &StaticPodSpec) -> &ComponentSpec {
        match self {
            Component::ApiServer => &spec.api_server,
            Component::ControllerManager => &spec.controller_manager,
            Component::Scheduler => &spec.scheduler,
        }
    }
}

/// Renders one component's manifest. `external_ca` is kubeadm's external-CA mode (ca.crt
/// without ca.key): the controller-manager then gets empty `--cluster-signing-*` flags, so
/// that its CSR signer stays off instead of failing on a missing key.
pub fn render(
    component: Component,
    spec: &StaticPodSpec,
    external_ca: bool,
) -> Result<Pod, PhaseError> {
    let release = spec.release()?;
    let minor = release.minor();
    let c = component.component_spec(spec);
    let (defaults, mounts) = match component {
        Component::ApiServer => (apiserver_args(spec, release), apiserver_mounts(spec, minor)),
        Component::ControllerManager => (
            controller_manager_args(spec, minor, external_ca),
            controller_manager_mounts(spec, release),
        ),
        Component::Scheduler => (scheduler_args(spec, minor), scheduler_mounts(spec)),
    };
    let args = merge_args(defaults, &c.extra_args);
    let mounts = merge_mounts(mounts, &c.extra_volumes);
    let (probe_host, probe_port, annotations) = match component {
        Component::ApiServer => {
            let endpoint = host_port(spec.advertise_address, spec.bind_port);
            let host = if spec.advertise_address.is_unspecified() {
                loopback_like(spec.advertise_address)
            } else {
                spec.advertise_address
            };
            (
                host,
                spec.bind_port,
                BTreeMap::from([(
                    "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint".to_string(),
                    endpoint,
                )]),
            )
        }
        Component::ControllerManager => {
            let (h, p) = probe_endpoint(spec, &args, CONTROLLER_MANAGER_PORT);
            (h, p, BTreeMap::new())
        }
        Component::Scheduler => {
            let (h, p) = probe_endpoint(spec, &args, SCHEDULER_PORT);
            (h, p, BTreeMap::new())
        }
    };
    let mut pod = fill(
        &format!("{}.yaml", component.pod_name()),
        component.skeleton(),
        Fill {
            release,
            image: spec.kubernetes_image(component.pod_name()),
            pull_policy: spec.image_pull_policy,
            command: command(component.pod_name(), &args),
            envs: merge_env(release, &spec.proxy_env, &c.extra_envs),
            mounts,
            probe: ProbeTarget {
                host: probe_host.to_string(),
                port: probe_port,
                scheme: None,
            },
            startup_failure_threshold: startup_failure_threshold(spec.control_plane_timeout),
            annotations,
        },
    )?;
    if component == Component::Scheduler && release.scheduler_probes_livez_readyz() {
        scheduler_livez_readyz(&mut pod);
    }
    Ok(pod)
}

/// kubeadm 1.32's kube-scheduler probes (#126945): `/livez` for liveness and startup, and a
/// readiness probe on `/readyz` with kubeadm's `ReadinessProbe` timings (no initial delay,
/// every second, 15s timeout, 3 failures), on the same host, port and scheme.
fn scheduler_livez_readyz(pod: &mut Pod) {
    let Some(c) = pod.spec.containers.first_mut() else {
        return;
    };
    for probe in [&mut c.liveness_probe, &mut c.startup_probe]
        .into_iter()
        .flatten()
    {
        probe.http_get.path = "/livez".to_string();
    }
    if let Some(live) = c.liveness_probe.clone() {
        let mut ready = live;
        ready.http_get.path = "/readyz".to_string();
        ready.initial_delay_seconds = None;
        ready.period_seconds = Some(1);
        ready.timeout_seconds = Some(15);
        ready.failure_threshold = Some(3);
        c.readiness_probe = Some(ready);
    }
}

/// kubeadm's probe address: the component's `--bind-address` unless it is a wildcard (then
/// loopback), on its `--secure-port`.
fn probe_endpoint(spec: &StaticPodSpec, args: &[Arg], default_port: u16) -> (IpAddr, u16) {
    let host = match arg_value(args, "bind-address").and_then(|v| v.parse::<IpAddr>().ok()) {
        Some(ip) if ip.is_unspecified() => loopback_like(ip),
        Some(ip) => ip,
        None => spec.local_address(),
    };
    let port = arg_value(args, "secure-port")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_port);
    (host, port)
}

fn apiserver_args(spec: &StaticPodSpec, release: Release) -> Vec<Arg> {
    let minor = release.minor();
    let cert = |f: &str| spec.cert(f);
    let mut args = vec![
        arg("advertise-address", spec.advertise_address.to_string()),
        arg("allow-privileged", "true"),
        path_arg("client-ca-file", &cert("ca.crt")),
        arg("enable-admission-plugins", "NodeRestriction"),
        arg("enable-bootstrap-token-auth", "true"),
        path_arg(
            "kubelet-client-certificate",
            &cert("apiserver-kubelet-client.crt"),
        ),
        path_arg("kubelet-client-key", &cert("apiserver-kubelet-client.key")),
        arg(
            "kubelet-preferred-address-types",
            "InternalIP,ExternalIP,Hostname",
        ),
        path_arg("proxy-client-cert-file", &cert("front-proxy-client.crt")),
        path_arg("proxy-client-key-file", &cert("front-proxy-client.key")),
        arg("requestheader-allowed-names", "front-proxy-client"),
        path_arg("requestheader-client-ca-file", &cert("front-proxy-ca.crt")),
        arg("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
        arg("requestheader-group-headers", "X-Remote-Group"),
        arg("requestheader-username-headers", "X-Remote-User"),
        arg("secure-port", spec.bind_port.to_string()),
        arg(
            "service-account-issuer",
            format!("https://kubernetes.default.svc.{}", spec.dns_domain),
        ),
        path_arg("service-account-key-file", &cert("sa.pub")),
        path_arg("service-account-signing-key-file", &cert("sa.key")),
        arg("service-cluster-ip-range", &spec.service_subnet),
        path_arg("tls-cert-file", &cert("apiserver.crt")),
        path_arg("tls-private-key-file", &cert("apiserver.key")),
    ];
    // kube-apiserver refuses --authorization-mode next to a structured --authorization-config;
    // kubeadm 1.30 leaves its default out then (#123654).
    let structured_authz = arg_value(&spec.api_server.extra_args, "authorization-config").is_some();
    if !(structured_authz && release.authorization_config_replaces_mode()) {
        args.push(arg("authorization-mode", "Node,RBAC"));
    }
    if minor < 22 {
        args.push(arg("insecure-port", "0"));
    }
    // kubeadm leaves the API server on every address. A simulated node shares the machine with
    // its neighbours on other 127.0.0.x addresses, which would then collide on the port.
    if spec.is_simulated_node() {
        args.push(arg("bind-address", spec.advertise_address.to_string()));
    }
    match &spec.etcd {
        EtcdSpec::Local(local) => {
            // kubeadm points the API server at a user's advertise-client-urls when set.
            let servers = arg_value(&local.extra_args, "advertise-client-urls")
                .map(str::to_string)
                .unwrap_or_else(|| crate::domain::etcd::local_client_url(spec));
            args.extend([
                arg("etcd-servers", servers),
                path_arg("etcd-cafile", &cert("etcd/ca.crt")),
                path_arg("etcd-certfile", &cert("apiserver-etcd-client.crt")),
                path_arg("etcd-keyfile", &cert("apiserver-etcd-client.key")),
            ]);
        }
        EtcdSpec::External(ext) => {
            args.push(arg("etcd-servers", ext.endpoints.join(",")));
            if let Some(tls) = &ext.tls {
                args.extend([
                    path_arg("etcd-cafile", &tls.ca_file),
                    path_arg("etcd-certfile", &tls.cert_file),
                    path_arg("etcd-keyfile", &tls.key_file),
                ]);
            }
        }
    }
    args
}

fn apiserver_mounts(spec: &StaticPodSpec, minor: u64) -> Vec<Mount> {
    let mut mounts = vec![
        Mount::same_path(
            "k8s-certs",
            &spec.cert_dir,
            true,
            HostPathType::DirectoryOrCreate,
        ),
        ssl_certs(spec),
    ];
    mounts.extend(ca_cert_dirs(spec, minor));
    // An external etcd's files outside what is mounted already need their own volumes.
    if let EtcdSpec::External(ext) = &spec.etcd
        && let Some(tls) = &ext.tls
    {
        mounts.extend(etcd_cert_volumes::etcd_cert_volumes(spec, minor, tls));
    }
    mounts
}

fn controller_manager_args(spec: &StaticPodSpec, minor: u64, external_ca: bool) -> Vec<Arg> {
    let kubeconfig = spec.kubeconfig("controller-manager.conf");
    let (signing_cert, signing_key) = if external_ca {
        (String::new(), String::new())
    } else {
        (
            spec.cert("ca.crt").display().to_string(),
            spec.cert("ca.key").display().to_string(),
        )
    };
    let mut args = vec![
        path_arg("authentication-kubeconfig", &kubeconfig),
        path_arg("authorization-kubeconfig", &kubeconfig),
        arg("bind-address", spec.local_address().to_string()),
        path_arg("client-ca-file", &spec.cert("ca.crt")),
        arg("cluster-name", &spec.cluster_name),
        arg("cluster-signing-cert-file", signing_cert),
        arg("cluster-signing-key-file", signing_key),
        arg("controllers", "*,bootstrapsigner,tokencleaner"),
        path_arg("kubeconfig", &kubeconfig),
        arg("leader-elect", "true"),
        path_arg(
            "requestheader-client-ca-file",
            &spec.cert("front-proxy-ca.crt"),
        ),
        path_arg("root-ca-file", &spec.cert("ca.crt")),
        path_arg("service-account-private-key-file", &spec.cert("sa.key")),
        arg("use-service-account-credentials", "true"),
    ];
    if let Some(pods) = &spec.pod_subnet {
        args.extend([
            arg("allocate-node-cidrs", "true"),
            arg("cluster-cidr", pods),
            arg("service-cluster-ip-range", &spec.service_subnet),
        ]);
    }
    if minor < 23 {
        args.push(arg("port", "0"));
    }
    args
}

fn controller_manager_mounts(spec: &StaticPodSpec, release: Release) -> Vec<Mount> {
    let mut mounts = vec![
        Mount::same_path(
            "k8s-certs",
            &spec.cert_dir,
            true,
            HostPathType::DirectoryOrCreate,
        ),
        ssl_certs(spec),
        Mount::same_path(
            "kubeconfig",
            &spec.kubeconfig("controller-manager.conf"),
            true,
            HostPathType::FileOrCreate,
        ),
    ];
    // The flex-volume plugin directory, read-write (plugins talk over sockets there), up to
    // 1.35 (#136423).
    if release.mounts_flex_volume_dir() {
        let flex = arg_value(
            &spec.controller_manager.extra_args,
            "flex-volume-plugin-dir",
        )
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            spec.root
                .resolve("/usr/libexec/kubernetes/kubelet-plugins/volume/exec")
        });
        mounts.push(Mount::same_path(
            "flexvolume-dir",
            &flex,
            false,
            HostPathType::DirectoryOrCreate,
        ));
    }
    mounts.extend(ca_cert_dirs(spec, release.minor()));
    mounts
}

fn scheduler_args(spec: &StaticPodSpec, minor: u64) -> Vec<Arg> {
    let kubeconfig = spec.kubeconfig("scheduler.conf");
    let mut args = vec![
        path_arg("authentication-kubeconfig", &kubeconfig),
        path_arg("authorization-kubeconfig", &kubeconfig),
        arg("bind-address", spec.local_address().to_string()),
        path_arg("kubeconfig", &kubeconfig),
        arg("leader-elect", "true"),
    ];
    if minor < 23 {
        args.push(arg("port", "0"));
    }
    args
}

fn scheduler_mounts(spec: &StaticPodSpec) -> Vec<Mount> {
    vec![Mount::same_path(
        "kubeconfig",
        &spec.kubeconfig("scheduler.conf"),
        true,
        HostPathType::FileOrCreate,
    )]
}

/// One `control-plane/<component>` phase.
pub struct ControlPlanePhase(pub Component);

/// The `control-plane` group in kubeadm's order.
pub fn phases<C: StaticPodContext + PkiContext + 'static>() -> Vec<Box<dyn Step<C>>> {
    Component::ALL
        .into_iter()
        .map(|c| Box::new(ControlPlanePhase(c)) as Box<dyn Step<C>>)
        .collect()
}

fn external_ca<C: PkiContext>(ctx: &C, fs: &HostFs) -> bool {
    is_external_ca_mode(ctx.pki(), fs)
}

#[async_trait]
impl<C: StaticPodContext + PkiContext> Step<C> for ControlPlanePhase {
    fn name(&self) -> &'static str {
        self.0.phase_name()
    }

    fn help(&self) -> &'static str {
        match self.0 {
            Component::ApiServer => "Write /etc/kubernetes/manifests/kube-apiserver.yaml.",
            Component::ControllerManager => {
                "Write /etc/kubernetes/manifests/kube-controller-manager.yaml."
            }
            Component::Scheduler => "Write /etc/kubernetes/manifests/kube-scheduler.yaml.",
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        fingerprint_common(ctx.static_pods(), fp);
        if self.0 == Component::ControllerManager {
            // External-CA mode (ca.crt without ca.key) changes the signing flags.
            let pki = ctx.pki();
            fp.file(&pki.cert_dir.join("ca.crt"))
                .file(&pki.cert_dir.join("ca.key"));
        }
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.static_pods();
        let external = self.0 == Component::ControllerManager && external_ca(ctx, fx.fs());
        let pod = render(self.0, spec, external)?;
        write_manifest(fx, spec, self.0.pod_name(), &pod)
    }
}
