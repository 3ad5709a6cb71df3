//! kubeadm's defaults, flag precedence, and the `config print` round trips.

use std::path::{Path, PathBuf};

use kubestrap_phases::config::*;

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("kubeadm.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn explicit() -> InitFlags {
    InitFlags {
        apiserver_advertise_address: Some("192.168.10.5".into()),
        node_name: Some("cp-1".into()),
        ..Default::default()
    }
}

#[test]
fn defaults_match_kubeadm() {
    let cfg = load_init(None, &explicit()).unwrap();
    let c = &cfg.cluster;
    assert_eq!(c.networking.service_subnet.to_string(), "10.96.0.0/12");
    assert_eq!(c.networking.dns_domain.as_str(), "cluster.local");
    assert!(c.networking.pod_subnet.is_none());
    assert_eq!(cfg.local_api_endpoint.bind_port, 6443);
    assert_eq!(c.certificates_dir.to_string(), "/etc/kubernetes/pki");
    assert_eq!(c.cluster_name, "kubernetes");
    assert_eq!(c.image_repository, "registry.k8s.io");
    assert_eq!(c.kubernetes_version.to_string(), DEFAULT_KUBERNETES_VERSION);
    let EtcdConfig::Local(etcd) = &c.etcd else {
        panic!("local etcd by default")
    };
    assert_eq!(etcd.data_dir.to_string(), "/var/lib/etcd");
    assert_eq!(c.encryption_algorithm, EncryptionAlgorithm::Rsa2048);
    assert_eq!(c.certificate_validity_period.to_string(), "8760h0m0s");
    assert_eq!(c.ca_certificate_validity_period.to_string(), "87600h0m0s");
    let nr = &cfg.node_registration;
    assert_eq!(
        nr.cri_socket.as_str(),
        "unix:///var/run/containerd/containerd.sock"
    );
    assert_eq!(nr.image_pull_policy, ImagePullPolicy::IfNotPresent);
    assert!(nr.image_pull_serial);
    // The default release (v1.37) taints control planes `control-plane` (config/release.rs).
    assert_eq!(
        nr.taints,
        Some(vec![Taint::no_schedule(
            "node-role.kubernetes.io/control-plane"
        )])
    );
    assert_eq!(cfg.bootstrap_tokens.len(), 1);
    let t = &cfg.bootstrap_tokens[0];
    assert_eq!(t.expiry, TokenExpiry::Ttl(GoDuration::from_secs(24 * 3600)));
    assert_eq!(
        t.usages.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        ["signing", "authentication"]
    );
    assert_eq!(
        t.groups[0].as_str(),
        "system:bootstrappers:kubeadm:default-node-token"
    );
    assert!(
        t.token
            .expose()
            .parse::<kubestrap_phases::config::token::BootstrapTokenString>()
            .is_ok()
    );
    let timeouts: Vec<String> = [
        cfg.timeouts.control_plane_component_health_check,
        cfg.timeouts.discovery,
        cfg.timeouts.etcd_api_call,
        cfg.timeouts.kubelet_health_check,
        cfg.timeouts.kubernetes_api_call,
        cfg.timeouts.tls_bootstrap,
        cfg.timeouts.upgrade_manifests,
    ]
    .iter()
    .map(|d| d.to_string())
    .collect();
    assert_eq!(
        timeouts,
        ["4m0s", "5m0s", "2m0s", "4m0s", "1m0s", "5m0s", "5m0s"]
    );
    assert!(
        !cfg.dry_run() && cfg.skip_phases().is_empty() && cfg.ignore_preflight_errors().is_empty()
    );
}

#[test]
fn random_tokens_differ_between_loads() {
    let a = load_init(None, &explicit()).unwrap();
    let b = load_init(None, &explicit()).unwrap();
    assert_ne!(a.bootstrap_tokens[0].token, b.bootstrap_tokens[0].token);
}

#[test]
fn token_secret_never_in_debug() {
    let flags = InitFlags {
        token: Some("abcdef.0123456789abcdef".into()),
        certificate_key: Some("ab".repeat(32).into()),
        ..explicit()
    };
    let cfg = load_init(None, &flags).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(dbg.contains("abcdef.<redacted>"), "token id is shown");
    assert!(!dbg.contains("0123456789abcdef"), "secret leaked: {dbg}");
    assert!(!dbg.contains(&"ab".repeat(32)), "certificate key leaked");
}

