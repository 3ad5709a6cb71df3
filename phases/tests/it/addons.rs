//! The addon objects as the effective configuration fills them (kubeadm's names, images per
//! version, DNS IP, domain, pod CIDR, endpoint), and the addon phases under `--dry-run`:
//! every object recorded, no API contacted.

use std::time::{Duration, Instant};

use kubestrap_phases::contract::effects::{ApiVerb, Silent};
use kubestrap_phases::phases::addons::{
    AddonContext, AddonObject, CoreDns, KubeProxy, coredns, coredns_image, kube_proxy,
};
use kubestrap_phases::{Applicability, Effects, HostFs, InitContext, Step};
use kubestrap_test_support::static_pods::*;

fn ctx(root: &std::path::Path, version: &str, advertise: &str, extra: &str) -> InitContext {
    init_context(root, version, advertise, extra)
}

fn names(objects: &[AddonObject]) -> Vec<(String, Option<String>, String)> {
    objects
        .iter()
        .map(|o| {
            let (k, ns, n) = o.identity();
            (k.to_string(), ns.map(str::to_string), n.to_string())
        })
        .collect()
}

fn find<'a>(objects: &'a [AddonObject], kind: &str) -> &'a AddonObject {
    objects.iter().find(|o| o.identity().0 == kind).unwrap()
}

/// ClusterRole `system:coredns` lets CoreDNS get nodes up to 1.27, as kubeadm's template did
/// until #117521 (1.28).
#[test]
fn coredns_may_get_nodes_up_to_1_27() {
    let root = tempfile::tempdir().unwrap();
    let gets_nodes = |version: &str| {
        let objects =
            coredns::objects(&ctx(root.path(), version, "127.0.0.5", "").addon_spec(), 2).unwrap();
        let AddonObject::ClusterRole(role) = find(&objects, "ClusterRole") else {
            unreachable!()
        };
        role.rules.iter().flatten().any(|r| {
            r.resources.as_deref() == Some(&["nodes".to_string()][..]) && r.verbs == ["get"]
        })
    };
    assert!(gets_nodes("v1.20.2"));
    assert!(gets_nodes("v1.27.16"));
    assert!(!gets_nodes("v1.28.0"));
}

#[test]
fn coredns_objects_follow_the_configuration() {
    let root = tempfile::tempdir().unwrap();
    let c = ctx(
        root.path(),
        "v1.30.2",
        "127.0.0.5",
        "networking:\n  serviceSubnet: 10.200.0.0/16\n  dnsDomain: corp.example\n",
    );
    let spec = c.addon_spec();
    let objects = coredns::objects(&spec, 3).unwrap();
    let ks = Some("kube-system".to_string());
    assert_eq!(
        names(&objects),
        [
            ("ServiceAccount".into(), ks.clone(), "coredns".into()),
            ("ClusterRole".into(), None, "system:coredns".into()),
            ("ClusterRoleBinding".into(), None, "system:coredns".into()),
            ("ConfigMap".into(), ks.clone(), "coredns".into()),
            ("Deployment".into(), ks.clone(), "coredns".into()),
            ("Service".into(), ks.clone(), "kube-dns".into()),
        ]
    );
    let AddonObject::Service(svc) = find(&objects, "Service") else {
        unreachable!()
    };
    let svc_spec = svc.spec.as_ref().unwrap();
    assert_eq!(svc_spec.cluster_ip.as_deref(), Some("10.200.0.10"));
    let ports: Vec<(i32, &str)> = svc_spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.protocol.as_deref().unwrap()))
        .collect();
    assert_eq!(ports, [(53, "UDP"), (53, "TCP"), (9153, "TCP")]);
    let AddonObject::ConfigMap(cm) = find(&objects, "ConfigMap") else {
        unreachable!()
    };
    let corefile = &cm.data.as_ref().unwrap()["Corefile"];
    assert!(
        corefile.contains("kubernetes corp.example in-addr.arpa ip6.arpa {"),
        "{corefile}"
    );
    assert!(corefile.contains("forward . /etc/resolv.conf"));
    let AddonObject::Deployment(d) = find(&objects, "Deployment") else {
        unreachable!()
    };
    let d_spec = d.spec.as_ref().unwrap();
    assert_eq!(d_spec.replicas, Some(3));
    let pod = d_spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.k8s.io/coredns/coredns:v1.11.1")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("coredns"));
    let tolerated: Vec<&str> = pod
        .tolerations
        .iter()
        .flatten()
        .filter_map(|t| t.key.as_deref())
        .collect();
    assert_eq!(
        tolerated,
        [
            "CriticalAddonsOnly",
            "node-role.kubernetes.io/control-plane"
        ]
    );
}

