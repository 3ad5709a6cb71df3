//! The environment of the control-plane containers: the `*_proxy` variables of the process that
//! runs kubestrap, then the component's `extraEnvs`, as kubeadm passes them, so that a control
//! plane behind a proxy reaches webhooks, OIDC issuers and cloud APIs the way kubeadm's does.
//!
//! kubeadm (`GetProxyEnvVars`, cmd/kubeadm/app/util/env.go; search index id 69161277, and
//! getProxyEnvVars in the 1.20–1.22 phases/controlplane/manifests.go, id 341578322) takes every
//! variable of its own environment whose name, lower-cased, ends in `_proxy` and whose value is
//! not empty, in the environment's order: `HTTP_PROXY`, `https_proxy`, `NO_PROXY`, also
//! `ALL_PROXY` or `FTP_PROXY`. It gives them to kube-apiserver, kube-controller-manager and
//! kube-scheduler, not to etcd. `MergeKubeadmEnvVars(proxyEnvs, extraEnvs)` (v1beta4 era,
//! manifests.go id 39868239) lets an `extraEnvs` entry replace a proxy variable of the same name.
//! Up to 1.31 the merge went through a Go map, so kubeadm's order was random; from 1.32 it is
//! sorted by name (#126743, "extra environment variables written to a kubeadm managed PodSpec
//! are sorted alpha-numerically", v1.32.0-alpha CHANGELOG, id 2568166653). kubestrap keeps a
//! fixed order before 1.32 (proxy variables in the environment's order, then `extraEnvs`), so
//! that re-rendering an unchanged manifest leaves the file untouched.
//!
//! The environment is read once, at the edge (the context), and handed in as a value: rendering
//! never looks at the process environment.

use std::ffi::OsString;

use crate::config::{EnvVar, Release};

/// The `*_proxy` variables of `vars` (a process environment, in its order), as kubeadm's
/// `GetProxyEnvVars` picks them. Names or values that are not UTF-8 cannot be written into a
/// manifest and are left out.
pub fn proxy_env(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<EnvVar> {
    vars.into_iter()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, value)| name.to_lowercase().ends_with("_proxy") && !value.is_empty())
        .map(|(name, value)| EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect()
}

/// kubeadm's `MergeKubeadmEnvVars(base, extra)`: one variable per name, a later list's entry
/// replacing an earlier one; sorted by name from 1.32 ([`Release::sorts_component_env`]).
/// Before, base entries keep their places (taking a replacing value in place) and new names
/// follow in `extra`'s order.
pub fn merge_env(release: Release, base: &[EnvVar], extra: &[EnvVar]) -> Vec<EnvVar> {
    let mut merged: Vec<EnvVar> = Vec::with_capacity(base.len() + extra.len());
    for e in base.iter().chain(extra) {
        match merged.iter_mut().find(|m| m.name == e.name) {
            Some(slot) => *slot = e.clone(),
            None => merged.push(e.clone()),
        }
    }
    if release.sorts_component_env() {
        merged.sort_by(|a, b| a.name.cmp(&b.name));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KubernetesVersion;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        }
    }

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v)))
            .collect()
    }

    fn release(minor: u64) -> Release {
        Release::of(&KubernetesVersion::new(1, minor, 0))
    }

    #[test]
    fn only_non_empty_proxy_variables_are_taken_in_environment_order() {
        let got = proxy_env(os(&[
            ("PATH", "/usr/bin"),
            ("https_proxy", "http://proxy.test:3128"),
            ("NO_PROXY", "10.96.0.0/12,127.0.0.1"),
            ("HTTP_PROXY", ""),
            ("ALL_PROXY", "socks5://proxy.test"),
            ("PROXY", "x"),
            ("NOT_A_PROXY_SETTING", "x"),
        ]));
        assert_eq!(
            got,
            [
                var("https_proxy", "http://proxy.test:3128"),
                var("NO_PROXY", "10.96.0.0/12,127.0.0.1"),
                var("ALL_PROXY", "socks5://proxy.test"),
            ]
        );
    }

    #[test]
    fn extra_envs_replace_proxy_variables_and_1_32_sorts_by_name() {
        let proxy = [var("https_proxy", "a"), var("HTTP_PROXY", "b")];
        let extra = [var("GOGC", "50"), var("https_proxy", "c")];
        let names = |v: Vec<EnvVar>| -> Vec<(String, String)> {
            v.into_iter()
                .map(|e| (e.name, e.value.unwrap_or_default()))
                .collect()
        };
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            names(merge_env(release(31), &proxy, &extra)),
            [
                pair("https_proxy", "c"),
                pair("HTTP_PROXY", "b"),
                pair("GOGC", "50")
            ]
        );
        assert_eq!(
            names(merge_env(release(32), &proxy, &extra)),
            [
                pair("GOGC", "50"),
                pair("HTTP_PROXY", "b"),
                pair("https_proxy", "c")
            ]
        );
        // Duplicates within one list collapse to the last, as in kubeadm's map.
        assert_eq!(
            names(merge_env(release(32), &[], &[var("A", "1"), var("A", "2")])),
            [pair("A", "2")]
        );
    }
}
