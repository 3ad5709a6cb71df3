//! kubeadm's documented sample configurations parse, with spot-checked effective values.

use std::net::IpAddr;
use std::path::PathBuf;

use kubestrap_phases::config::token::{TokenGroup, TokenUsage};
use kubestrap_phases::config::*;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn v1beta4_full_init_example() {
    let cfg = load_init(Some(&data("v1beta4-init-full.yaml")), &InitFlags::default()).unwrap();
    assert_eq!(cfg.bootstrap_tokens.len(), 2);
    let t0 = &cfg.bootstrap_tokens[0];
    assert_eq!(t0.token.id().as_str(), "9a08jv");
    assert_eq!(t0.token.expose(), "9a08jv.c0izixklcxtmnze7");
    assert_eq!(t0.expiry, TokenExpiry::Ttl(GoDuration::from_secs(86400)));
    assert_eq!(
        t0.usages,
        vec![TokenUsage::Signing, TokenUsage::Authentication]
    );
    assert_eq!(t0.groups, vec![TokenGroup::default_node_token()]);
    assert_eq!(
        cfg.bootstrap_tokens[1].usages,
        vec![TokenUsage::Authentication, TokenUsage::Signing]
    );
    assert_eq!(
        cfg.bootstrap_tokens[1].description.as_deref(),
        Some("another bootstrap token")
    );

    let nr = &cfg.node_registration;
    assert_eq!(nr.name.as_str(), "ec2-10-100-0-1");
    let taints = nr.taints.as_deref().unwrap();
    assert_eq!(taints.len(), 1);
    assert_eq!(taints[0].key, "kubeadmNode");
    assert_eq!(taints[0].effect, TaintEffect::NoSchedule);
    assert_eq!(
        nr.kubelet_extra_args,
        vec![Arg {
            name: "v".into(),
            value: "5".into()
        }]
    );
    assert_eq!(cfg.ignore_preflight_errors(), ["isprivilegeduser"]);
    assert_eq!(
        cfg.local_api_endpoint,
        ApiEndpoint {
            advertise_address: ip("10.100.0.1"),
            bind_port: 6443
        }
    );
    assert_eq!(
        cfg.certificate_key.as_ref().unwrap().expose_hex(),
        "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"
    );
    assert_eq!(cfg.skip_phases(), ["preflight"]);
    assert_eq!(
        cfg.timeouts
            .control_plane_component_health_check
            .to_string(),
        "1m0s"
    );
    assert_eq!(cfg.timeouts.kubernetes_api_call.to_string(), "40s");
    assert_eq!(
        cfg.timeouts.discovery.to_string(),
        "5m0s",
        "unset timeouts keep defaults"
    );

    let c = &cfg.cluster;
    let EtcdConfig::Local(etcd) = &c.etcd else {
        panic!("expected local etcd")
    };
    assert_eq!(etcd.image.image_tag.as_deref(), Some("3.2.24"));
    assert_eq!(etcd.extra_args[0].name, "listen-client-urls");
    assert_eq!(etcd.extra_envs[0].value.as_deref(), Some("SOME_VALUE"));
    assert_eq!(
        etcd.server_cert_sans,
        vec![SubjectAltName::Dns(
            "ec2-10-100-0-1.compute-1.amazonaws.com".into()
        )]
    );
    assert_eq!(
        etcd.peer_cert_sans,
        vec![SubjectAltName::Ip(ip("10.100.0.1"))]
    );
    assert_eq!(c.networking.service_subnet.to_string(), "10.96.0.0/16");
    assert_eq!(
        c.networking.pod_subnet.as_ref().unwrap().to_string(),
        "10.244.0.0/24"
    );
    assert_eq!(c.kubernetes_version.to_string(), "v1.21.0");
    let cpe = c.control_plane_endpoint.as_ref().unwrap();
    assert_eq!(
        (cpe.host.clone(), cpe.port),
        (Host::Ip(ip("10.100.0.1")), Some(6443))
    );
    assert_eq!(c.api_server.component.extra_args[0].value, "Node,RBAC");
    assert_eq!(
        c.api_server.component.extra_volumes[0].path_type,
        HostPathType::File
    );
    assert_eq!(c.api_server.cert_sans.len(), 2);
    assert_eq!(c.controller_manager.extra_args[0].value, "20");
    assert_eq!(c.cluster_name, "example-cluster");
    assert_eq!(c.encryption_algorithm, EncryptionAlgorithm::EcdsaP256);
    assert!(c.dns.disabled && c.proxy_disabled);
    assert_eq!(
        cfg.kubelet_config.as_ref().unwrap()["kind"],
        "KubeletConfiguration"
    );
    assert_eq!(
        cfg.kube_proxy_config.as_ref().unwrap()["apiVersion"],
        "kubeproxy.config.k8s.io/v1alpha1"
    );
}

