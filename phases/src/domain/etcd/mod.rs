//! `etcd/local`: the data directory and the static-pod manifest of this node's etcd member.
//!
//! The data directory (`etcd.local.dataDir`) is created 0700 before the manifest is written,
//! as kubeadm's etcd phase does (`etcdutil.CreateDataDirectory`: `os.MkdirAll(dir, 0o700)`,
//! cmd/kubeadm/app/util/etcd/etcddata.go); left to the kubelet's `DirectoryOrCreate` it would
//! be 0755. An existing directory keeps its mode. kubeadm's dry run only says it would create
//! it; kubestrap's creates it in the staging directory, like every other would-be change.
//!
//! Flags follow kubeadm's `phases/etcd/local.go` for the target Kubernetes version:
//! - always: name, data-dir, client/peer listen and advertise URLs, server and peer TLS with
//!   client-cert auth, snapshot-count=10000, listen-metrics-urls (port 2381), initial-cluster;
//! - the initial data-corruption check (after etcd 3.5's data-inconsistency advisory) from
//!   1.24, 1.23.7 and 1.22.10 ([`Release::etcd_initial_corrupt_check`]);
//! - v1.25+: the watch progress notifications every 5s (watch bookmarks, #111383);
//! - both as `--experimental-…` flags, or from 1.34 with etcd ≥ 3.6 (always from 1.36) as
//!   `--feature-gates=InitialCorruptCheck=true` and `--watch-progress-notify-interval`
//!   ([`Release::etcd_graduated_flags`]).
//!
//! Probes by etcd generation: etcd 3.4 (v1.20–1.21) only has `/health`; v1.25–1.30 ask
//! `/health` with `exclude=NOSPACE&serializable=true`; v1.31+ (etcd 3.5.13+) use `/livez` and
//! `/readyz`. They reach etcd where a user's `listen-metrics-urls` says (probe.rs); the
//! startup probe waits as long as the control-plane timeout allows.
//!
//! On a real node etcd listens for clients on 127.0.0.1 and the advertise address and serves
//! metrics on 127.0.0.1:2381, as kubeadm. On a simulated node (`--root` other than `/`) every
//! node shares the machine's loopback, so etcd listens on the advertise address only.

use std::collections::BTreeMap;

use crate::config::well_known::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};
use crate::config::{Arg, HostPathType, Release, images};
use crate::contract::effects::Effects;
use crate::contract::host::DirMode;
use crate::contract::step::{Applicability, PhaseError};
use crate::domain::static_pod::{
    EtcdSpec, Fill, LocalEtcdSpec, Mount, Pod, StaticPodSpec, arg, arg_value, command, fill,
    merge_args, merge_env, merge_mounts, path_arg, startup_failure_threshold, url,
};

mod member;
mod probe;
pub use member::*;

pub const COMPONENT: &str = "etcd";
pub const METRICS_PORT: u16 = 2381;

const SKELETON: &str = include_str!("../../../../manifests/etcd.yaml");

/// The client URL etcd advertises, and what the API server should use to reach it.
pub fn advertise_client_url(spec: &StaticPodSpec) -> String {
    url("https", spec.advertise_address, ETCD_CLIENT_PORT)
}

/// The client URL the local API server uses: etcd's loopback listener on a real node (as
/// kubeadm), the advertise address on a simulated one.
pub fn local_client_url(spec: &StaticPodSpec) -> String {
    url("https", spec.local_address(), ETCD_CLIENT_PORT)
}

/// One member of `--initial-cluster`: its name and peer URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InitialMember {
    pub name: String,
    pub peer_url: String,
}

/// How this node's etcd member starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialCluster {
    /// `init`: the first member founds a new cluster of itself.
    New,
    /// A joining control plane: the members etcd reported after `MemberAdd` (this one
    /// included), started with `--initial-cluster-state=existing`.
    Existing(Vec<InitialMember>),
}

/// This node's peer URL (`https://<advertise>:2380`): what `MemberAdd` registers and
/// `--initial-advertise-peer-urls` announces.
pub fn peer_url(spec: &StaticPodSpec) -> String {
    url("https", spec.advertise_address, ETCD_PEER_PORT)
}

/// Renders the etcd manifest; `None` with an external etcd.
pub fn render(spec: &StaticPodSpec) -> Result<Option<Pod>, PhaseError> {
    render_member(spec, &InitialCluster::New)
}

