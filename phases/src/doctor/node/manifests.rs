//! The control plane's static-pod manifests, read once: what the certificate checks take
//! their expectations from (advertise addresses, the service range, the CA files the components
//! are given) and what the static-pod checks judge.

use std::path::PathBuf;

use super::{NodeFiles, Read, shown, unreadable_why};
use crate::doctor::Finding;
use crate::domain::static_pod::{Container, Pod};

/// kubeadm's four static pods, by component name (kubeadm constants `KubeAPIServer`,
/// `KubeControllerManager`, `KubeScheduler`, `Etcd`; manifests are `<name>.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Component {
    ApiServer,
    ControllerManager,
    Scheduler,
    Etcd,
}

impl Component {
    pub(super) const ALL: [Component; 4] = [
        Component::ApiServer,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Etcd,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::ApiServer => "kube-apiserver",
            Self::ControllerManager => "kube-controller-manager",
            Self::Scheduler => "kube-scheduler",
            Self::Etcd => "etcd",
        }
    }
}

/// One manifest that parsed.
#[derive(Debug, Clone)]
pub(super) struct Manifest {
    pub(super) component: Component,
    pub(super) path: PathBuf,
    pub(super) pod: Pod,
}

impl Manifest {
    pub(super) fn container(&self) -> Option<&Container> {
        self.pod.container()
    }

    /// The value of `--name=value` in the container's command (the last one when repeated, as
    /// the component's flag parser takes it); `None` when the flag is absent.
    pub(super) fn flag(&self, name: &str) -> Option<&str> {
        self.pod.flag(name)
    }

    /// Every `--name=value` of the command, in order.
    pub(super) fn flags(&self) -> Vec<(&str, &str)> {
        self.container()
            .map(|c| {
                c.command
                    .iter()
                    .filter_map(|a| a.strip_prefix("--")?.split_once('='))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Evidence's field name for a flag.
    pub(super) fn flag_field(name: &str) -> String {
        format!("spec.containers[0].command --{name}")
    }

    pub(super) fn shown(&self) -> String {
        shown(&self.path)
    }
}

/// The manifests found, and the findings for those that exist and do not parse.
pub(super) struct Manifests {
    pub(super) found: Vec<Manifest>,
    pub(super) unreadable: Vec<Finding>,
}

impl Manifests {
    pub(super) fn read(files: &NodeFiles<'_>) -> Self {
        let mut found = Vec::new();
        let mut unreadable = Vec::new();
        for component in Component::ALL {
            let path = files
                .node
                .manifests_dir
                .join(format!("{}.yaml", component.name()));
            match files.text(&path) {
                Read::Absent => {}
                Read::Unreadable(f) => unreadable.push(f),
                Read::Parsed(text) => match Pod::from_yaml(&text) {
                    Ok(pod) => found.push(Manifest {
                        component,
                        path,
                        pod,
                    }),
                    // Only the parser's first line: the rest quotes the manifest.
                    Err(e) => {
                        let e = e.to_string();
                        let first = e.lines().next().unwrap_or_default();
                        unreadable.push(unreadable_why(
                            &path,
                            &format!("not a Pod manifest: {first}"),
                        ));
                    }
                },
            }
        }
        Self { found, unreadable }
    }

    pub(super) fn get(&self, component: Component) -> Option<&Manifest> {
        self.found.iter().find(|m| m.component == component)
    }

    /// Whether etcd is this node's own (kubeadm's local etcd writes etcd.yaml); an external
    /// etcd brings its own certificates, so kubeadm makes none of the etcd ones.
    pub(super) fn local_etcd(&self) -> bool {
        self.get(Component::Etcd).is_some()
    }
}

/// The host of a URL (`https://127.0.0.7:2379` → `127.0.0.7`, `https://[::1]:2379` → `::1`).
pub(super) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://127.0.0.7:2379"), Some("127.0.0.7"));
        assert_eq!(url_host("https://[fd00::1]:2380"), Some("fd00::1"));
        assert_eq!(url_host("https://cp.example.test"), Some("cp.example.test"));
        assert_eq!(
            url_host("https://cp.example.test:7443/x"),
            Some("cp.example.test")
        );
    }
}