#[test]
fn v1beta4_doc_typo_is_rejected_with_field_path() {
    let text = std::fs::read_to_string(data("v1beta4-init-full.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.yaml");
    std::fs::write(
        &path,
        text.replace("  kubernetesAPICall:", "  kubenetesAPICall:"),
    )
    .unwrap();
    let err = load_init(Some(&path), &InitFlags::default()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::UnknownField { field, .. } if field == "timeouts.kubenetesAPICall"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("document 1")
            && msg.contains("InitConfiguration")
            && msg.contains("kubernetesAPICall"),
        "{msg}"
    );
}

#[test]
fn v1beta3_full_init_example_converts_like_kubeadm() {
    let cfg = load_init(Some(&data("v1beta3-init-full.yaml")), &InitFlags::default()).unwrap();
    // v: 4 (a YAML integer) in a v1beta3 map becomes the argument "4".
    assert_eq!(
        cfg.node_registration.kubelet_extra_args,
        vec![Arg {
            name: "v".into(),
            value: "4".into()
        }]
    );
    assert_eq!(cfg.skip_phases(), ["addon/kube-proxy"]);
    // apiServer.timeoutForControlPlane → timeouts.controlPlaneComponentHealthCheck
    assert_eq!(
        cfg.timeouts.control_plane_component_health_check,
        GoDuration::from_secs(240)
    );
    let EtcdConfig::Local(etcd) = &cfg.cluster.etcd else {
        panic!("expected local etcd")
    };
    assert_eq!(
        etcd.extra_args,
        vec![Arg {
            name: "listen-client-urls".into(),
            value: "http://10.100.0.1:2379".into()
        }]
    );
    assert_eq!(etcd.image.image_repository.as_deref(), Some("k8s.gcr.io"));
    assert_eq!(cfg.cluster.image_repository, "k8s.gcr.io");
    // v1beta3 has no encryptionAlgorithm / validity periods: defaults apply.
    assert_eq!(
        cfg.cluster.encryption_algorithm,
        EncryptionAlgorithm::Rsa2048
    );
    assert_eq!(
        cfg.cluster.ca_certificate_validity_period.to_string(),
        "87600h0m0s"
    );
    assert!(!cfg.dry_run());
    // Rendered as v1beta4: extraArgs become name/value lists.
    let yaml = cfg.to_v1beta4_yaml();
    assert!(
        yaml.contains("  extraArgs:\n  - name: authorization-mode\n    value: Node,RBAC\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("timeoutForControlPlane"));
}

#[test]
fn v1beta4_join_example() {
    let cfg = load_join(
        Some(&data("v1beta4-join.yaml")),
        &JoinFlags {
            node_name: Some("worker-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let DiscoveryMethod::BootstrapToken(bt) = &cfg.discovery.method else {
        panic!("expected token discovery")
    };
    assert_eq!(bt.api_server_endpoint.to_string(), "some-address:6443");
    assert_eq!(bt.token.id().as_str(), "abcdef");
    assert!(bt.unsafe_skip_ca_verification && bt.ca_cert_hashes.is_empty());
    assert_eq!(
        cfg.discovery.tls_bootstrap_token.as_ref().unwrap().expose(),
        "abcdef.0123456789abcdef"
    );
    assert_eq!(cfg.ca_cert_path.to_string(), "/etc/kubernetes/pki/ca.crt");
    assert!(cfg.control_plane.is_none());
    assert!(
        cfg.node_registration.taints == Some(Vec::new()),
        "workers get no default taint"
    );
}

#[test]
fn v1beta3_control_plane_join() {
    let cfg = load_join(
        Some(&data("v1beta3-join-control-plane.yaml")),
        &JoinFlags::default(),
    )
    .unwrap();
    assert_eq!(cfg.timeouts.discovery.to_string(), "10m0s");
    assert_eq!(
        cfg.node_registration.cri_socket.as_str(),
        "unix:///run/containerd/containerd.sock"
    );
    // Map entries come out sorted by name, as kubeadm's conversion does.
    let names: Vec<&str> = cfg
        .node_registration
        .kubelet_extra_args
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["cgroup-driver", "node-ip"]);
    let cp = cfg.control_plane.as_ref().unwrap();
    assert_eq!(
        cp.local_api_endpoint,
        ApiEndpoint {
            advertise_address: ip("127.0.0.62"),
            bind_port: 6444
        }
    );
    assert!(cp.certificate_key.is_some());
    // Unset: the cluster's release's default, known after discovery.
    assert_eq!(cfg.node_registration.taints, None);
    let DiscoveryMethod::BootstrapToken(bt) = &cfg.discovery.method else {
        panic!()
    };
    assert_eq!(bt.ca_cert_hashes.len(), 1);
    assert_eq!(
        cfg.discovery.tls_bootstrap_token.as_ref(),
        Some(&bt.token),
        "TLS token defaults to the discovery token"
    );
}

#[test]
fn external_etcd_and_dual_stack() {
    let flags = InitFlags {
        apiserver_advertise_address: Some("127.0.0.51".into()),
        node_name: Some("cp-1".into()),
        ..Default::default()
    };
    let cfg = load_init(Some(&data("v1beta4-external-etcd.yaml")), &flags).unwrap();
    let EtcdConfig::External(x) = &cfg.cluster.etcd else {
        panic!("expected external etcd")
    };
    assert_eq!(x.endpoints.len(), 2);
    assert_eq!(
        x.tls.as_ref().unwrap().key_file.to_string(),
        "/etcd/kubernetes/pki/etcd/etcd.key"
    );
    assert_eq!(
        cfg.cluster
            .networking
            .pod_subnet
            .as_ref()
            .unwrap()
            .subnets()
            .len(),
        2
    );
    assert_eq!(cfg.cluster.kubernetes_version.to_string(), "v1.31.2");
    assert_eq!(
        cfg.cluster
            .control_plane_endpoint
            .as_ref()
            .unwrap()
            .port_or(6443),
        6443
    );
    // No InitConfiguration document: init defaults apply.
    assert_eq!(cfg.bootstrap_tokens.len(), 1);
    assert_eq!(
        cfg.node_registration.taints,
        Some(vec![Taint::no_schedule(
            "node-role.kubernetes.io/control-plane"
        )])
    );
}

#[test]
fn samples_render_and_reload_to_the_same_config() {
    for name in ["v1beta4-init-full.yaml", "v1beta3-init-full.yaml"] {
        let cfg = load_init(Some(&data(name)), &InitFlags::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rendered.yaml");
        std::fs::write(&path, cfg.to_v1beta4_yaml()).unwrap();
        let again = load_init(Some(&path), &InitFlags::default()).unwrap();
        assert_eq!(again, cfg, "{name}");
    }
    for name in ["v1beta4-join.yaml", "v1beta3-join-control-plane.yaml"] {
        let flags = JoinFlags {
            node_name: Some("n1".into()),
            ..Default::default()
        };
        let cfg = load_join(Some(&data(name)), &flags).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rendered.yaml");
        std::fs::write(&path, cfg.to_v1beta4_yaml()).unwrap();
        assert_eq!(load_join(Some(&path), &flags).unwrap(), cfg, "{name}");
    }
}