#[test]
fn init_defaults_round_trip() {
    let yaml = init_defaults_yaml();
    for needle in [
        "apiVersion: kubeadm.k8s.io/v1beta4\nbootstrapTokens:\n- groups:\n  - system:bootstrappers:kubeadm:default-node-token\n  token: abcdef.0123456789abcdef\n  ttl: 24h0m0s\n  usages:\n  - signing\n  - authentication\nkind: InitConfiguration\n",
        "localAPIEndpoint:\n  advertiseAddress: 1.2.3.4\n  bindPort: 6443\n",
        "nodeRegistration:\n  criSocket: unix:///var/run/containerd/containerd.sock\n  imagePullPolicy: IfNotPresent\n  imagePullSerial: true\n  name: node\n  taints: null\n",
        "---\napiServer: {}\napiVersion: kubeadm.k8s.io/v1beta4\ncaCertificateValidityPeriod: 87600h0m0s\ncertificateValidityPeriod: 8760h0m0s\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrollerManager: {}\ndns: {}\nencryptionAlgorithm: RSA-2048\netcd:\n  local:\n    dataDir: /var/lib/etcd\nimageRepository: registry.k8s.io\nkind: ClusterConfiguration\n",
        // kubeadm ≥ 1.22 prints apimachinery's version string, without the `v` (real 1.30
        // output: search-index id 14021895564; DefaultedStaticInitConfiguration, id 248040908).
        "kind: ClusterConfiguration\nkubernetesVersion: 1.37.0\nnetworking:\n",
        "networking:\n  dnsDomain: cluster.local\n  serviceSubnet: 10.96.0.0/12\nproxy: {}\nscheduler: {}\n",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?} in\n{yaml}");
    }
    let dir = tempfile::tempdir().unwrap();
    let from_file = load_init(Some(&write(dir.path(), &yaml)), &InitFlags::default()).unwrap();
    let from_flags = load_init(
        None,
        &InitFlags {
            apiserver_advertise_address: Some("1.2.3.4".into()),
            node_name: Some("node".into()),
            token: Some("abcdef.0123456789abcdef".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(from_file, from_flags);
}

#[test]
fn join_defaults_round_trip() {
    let yaml = join_defaults_yaml();
    assert!(yaml.starts_with("apiVersion: kubeadm.k8s.io/v1beta4\ncaCertPath: /etc/kubernetes/pki/ca.crt\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: kube-apiserver:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\n  tlsBootstrapToken: abcdef.0123456789abcdef\nkind: JoinConfiguration\n"), "{yaml}");
    assert!(yaml.contains(
        "  name: node\n  taints: null\ntimeouts:\n  controlPlaneComponentHealthCheck: 4m0s\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let from_file = load_join(Some(&write(dir.path(), &yaml)), &JoinFlags::default()).unwrap();
    let from_flags = load_join(
        None,
        &JoinFlags {
            endpoint: Some("kube-apiserver:6443".into()),
            token: Some("abcdef.0123456789abcdef".into()),
            discovery_token_unsafe_skip_ca_verification: true,
            node_name: Some("node".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(from_file, from_flags);
}

const FILE: &str = "\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 127.0.0.51
  bindPort: 6443
nodeRegistration:
  name: from-file
  ignorePreflightErrors: [Swap]
skipPhases: [addon/kube-proxy]
dryRun: true
bootstrapTokens:
- token: aaaaaa.bbbbbbbbbbbbbbbb
  ttl: 1h
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.30.1
controlPlaneEndpoint: file.example.com
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/16
  dnsDomain: file.local
certificatesDir: /srv/pki
apiServer:
  certSANs: [file.example.com]
";

#[test]
fn file_values_are_used_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_init(Some(&write(dir.path(), FILE)), &InitFlags::default()).unwrap();
    assert_eq!(cfg.node_registration.name.as_str(), "from-file");
    assert_eq!(
        cfg.local_api_endpoint.advertise_address.to_string(),
        "127.0.0.51"
    );
    assert_eq!(
        cfg.cluster
            .networking
            .pod_subnet
            .as_ref()
            .unwrap()
            .to_string(),
        "10.244.0.0/16"
    );
    assert_eq!(cfg.skip_phases(), ["addon/kube-proxy"]);
    assert!(cfg.dry_run());
    assert_eq!(
        cfg.bootstrap_tokens[0].expiry,
        TokenExpiry::Ttl(GoDuration::from_secs(3600))
    );
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let flags = InitFlags {
        apiserver_advertise_address: Some("127.0.0.52".into()),
        apiserver_bind_port: Some(7443),
        apiserver_cert_extra_sans: vec!["127.0.0.149,flag.example.com".into()],
        control_plane_endpoint: Some("[fd00::1]:443".into()),
        kubernetes_version: Some("1.31.0".into()),
        node_name: Some("from-flag".into()),
        pod_network_cidr: Some("10.32.0.0/12".into()),
        service_cidr: Some("10.100.0.0/16".into()),
        service_dns_domain: Some("flag.local".into()),
        cert_dir: Some("/opt/pki".into()),
        token: Some("cccccc.dddddddddddddddd".into()),
        token_ttl: Some("2h".into()),
        upload_certs: true,
        certificate_key: Some("0f".repeat(32).into()),
        skip_phases: vec!["preflight".into()],
        ignore_preflight_errors: vec!["NumCPU".into()],
        cri_socket: Some("/run/crio/crio.sock".into()),
        dry_run: false,
        patches: None,
    };
    let cfg = load_init(Some(&write(dir.path(), FILE)), &flags).unwrap();
    assert_eq!(cfg.node_registration.name.as_str(), "from-flag");
    assert_eq!(
        cfg.local_api_endpoint,
        ApiEndpoint {
            advertise_address: "127.0.0.52".parse().unwrap(),
            bind_port: 7443
        }
    );
    let c = &cfg.cluster;
    assert_eq!(
        c.api_server
            .cert_sans
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        ["127.0.0.149", "flag.example.com"]
    );
    assert_eq!(
        c.control_plane_endpoint.as_ref().unwrap().to_string(),
        "[fd00::1]:443"
    );
    assert_eq!(c.kubernetes_version.to_string(), "v1.31.0");
    assert_eq!(
        c.networking.pod_subnet.as_ref().unwrap().to_string(),
        "10.32.0.0/12"
    );
    assert_eq!(c.networking.service_subnet.to_string(), "10.100.0.0/16");
    assert_eq!(c.networking.dns_domain.as_str(), "flag.local");
    assert_eq!(c.certificates_dir.to_string(), "/opt/pki");
    assert_eq!(cfg.bootstrap_tokens[0].token.id().as_str(), "cccccc");
    assert_eq!(
        cfg.bootstrap_tokens[0].expiry,
        TokenExpiry::Ttl(GoDuration::from_secs(7200))
    );
    assert!(cfg.upload_certs);
    assert_eq!(
        cfg.certificate_key.as_ref().unwrap().expose_hex(),
        "0f".repeat(32)
    );
    assert_eq!(
        cfg.skip_phases(),
        ["preflight"],
        "--skip-phases replaces skipPhases"
    );
    assert_eq!(
        cfg.ignore_preflight_errors(),
        ["numcpu", "swap"],
        "union of file and flag"
    );
    assert_eq!(
        cfg.node_registration.cri_socket.as_str(),
        "unix:///run/crio/crio.sock"
    );
    assert!(cfg.dry_run(), "the file's dryRun stays on");
}

#[test]
fn join_flags_build_token_discovery() {
    let hash = format!("sha256:{}", "0a".repeat(32));
    let flags = JoinFlags {
        endpoint: Some("127.0.0.51:6443".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        discovery_token_ca_cert_hashes: vec![hash.clone()],
        control_plane: true,
        apiserver_advertise_address: Some("127.0.0.53".into()),
        certificate_key: Some("12".repeat(32).into()),
        node_name: Some("cp-3".into()),
        ..Default::default()
    };
    let cfg = load_join(None, &flags).unwrap();
    let DiscoveryMethod::BootstrapToken(bt) = &cfg.discovery.method else {
        panic!()
    };
    assert_eq!(bt.ca_cert_hashes[0].to_string(), hash);
    assert!(!bt.unsafe_skip_ca_verification);
    assert_eq!(
        cfg.discovery.tls_bootstrap_token.as_ref().unwrap().expose(),
        "abcdef.0123456789abcdef"
    );
    let cp = cfg.control_plane.as_ref().unwrap();
    assert_eq!(cp.local_api_endpoint.bind_port, 6443);
    // Unset: the cluster's release's default, known after discovery.
    assert_eq!(cfg.node_registration.taints, None);

    // --discovery-token and --tls-bootstrap-token win over --token.
    let flags = JoinFlags {
        discovery_token: Some("bbbbbb.0123456789abcdef".into()),
        tls_bootstrap_token: Some("cccccc.0123456789abcdef".into()),
        control_plane: false,
        ..flags
    };
    let cfg = load_join(None, &flags).unwrap();
    let DiscoveryMethod::BootstrapToken(bt) = &cfg.discovery.method else {
        panic!()
    };
    assert_eq!(bt.token.id().as_str(), "bbbbbb");
    assert_eq!(
        cfg.discovery
            .tls_bootstrap_token
            .as_ref()
            .unwrap()
            .id()
            .as_str(),
        "cccccc"
    );
    assert!(cfg.control_plane.is_none() && cfg.node_registration.taints == Some(Vec::new()));
}

#[test]
fn join_file_discovery() {
    let flags = JoinFlags {
        discovery_file: Some("file:///etc/kubernetes/discovery.conf".into()),
        node_name: Some("w".into()),
        ..Default::default()
    };
    let cfg = load_join(None, &flags).unwrap();
    assert_eq!(
        cfg.discovery.method,
        DiscoveryMethod::File {
            kubeconfig_path: "/etc/kubernetes/discovery.conf".into()
        }
    );
    assert!(cfg.discovery.tls_bootstrap_token.is_none());
}

#[test]
fn ignored_documents_are_reported_as_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{FILE}---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery: {{}}\n"
    );
    let cfg = load_init(Some(&write(dir.path(), &yaml)), &InitFlags::default()).unwrap();
    assert_eq!(cfg.warnings.len(), 1);
    assert!(
        cfg.warnings[0].contains("document 3") && cfg.warnings[0].contains("JoinConfiguration"),
        "{:?}",
        cfg.warnings
    );
}

#[test]
fn the_stored_cluster_configuration_has_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_init(Some(&write(dir.path(), FILE)), &InitFlags::default()).unwrap();
    let yaml = cfg.kubeadm_config_data().into_values().collect::<String>();
    assert!(
        yaml.contains("kind: ClusterConfiguration")
            && yaml.contains("controlPlaneEndpoint: file.example.com")
    );
    assert!(!yaml.contains("bbbbbbbbbbbbbbbb") && !yaml.contains("InitConfiguration"));
}

/// `token create --config`: every token of the InitConfiguration, with its own fields, as
/// kubeadm's `token create --config` creates them (verified with the real kubeadm 1.20.2's
/// `--dry-run`: both listed tokens are created, the second with the defaults); one random
/// default token when none is listed or only a ClusterConfiguration is given.
#[test]
fn token_create_config_takes_every_listed_token_with_its_fields() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 1h\n  description: from file\n  usages: [signing, authentication]\n  groups: [system:bootstrappers:x]\n- token: ghijkl.0123456789abcdef\n",
    );
    let tokens = load_bootstrap_tokens(&file).unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].token.expose(), "abcdef.0123456789abcdef");
    assert_eq!(tokens[0].expiry, TokenExpiry::Ttl("1h".parse().unwrap()));
    assert_eq!(tokens[0].description.as_deref(), Some("from file"));
    assert_eq!(
        tokens[0]
            .groups
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>(),
        ["system:bootstrappers:x"]
    );
    assert_eq!(tokens[1].token.expose(), "ghijkl.0123456789abcdef");
    assert_eq!(tokens[1].expiry, TokenExpiry::Ttl("24h".parse().unwrap()));
    assert_eq!(tokens[1].usages.len(), 2);

    for yaml in [
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n",
        "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n",
    ] {
        let tokens = load_bootstrap_tokens(&write(dir.path(), yaml)).unwrap();
        assert_eq!(tokens.len(), 1, "{yaml}");
        assert_eq!(tokens[0].expiry, TokenExpiry::Ttl("24h".parse().unwrap()));
    }
}

/// Errors name the file and the field; a file without an Init- or ClusterConfiguration, or
/// one whose ClusterConfiguration is invalid, is refused as kubeadm refuses it.
#[test]
fn token_create_config_errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- usages: [signing, bogus]\n",
            "usages",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n- token: abcdef.0123456789abcdee\n",
            "bootstrapTokens",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- groups: [bad-group]\n",
            "groups",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  tlsBootstrapToken: abcdef.0123456789abcdef\n",
            "InitConfiguration or ClusterConfiguration",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: nonsense\n",
            "serviceSubnet",
        ),
    ];
    for (yaml, field) in cases {
        let file = write(dir.path(), yaml);
        let err = load_bootstrap_tokens(&file).unwrap_err().to_string();
        assert!(
            err.contains(file.to_str().unwrap()) && err.contains(field),
            "{yaml}: {err}"
        );
    }
    let missing = dir.path().join("absent.yaml");
    let err = load_bootstrap_tokens(&missing).unwrap_err().to_string();
    assert!(err.contains("absent.yaml"), "{err}");
}
