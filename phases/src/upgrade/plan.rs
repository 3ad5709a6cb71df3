//! `kubestrap upgrade plan` and `upgrade diff`: everything an apply would do, before it does
//! any of it — per component the version it runs and the one it would run, whether its
//! manifest changes (and how: a unified diff), the version policy's verdict, the changes to
//! the cluster's configuration, and what happens to the kubelets and the addons. kubeadm's
//! `upgrade plan` prints the version table; `upgrade diff` the manifests' diffs.

use serde::Serialize;

use crate::config::{Release, stored};
use crate::contract::host::HostFs;
use crate::contract::step::PhaseError;
use crate::doctor::facts::read_pod;
use crate::domain::kubelet::KubeletContext;
use crate::domain::static_pod::StaticPodContext;

use super::context::UpgradeContext;
use super::diff::unified_diff;
use super::policy::{self, KubeletVersion, Violation};
use super::static_pods::{Component, render};

/// What `upgrade plan` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub node: String,
    pub current_version: String,
    pub target_version: String,
    /// The version policy's findings; an apply refuses a mandatory one, and a skippable one
    /// without `--force`.
    pub violations: Vec<Violation>,
    pub components: Vec<ComponentPlan>,
    pub kubelets: Vec<KubeletPlan>,
    /// The ClusterConfiguration as kubeadm-config holds it now → after the apply, as a unified
    /// diff; empty when it does not change.
    pub config_diff: String,
    /// What the apply does besides the static pods, in order.
    pub actions: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentPlan {
    pub component: &'static str,
    /// The image tag its manifest runs now, and would run.
    pub current: Option<String>,
    pub target: Option<String>,
    /// Whether the apply writes a new manifest (and so restarts the pod).
    pub changes: bool,
    /// The manifest's unified diff; empty when it does not change.
    pub diff: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct KubeletPlan {
    pub node: String,
    pub current: String,
    pub target: String,
}

impl Plan {
    /// Whether an apply would refuse (with `force`, only mandatory violations count).
    pub fn refused(&self, force: bool) -> bool {
        self.violations.iter().any(|v| !v.skippable || !force)
    }
}

/// Works the plan out from the node's files and the context; reads, never writes.
pub fn plan(ctx: &UpgradeContext, fs: &HostFs) -> Result<Plan, PhaseError> {
    let mut components = Vec::new();
    if ctx.is_control_plane() {
        for component in Component::ALL {
            let path = ctx.target.static_pods().manifest_path(component.pod_name());
            let current_pod = read_pod(&path);
            let Some(wanted) = render(ctx, component, current_pod.as_ref(), fs)? else {
                continue;
            };
            let current = fs
                .read_if_exists(&path)?
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let target_tag = crate::domain::static_pod::Pod::from_yaml(&wanted)
                .ok()
                .and_then(|p| image_tag(&p));
            components.push(ComponentPlan {
                component: component.pod_name(),
                current: current_pod.as_ref().and_then(image_tag),
                target: target_tag,
                changes: current != wanted,
                diff: unified_diff(&path, &current, &wanted),
            });
        }
    }
    let target = ctx.target_version();
    let kubelets = ctx
        .current
        .kubelets
        .iter()
        .map(|k: &KubeletVersion| KubeletPlan {
            node: k.node.clone(),
            current: k.version.to_string(),
            target: target.to_string(),
        })
        .collect();
    let timeout = ctx
        .target
        .config
        .timeouts
        .control_plane_component_health_check;
    let config_diff = unified_diff(
        std::path::Path::new("kube-system/kubeadm-config ClusterConfiguration"),
        &stored::cluster_configuration(
            &ctx.current.cluster,
            Release::of(ctx.current_version()),
            timeout,
        ),
        &stored::cluster_configuration(&ctx.target.config.cluster, Release::of(target), timeout),
    );
    Ok(Plan {
        node: ctx.node.name.clone(),
        current_version: ctx.current_version().to_string(),
        target_version: target.to_string(),
        violations: policy::check(ctx.current_version(), target, &ctx.current.kubelets),
        components,
        kubelets,
        config_diff,
        actions: actions(ctx, fs),
    })
}

/// The steps after the static pods, in the words the plan prints.
fn actions(ctx: &UpgradeContext, fs: &HostFs) -> Vec<String> {
    let release = Release::of(ctx.target_version());
    let kubelet = ctx.target.kubelet();
    let config_changes = fs
        .read_if_exists(&kubelet.config_path())
        .ok()
        .flatten()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        != serde_saphyr::to_string(&kubelet.config()).ok();
    vec![
        "control-plane/admin-conf: admin.conf's client certificate renewed after the static pods (not with --certificate-renewal=false)".into(),
        format!(
            "upload-config: ConfigMap kube-system/kubeadm-config with the ClusterConfiguration above, and kube-system/{} with the kubelet configuration",
            release.kubelet_config_map()
        ),
        format!(
            "kubelet-config: {} {} (restart the kubelet afterwards)",
            kubelet.config_path().display(),
            if config_changes { "changes" } else { "stays as it is" }
        ),
        "bootstrap-token: the bootstrap RBAC and ConfigMap kube-public/cluster-info re-applied".into(),
        "addon/coredns: Deployment and Service to the target's; ConfigMap coredns (the Corefile) kept as the cluster has it".into(),
        if ctx.replaces_kube_proxy_config {
            "addon/kube-proxy: DaemonSet to the target's; ConfigMap kube-proxy replaced by the KubeProxyConfiguration of --config".into()
        } else {
            "addon/kube-proxy: DaemonSet to the target's; ConfigMap kube-proxy kept as the cluster has it".into()
        },
    ]
}

fn image_tag(pod: &crate::domain::static_pod::Pod) -> Option<String> {
    let image = &pod.spec.containers.first()?.image;
    image.rsplit_once(':').map(|(_, tag)| tag.to_string())
}

/// The plan as text, kubeadm's table first.
pub fn to_text(plan: &Plan, force: bool) -> String {
    let mut out = format!(
        "Upgrade plan for node {}: {} → {}\n\n",
        plan.node, plan.current_version, plan.target_version
    );
    out.push_str(&format!(
        "{:<26}{:<16}{:<16}{}\n",
        "COMPONENT", "CURRENT", "TARGET", "MANIFEST"
    ));
    for c in &plan.components {
        out.push_str(&format!(
            "{:<26}{:<16}{:<16}{}\n",
            c.component,
            c.current.as_deref().unwrap_or("-"),
            c.target.as_deref().unwrap_or("-"),
            if c.changes {
                "changes (pod restarts)"
            } else {
                "unchanged"
            }
        ));
    }
    for k in &plan.kubelets {
        out.push_str(&format!(
            "{:<26}{:<16}{:<16}{}\n",
            format!("kubelet on {}", k.node),
            k.current,
            k.target,
            "upgrade its package, then `kubestrap upgrade node`"
        ));
    }
    out.push('\n');
    if plan.violations.is_empty() {
        out.push_str("Version policy: allowed.\n");
    } else {
        for v in &plan.violations {
            out.push_str(&format!(
                "Version policy: {} [{}{}]\n",
                v.message,
                v.id,
                if v.skippable { "; --force goes on" } else { "" }
            ));
        }
    }
    if plan.config_diff.is_empty() {
        out.push_str("Configuration: unchanged.\n");
    } else {
        out.push_str("Configuration changes:\n");
        out.push_str(&plan.config_diff);
    }
    out.push_str("\nWhat apply does after the control plane:\n");
    for a in &plan.actions {
        out.push_str(&format!("  - {a}\n"));
    }
    out.push_str(if plan.refused(force) {
        "\n`kubestrap upgrade apply` would refuse this upgrade (see the version policy above).\n"
    } else {
        "\nRun `kubestrap upgrade apply` with this version to do it; `kubestrap upgrade diff` shows the manifests' changes.\n"
    });
    out
}
