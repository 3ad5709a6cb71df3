//! `static-pod-drift`: a control plane's manifests against what the cluster's configuration
//! (kubeadm-config's ClusterConfiguration) renders for this node. kubeadm's upgrade and
//! kubestrap's re-runs render from that configuration, so a flag edited only in a manifest is
//! lost at the next one; a flag the configuration asks for but the manifest lacks was never
//! applied. Only the control-plane components' commands are compared (etcd's
//! `--initial-cluster` is a joining member's own; environment and probes follow the host).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::Path;

use super::super::facts::{NodeFacts, Role, read_pod};
use super::super::{Evidence, Finding, FindingId};
use crate::config::ApiEndpoint;
use crate::config::node_name::NodeName;
use crate::config::{ClusterConfig, CriSocket, ImagePullPolicy, NodeRegistration, Timeouts};
use crate::context::control_plane_static_pod_spec;
use crate::contract::host::NodeRoot;
use crate::phases::control_plane::{Component, render};

pub const STATIC_POD_DRIFT: FindingId = FindingId("static-pod-drift");

/// The drift of each control-plane manifest on this node from what `cluster` renders.
pub fn check(cluster: &ClusterConfig, node: &NodeFacts, root: &NodeRoot) -> Vec<Finding> {
    if node.role != Role::ControlPlane {
        return Vec::new();
    }
    let Some(spec) = node_spec(cluster, node, root) else {
        return Vec::new();
    };
    // kubeadm's external-CA mode (ca.crt without ca.key) renders the signer flags empty.
    let external_ca = !node.cert_dir.join("ca.key").exists();
    let mut findings = Vec::new();
    for component in Component::ALL {
        let path = node
            .manifests_dir
            .join(format!("{}.yaml", component.pod_name()));
        let (Some(on_disk), Ok(rendered)) =
            (command_of(&path), render(component, &spec, external_ca))
        else {
            continue;
        };
        let Some(rendered) = rendered.spec.containers.first().map(|c| c.command.clone()) else {
            continue;
        };
        let (have, want): (BTreeSet<&String>, BTreeSet<&String>) =
            (on_disk.iter().collect(), rendered.iter().collect());
        if have == want {
            continue;
        }
        let mut finding = Finding::warning(
            STATIC_POD_DRIFT,
            format!(
                "{}'s manifest differs from what the cluster's configuration (kubeadm-config) renders for this node: the next upgrade or re-run of its phase renders the configuration's",
                component.pod_name()
            ),
            format!(
                "record the change in the ClusterConfiguration (`{}.extraArgs`) and run `kubestrap init phase control-plane {}`, or revert the manifest",
                extra_args_field(component),
                component.phase_name()
            ),
        );
        for only in have.difference(&want) {
            finding = finding.with(
                Evidence::of(path.display().to_string())
                    .field("spec.containers[0].command (only in the manifest)")
                    .value(only.as_str()),
            );
        }
        for only in want.difference(&have) {
            finding = finding.with(
                Evidence::of(path.display().to_string())
                    .field("spec.containers[0].command (only in the configuration)")
                    .value(only.as_str()),
            );
        }
        findings.push(finding);
    }
    findings
}

fn extra_args_field(component: Component) -> &'static str {
    match component {
        Component::ApiServer => "apiServer",
        Component::ControllerManager => "controllerManager",
        Component::Scheduler => "scheduler",
    }
}

/// The static-pod spec of this node: the cluster's configuration with this node's name and
/// API endpoint, as its kube-apiserver manifest says them.
fn node_spec(
    cluster: &ClusterConfig,
    node: &NodeFacts,
    root: &NodeRoot,
) -> Option<crate::domain::static_pod::StaticPodSpec> {
    let name: NodeName = node.node_name.as_deref()?.parse().ok()?;
    let apiserver = read_pod(&node.manifests_dir.join("kube-apiserver.yaml"))?;
    let endpoint = ApiEndpoint {
        advertise_address: apiserver
            .flag("advertise-address")?
            .parse::<IpAddr>()
            .ok()?,
        bind_port: apiserver.flag("secure-port")?.parse().ok()?,
    };
    let registration = NodeRegistration {
        name,
        cri_socket: CriSocket::default(),
        taints: None,
        kubelet_extra_args: Vec::new(),
        image_pull_policy: ImagePullPolicy::IfNotPresent,
        image_pull_serial: true,
    };
    Some(control_plane_static_pod_spec(
        cluster,
        &registration,
        endpoint,
        &Timeouts::default(),
        root,
    ))
}

/// The first container's command in the manifest at `path`.
fn command_of(path: &Path) -> Option<Vec<String>> {
    read_pod(path)?
        .spec
        .containers
        .into_iter()
        .next()
        .map(|c| c.command)
}