/// Renders the etcd manifest of a member that founds or joins the cluster; `None` with an
/// external etcd.
pub fn render_member(
    spec: &StaticPodSpec,
    initial: &InitialCluster,
) -> Result<Option<Pod>, PhaseError> {
    let EtcdSpec::Local(local) = &spec.etcd else {
        return Ok(None);
    };
    let release = spec.release()?;
    let minor = release.minor();
    let args = merge_args(
        default_args(spec, local, release, initial),
        &local.extra_args,
    );
    let probe = probe::probe_target(spec, &args);
    let mounts = merge_mounts(
        vec![
            Mount::same_path(
                "etcd-data",
                &local.data_dir,
                false,
                HostPathType::DirectoryOrCreate,
            ),
            Mount::same_path(
                "etcd-certs",
                &spec.cert("etcd"),
                false,
                HostPathType::DirectoryOrCreate,
            ),
        ],
        &[],
    );
    let image = images::etcd_image(
        &spec.kubernetes_version,
        &spec.image_repository,
        &local.image,
    );
    let annotations = BTreeMap::from([(
        ADVERTISE_CLIENT_URLS_ANNOTATION.to_string(),
        arg_value(&args, "advertise-client-urls")
            .unwrap_or_default()
            .to_string(),
    )]);
    let mut pod = fill(
        "etcd.yaml",
        SKELETON,
        Fill {
            release,
            image,
            pull_policy: spec.image_pull_policy,
            command: command("etcd", &args),
            // kubeadm gives etcd its extraEnvs only, no proxy variables (local.go).
            envs: merge_env(release, &[], &local.extra_envs),
            mounts,
            probe,
            startup_failure_threshold: startup_failure_threshold(spec.control_plane_timeout),
            annotations,
        },
    )?;
    set_probe_paths(&mut pod, minor);
    Ok(Some(pod))
}

fn default_args(
    spec: &StaticPodSpec,
    local: &LocalEtcdSpec,
    release: Release,
    initial: &InitialCluster,
) -> Vec<Arg> {
    let advertise = advertise_client_url(spec);
    let local_client = local_client_url(spec);
    let listen_clients = if local_client == advertise {
        advertise.clone()
    } else {
        format!("{local_client},{advertise}")
    };
    let peer = peer_url(spec);
    let initial_cluster = match initial {
        InitialCluster::New => format!("{}={peer}", spec.node_name),
        InitialCluster::Existing(members) => members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(","),
    };
    let etcd_ca = spec.cert("etcd/ca.crt");
    let mut args = vec![
        arg("name", &spec.node_name),
        arg("listen-client-urls", listen_clients),
        arg("advertise-client-urls", advertise),
        arg("listen-peer-urls", &peer),
        arg("initial-advertise-peer-urls", &peer),
        arg("initial-cluster", initial_cluster),
        path_arg("data-dir", &local.data_dir),
        path_arg("cert-file", &spec.cert("etcd/server.crt")),
        path_arg("key-file", &spec.cert("etcd/server.key")),
        path_arg("trusted-ca-file", &etcd_ca),
        arg("client-cert-auth", "true"),
        path_arg("peer-cert-file", &spec.cert("etcd/peer.crt")),
        path_arg("peer-key-file", &spec.cert("etcd/peer.key")),
        path_arg("peer-trusted-ca-file", &etcd_ca),
        arg("peer-client-cert-auth", "true"),
        arg("snapshot-count", "10000"),
        arg(
            "listen-metrics-urls",
            url("http", spec.local_address(), METRICS_PORT),
        ),
    ];
    if matches!(initial, InitialCluster::Existing(_)) {
        args.push(arg("initial-cluster-state", "existing"));
    }
    // kubeadm's GetEtcdImageTag: the user's etcd.local.imageTag, else the release's.
    let tag = local
        .image
        .image_tag
        .as_deref()
        .unwrap_or_else(|| images::etcd_tag(&spec.kubernetes_version));
    let graduated = release.etcd_graduated_flags(tag);
    if release.etcd_initial_corrupt_check() {
        args.push(if graduated {
            arg("feature-gates", "InitialCorruptCheck=true")
        } else {
            arg("experimental-initial-corrupt-check", "true")
        });
    }
    if release.minor() >= 25 {
        let name = if graduated {
            "watch-progress-notify-interval"
        } else {
            "experimental-watch-progress-notify-interval"
        };
        args.push(arg(name, "5s"));
    }
    args
}

fn set_probe_paths(pod: &mut Pod, minor: u64) {
    let Some(c) = pod.spec.containers.first_mut() else {
        return;
    };
    let (live, start) = match minor {
        ..=24 => ("/health", "/health"),
        25..=30 => (
            "/health?exclude=NOSPACE&serializable=true",
            "/health?serializable=false",
        ),
        _ => ("/livez", "/readyz"),
    };
    if let Some(p) = c.liveness_probe.as_mut() {
        p.http_get.path = live.to_string();
    }
    if let Some(p) = c.startup_probe.as_mut() {
        p.http_get.path = start.to_string();
    }
    if minor >= 31
        && let Some(live) = c.liveness_probe.clone()
    {
        let mut ready = live;
        ready.http_get.path = "/readyz".to_string();
        ready.initial_delay_seconds = None;
        ready.period_seconds = Some(1);
        ready.failure_threshold = Some(3);
        c.readiness_probe = Some(ready);
    }
}

/// Creates the local member's data directory 0700 (staged under `--dry-run`); nothing with
/// an external etcd. An existing directory is left as it is.
pub fn create_data_dir(fx: &Effects<'_>, spec: &StaticPodSpec) -> Result<(), PhaseError> {
    if let EtcdSpec::Local(local) = &spec.etcd {
        fx.fs().create_dir(&local.data_dir, DirMode::PRIVATE)?;
    }
    Ok(())
}

/// The etcd phases write a local member; with an external etcd there is none.
pub(crate) fn local_etcd_only(spec: &StaticPodSpec) -> Applicability {
    match spec.etcd {
        EtcdSpec::Local(_) => Applicability::Applies,
        EtcdSpec::External(_) => {
            Applicability::NotApplicable("etcd is external (etcd.external)".into())
        }
    }
}