#[test]
fn coredns_image_per_version_and_overrides() {
    let root = tempfile::tempdir().unwrap();
    let image = |version: &str, extra: &str| {
        coredns_image(&ctx(root.path(), version, "127.0.0.5", extra).addon_spec())
    };
    // v1.20: the image before its move to coredns/coredns; the default registry is
    // k8s.gcr.io up to 1.22.16, 1.23.14 and 1.24.8 (config/images.rs).
    assert_eq!(image("v1.20.2", ""), "k8s.gcr.io/coredns:1.7.0");
    assert_eq!(image("v1.21.0", ""), "k8s.gcr.io/coredns/coredns:v1.8.0");
    assert_eq!(
        image("v1.33.1", ""),
        "registry.k8s.io/coredns/coredns:v1.12.0"
    );
    // A mirror carries the image at <mirror>/coredns.
    assert_eq!(
        image("v1.30.0", "imageRepository: mirror.example/k8s\n"),
        "mirror.example/k8s/coredns:v1.11.1"
    );
    assert_eq!(
        image(
            "v1.30.0",
            "dns:\n  imageRepository: dns.example\n  imageTag: v9.9.9\n"
        ),
        "dns.example/coredns:v9.9.9"
    );
    // Up to v1.25 CoreDNS also tolerates the old master taint; kubeadm dropped it in 1.26
    // (#112008).
    let tolerated_keys = |version: &str| -> Vec<String> {
        let spec = ctx(root.path(), version, "127.0.0.5", "").addon_spec();
        let objects = coredns::objects(&spec, 2).unwrap();
        let AddonObject::Deployment(d) = find(&objects, "Deployment") else {
            unreachable!()
        };
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.tolerations.clone())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| t.key)
            .collect()
    };
    // The preferred anti-affinity arrived in 1.25 (#110593, v1.25.0 CHANGELOG).
    let anti_affinity = |version: &str| -> bool {
        let spec = ctx(root.path(), version, "127.0.0.5", "").addon_spec();
        let objects = coredns::objects(&spec, 2).unwrap();
        let AddonObject::Deployment(d) = find(&objects, "Deployment") else {
            unreachable!()
        };
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .is_some()
    };
    assert!(!anti_affinity("v1.20.2"));
    assert!(!anti_affinity("v1.24.17"));
    assert!(anti_affinity("v1.25.0"));
    assert!(anti_affinity("v1.33.0"));
    let master = "node-role.kubernetes.io/master".to_string();
    assert!(tolerated_keys("v1.20.2").contains(&master));
    assert!(tolerated_keys("v1.25.0").contains(&master));
    assert!(!tolerated_keys("v1.26.0").contains(&master));
    assert_eq!(
        kubestrap_phases::config::images::coredns_tag(&"v1.25.0".parse().unwrap()),
        "v1.9.3"
    );
}

#[test]
fn a_repository_that_breaks_the_manifest_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let spec = ctx(
        root.path(),
        "v1.30.0",
        "127.0.0.5",
        "dns:\n  imageTag: \"x\\n      bogus: [\"\n",
    )
    .addon_spec();
    let e = coredns::objects(&spec, 2).unwrap_err();
    assert!(
        e.to_string()
            .contains("manifests/addons/coredns/deployment.yaml"),
        "{e}"
    );
}

