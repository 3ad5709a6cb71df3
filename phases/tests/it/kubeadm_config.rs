//! The kubeadm-config builder of kubestrap-test-support, checked here where the library's
//! loader can read what it builds: it writes what the tests used to write inline, and
//! `kubestrap init --config` reads it with the values set.

use kubestrap_test_support::kubeadm_config::{cluster, init, join};

/// The builders write what the tests used to write inline, byte for byte.
#[test]
fn renders_the_documents_the_tests_wrote_inline() {
    assert_eq!(
        init()
            .advertise("127.0.0.7")
            .bind_port(6443)
            .node_name("node-1")
            .node_extra("  kubeletExtraArgs:\n  - name: cert-dir\n    value: /x\n")
            .with(cluster().kubernetes_version("v1.30.2").extra("dns: {}\n"))
            .to_string(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.7\n  bindPort: 6443\nnodeRegistration:\n  name: node-1\n  kubeletExtraArgs:\n  - name: cert-dir\n    value: /x\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.30.2\ndns: {}\n"
    );
    assert_eq!(
        init()
            .token("abcdef.0123456789abcdef")
            .advertise("127.0.0.1")
            .bind_port(16443)
            .node_name("n")
            .timeout("kubeletHealthCheck", "6s")
            .with(
                cluster()
                    .kubernetes_version("v1.20.2")
                    .api_server_arg("bind-address", "127.0.0.1")
            )
            .to_string(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\nlocalAPIEndpoint:\n  advertiseAddress: 127.0.0.1\n  bindPort: 16443\nnodeRegistration:\n  name: n\ntimeouts:\n  kubeletHealthCheck: 6s\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\napiServer:\n  extraArgs:\n  - name: bind-address\n    value: 127.0.0.1\n"
    );
    assert_eq!(
        init()
            .token_described("abcdef.0123456789abcdef", "init token")
            .certificate_key("00ff")
            .with(
                cluster()
                    .kubernetes_version("v1.20.2")
                    .control_plane_endpoint("127.0.0.1:6443")
            )
            .to_string(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  description: init token\ncertificateKey: 00ff\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.20.2\ncontrolPlaneEndpoint: 127.0.0.1:6443\n"
    );
    assert_eq!(
        init()
            .timeout("controlPlaneComponentHealthCheck", "4m0s")
            .timeout("kubernetesAPICall", "30s")
            .to_string(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\ntimeouts:\n  controlPlaneComponentHealthCheck: 4m0s\n  kubernetesAPICall: 30s\n"
    );
    assert_eq!(
        join().timeout("discovery", "3s").to_string(),
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ntimeouts:\n  discovery: 3s\n"
    );
}

/// What a test builds, `kubestrap init --config` reads, with its values.
#[test]
fn the_loader_reads_what_is_built() {
    use kubestrap_phases::config::{InitFlags, load_init};
    let dir = tempfile::tempdir().unwrap();
    let file = init()
        .token_described("abcdef.0123456789abcdef", "init token")
        .advertise("127.0.0.9")
        .bind_port(16443)
        .node_name("node-9")
        .timeout("kubernetesAPICall", "7s")
        .with(
            cluster()
                .kubernetes_version("v1.20.2")
                .control_plane_endpoint("cp.example:16443")
                .api_server_arg("bind-address", "127.0.0.9"),
        )
        .write(dir.path().join("kubeadm.yaml"));
    let cfg = load_init(Some(&file), &InitFlags::default()).unwrap();
    let yaml = cfg.to_v1beta4_yaml();
    for needle in [
        "description: init token",
        "advertiseAddress: 127.0.0.9",
        "bindPort: 16443",
        "name: node-9",
        "kubernetesAPICall: 7s",
        "kubernetesVersion: v1.20.2",
        "controlPlaneEndpoint: cp.example:16443",
        "value: 127.0.0.9",
    ] {
        assert!(yaml.contains(needle), "{needle:?} in\n{yaml}");
    }
}
