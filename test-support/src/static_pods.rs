//! An init node from a real kubeadm configuration file: the loaded config, its
//! [`InitContext`] and static-pod spec, and init's local steps run in order.

use std::path::Path;

use kubestrap_phases::config::{self, InitConfig, InitFlags};
use kubestrap_phases::context::init_static_pod_spec;
use kubestrap_phases::contract::effects::{Silent, WrittenFile};
use kubestrap_phases::domain::static_pod::StaticPodSpec;
use kubestrap_phases::{Applicability, Effects, HostFs, InitContext, NodeRoot, Step};

use crate::kubeadm_config;

/// Loads an init configuration the way `kubestrap init --config` does: `extra` is appended to
/// a ClusterConfiguration document (v1beta4) naming the version, and may add documents.
pub fn init_config(dir: &Path, version: &str, advertise: &str, extra: &str) -> InitConfig {
    init_config_with(dir, "", version, advertise, extra)
}

/// Like [`init_config`], with `node_extra` appended to the InitConfiguration's
/// nodeRegistration (indented by two spaces by the caller).
pub fn init_config_with(
    dir: &Path,
    node_extra: &str,
    version: &str,
    advertise: &str,
    extra: &str,
) -> InitConfig {
    let file = kubeadm_config::init()
        .advertise(advertise)
        .bind_port(6443)
        .node_name("node-1")
        .node_extra(node_extra)
        .with(
            kubeadm_config::cluster()
                .kubernetes_version(version)
                .extra(extra),
        )
        .write(dir.join("kubeadm.yaml"));
    config::load_init(Some(&file), &InitFlags::default()).unwrap_or_else(|e| panic!("config: {e}"))
}

/// The `InitContext` `kubestrap init --config` builds for `root` from the config text `yaml`.
pub fn init_context_from_yaml(root: &Path, yaml: &str, flags: &InitFlags) -> InitContext {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kubeadm.yaml");
    std::fs::write(&file, yaml).unwrap();
    let cfg = config::load_init(Some(&file), flags).unwrap_or_else(|e| panic!("config: {e}"));
    InitContext::new(cfg, NodeRoot::new(root).unwrap(), &HostFs::real()).unwrap()
}

pub fn spec(root: &Path, version: &str, advertise: &str, extra: &str) -> StaticPodSpec {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = init_config(cfg_dir.path(), version, advertise, extra);
    init_static_pod_spec(&cfg, &NodeRoot::new(root).unwrap())
}

/// The container's command as a list.
pub fn command_of(pod: &kubestrap_phases::domain::static_pod::Pod) -> Vec<String> {
    pod.container().unwrap().command.clone()
}

/// `--name=value` → value, for the last occurrence.
pub fn flag<'a>(cmd: &'a [String], name: &str) -> Option<&'a str> {
    let prefix = format!("--{name}=");
    cmd.iter().rev().find_map(|a| a.strip_prefix(&prefix))
}

/// An init context over a real configuration, as `kubestrap init --root <root>` builds it.
pub fn init_context(root: &Path, version: &str, advertise: &str, extra: &str) -> InitContext {
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = init_config(cfg_dir.path(), version, advertise, extra);
    InitContext::new(cfg, NodeRoot::new(root).unwrap(), &HostFs::real()).unwrap()
}

/// Runs the applicable steps in order; panics naming the phase that failed.
pub async fn run_steps(
    ctx: &InitContext,
    steps: &[Box<dyn Step<InitContext>>],
) -> Vec<WrittenFile> {
    let fs = HostFs::real();
    let mut out = Vec::new();
    for step in steps {
        if step.applicability(ctx) != Applicability::Applies {
            continue;
        }
        let mut fx = Effects::new(step.name(), &fs, &Silent);
        step.run(ctx, &mut fx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
        out.extend(fx.into_record().0);
    }
    out
}

/// certs, kubeconfig, etcd/local and control-plane/*, as init runs them.
pub fn init_steps() -> Vec<Box<dyn Step<InitContext>>> {
    let mut v = kubestrap_phases::phases::certs::phases::<InitContext>();
    v.extend(kubestrap_phases::phases::kubeconfig::phases::<InitContext>());
    v.push(Box::new(kubestrap_phases::phases::etcd::EtcdLocal));
    v.extend(kubestrap_phases::phases::control_plane::phases::<InitContext>());
    v
}