#[test]
fn kube_proxy_objects_follow_the_configuration() {
    let root = tempfile::tempdir().unwrap();
    let c = ctx(
        root.path(),
        "v1.30.2",
        "127.0.0.5",
        "controlPlaneEndpoint: lb.example:7443\nnetworking:\n  podSubnet: 192.168.0.0/16\n---\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n",
    );
    let spec = c.addon_spec();
    let objects = kube_proxy::objects(&spec).unwrap();
    let ks = Some("kube-system".to_string());
    assert_eq!(
        names(&objects),
        [
            ("ServiceAccount".into(), ks.clone(), "kube-proxy".into()),
            ("ConfigMap".into(), ks.clone(), "kube-proxy".into()),
            ("DaemonSet".into(), ks.clone(), "kube-proxy".into()),
            (
                "ClusterRoleBinding".into(),
                None,
                "kubeadm:node-proxier".into()
            ),
            ("Role".into(), ks.clone(), "kube-proxy".into()),
            ("RoleBinding".into(), ks.clone(), "kube-proxy".into()),
        ]
    );
    let AddonObject::ConfigMap(cm) = find(&objects, "ConfigMap") else {
        unreachable!()
    };
    let data = cm.data.as_ref().unwrap();
    let kubeconfig = &data["kubeconfig.conf"];
    assert!(
        kubeconfig.contains("server: https://lb.example:7443"),
        "{kubeconfig}"
    );
    assert!(kubeconfig.contains("tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"));
    let config: serde_json::Value = serde_saphyr::from_str(&data["config.conf"]).unwrap();
    assert_eq!(config["kind"], "KubeProxyConfiguration");
    assert_eq!(config["clusterCIDR"], "192.168.0.0/16");
    assert_eq!(config["bindAddress"], "0.0.0.0");
    assert_eq!(
        config["clientConnection"]["kubeconfig"],
        "/var/lib/kube-proxy/kubeconfig.conf"
    );
    // The user's document wins where it speaks.
    assert_eq!(config["mode"], "ipvs");
    let AddonObject::DaemonSet(ds) = find(&objects, "DaemonSet") else {
        unreachable!()
    };
    let pod = ds.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some("registry.k8s.io/kube-proxy:v1.30.2")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("kube-proxy"));
    let AddonObject::RoleBinding(rb) = find(&objects, "RoleBinding") else {
        unreachable!()
    };
    assert_eq!(
        rb.subjects.as_ref().unwrap()[0].name,
        "system:bootstrappers:kubeadm:default-node-token"
    );

    // Without a controlPlaneEndpoint kube-proxy goes to this node; IPv6 binds ::.
    let v6 = ctx(
        root.path(),
        "v1.30.2",
        "fd00::5",
        "networking:\n  serviceSubnet: fd00:10:96::/112\n",
    )
    .addon_spec();
    assert_eq!(v6.control_plane_url, "https://[fd00::5]:6443");
    assert_eq!(v6.dns_ip.to_string(), "fd00:10:96::a");
    let config = kube_proxy::kube_proxy_configuration(&v6);
    assert_eq!(config["bindAddress"], "::");
    assert!(config.get("clusterCIDR").is_none());
}

#[test]
fn disabled_addons_are_not_applicable() {
    let root = tempfile::tempdir().unwrap();
    let c = ctx(
        root.path(),
        "v1.30.2",
        "127.0.0.5",
        "dns:\n  disabled: true\nproxy:\n  disabled: true\n",
    );
    assert!(matches!(
        Step::<InitContext>::applicability(&CoreDns, &c),
        Applicability::NotApplicable(why) if why.contains("dns.disabled")
    ));
    assert!(matches!(
        Step::<InitContext>::applicability(&KubeProxy, &c),
        Applicability::NotApplicable(why) if why.contains("proxy.disabled")
    ));
}

#[tokio::test]
async fn dry_run_lists_every_addon_object_and_contacts_nothing() {
    let root = tempfile::tempdir().unwrap();
    // The advertise address has no API server: any call would hang until the timeout.
    let c = ctx(root.path(), "v1.20.2", "127.0.0.61", "");
    run_steps(&c, &init_steps()).await;
    let staging = tempfile::tempdir().unwrap();
    let fs = HostFs::staged(staging.path());
    let started = Instant::now();
    let mut recorded = Vec::new();
    let steps: [&dyn Step<InitContext>; 2] = [&CoreDns, &KubeProxy];
    for step in steps {
        let mut fx = Effects::new(step.name(), &fs, &Silent);
        step.run(&c, &mut fx)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
        let (files, api) = fx.into_record();
        assert!(files.is_empty());
        recorded.extend(api.into_iter().map(|a| (a.verb, a.kind, a.name)));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    for (kind, name) in [
        ("Deployment", "coredns"),
        ("Service", "kube-dns"),
        ("ConfigMap", "coredns"),
        ("ServiceAccount", "coredns"),
        ("ClusterRole", "system:coredns"),
        ("ClusterRoleBinding", "system:coredns"),
        ("DaemonSet", "kube-proxy"),
        ("ConfigMap", "kube-proxy"),
        ("ServiceAccount", "kube-proxy"),
        ("ClusterRoleBinding", "kubeadm:node-proxier"),
        ("Role", "kube-proxy"),
        ("RoleBinding", "kube-proxy"),
    ] {
        assert!(
            recorded.iter().any(|(_, k, n)| k == kind && n == name),
            "{kind} {name}: {recorded:?}"
        );
    }
    // Every addon object is a server-side apply; v1.20's admin.conf is in system:masters, so
    // no admin binding is made first (kubeadm makes it from 1.29).
    assert!(
        recorded.iter().all(|(v, _, _)| *v == ApiVerb::Apply),
        "{recorded:?}"
    );
}
