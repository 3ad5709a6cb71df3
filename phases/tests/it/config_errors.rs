//! Bad inputs: each error names the file, document, field (or flag) and the expected form.

use std::path::{Path, PathBuf};

use kubestrap_phases::config::*;

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn flags() -> InitFlags {
    InitFlags {
        apiserver_advertise_address: Some("127.0.0.51".into()),
        node_name: Some("n".into()),
        ..Default::default()
    }
}

const INIT: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n";
const CLUSTER: &str = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n";
const CLUSTER3: &str = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n";

/// (body, substrings the message must contain)
fn init_cases() -> Vec<(String, Vec<&'static str>)> {
    let c = |body: &str| format!("{CLUSTER}{body}");
    let i = |body: &str| format!("{INIT}{body}");
    vec![
        (
            c("networking:\n  podSubnet: 10.244.0.0\n"),
            vec![
                "document 1",
                "ClusterConfiguration",
                "networking.podSubnet",
                "not a valid CIDR",
                "10.244.0.0/16",
            ],
        ),
        (
            c("networking:\n  podSubnet: 10.0.0.0/8,10.1.0.0/16\n"),
            vec!["networking.podSubnet", "two of different IP families"],
        ),
        (
            c("networking:\n  serviceSubnet: 10.0.0.0/8\n"),
            vec!["networking.serviceSubnet", "too large", "/12"],
        ),
        (
            c("networking:\n  dnsDomain: Cluster_Local\n"),
            vec!["networking.dnsDomain", "RFC 1123"],
        ),
        (
            c("kubernetesVersion: stable-1\n"),
            vec!["kubernetesVersion", "v1.37.0", "not supported"],
        ),
        (
            c("controlPlaneEndpoint: lb:99999\n"),
            vec!["controlPlaneEndpoint", "host[:port]"],
        ),
        (
            c("apiServer:\n  certSANs:\n  - ok.example.com\n  - bad_name\n"),
            vec!["apiServer.certSANs[1]", "certificate SAN"],
        ),
        (
            c("encryptionAlgorithm: RSA-1024\n"),
            vec![
                "encryptionAlgorithm",
                "RSA-2048, RSA-3072, RSA-4096, ECDSA-P256",
            ],
        ),
        (
            c("certificatesDir: pki\n"),
            vec!["certificatesDir", "absolute path"],
        ),
        (
            c("certificateValidityPeriod: 1y\n"),
            vec!["certificateValidityPeriod", "Go duration", "24h0m0s"],
        ),
        (
            c("etcd:\n  local: {}\n  external:\n    endpoints: [https://e:2379]\n"),
            vec!["etcd", "mutually exclusive"],
        ),
        (
            c("etcd:\n  external:\n    endpoints: []\n"),
            vec!["etcd.external.endpoints", "at least one"],
        ),
        (
            c("etcd:\n  external:\n    endpoints: [https://e:2379]\n    caFile: /ca.crt\n"),
            vec!["etcd.external.certFile", "missing: certFile, keyFile"],
        ),
        (
            c(
                "etcd:\n  external:\n    endpoints: [http://e:2379]\n    caFile: /ca\n    certFile: /c\n    keyFile: /k\n",
            ),
            vec!["etcd.external.endpoints[0]", "https://<host>:<port>"],
        ),
        (
            c("apiServer:\n  extraArgs:\n    authorization-mode: Node\n"),
            vec!["apiServer.extraArgs", "invalid type", "sequence"],
        ),
        (
            format!("{CLUSTER3}apiServer:\n  extraArgs:\n  - name: a\n    value: b\n"),
            vec!["apiServer.extraArgs", "map"],
        ),
        (
            format!("{CLUSTER3}encryptionAlgorithm: RSA-2048\n"),
            vec!["unknown field encryptionAlgorithm", "v1beta3"],
        ),
        (
            c("apiServer:\n  timeoutForControlPlane: 4m\n"),
            vec!["unknown field apiServer.timeoutForControlPlane", "certSANs"],
        ),
        (
            c("networking:\n  podSubnets: 10.244.0.0/16\n"),
            vec!["unknown field networking.podSubnets", "podSubnet"],
        ),
        (
            c("scheduler:\n  extraVolumes:\n  - name: v\n    hostPath: rel\n    mountPath: /m\n"),
            vec!["scheduler.extraVolumes[0].hostPath", "absolute"],
        ),
        (
            i("bootstrapTokens:\n- token: abcdef.0123456789ABCDEF\n"),
            vec![
                "InitConfiguration",
                "bootstrapTokens[0].token",
                "[a-z0-9]{6}.[a-z0-9]{16}",
            ],
        ),
        (
            i("bootstrapTokens:\n- token: abcdef.0123456789abcdef\n  usages: [signing, bogus]\n"),
            vec![
                "bootstrapTokens[0].usages[1]",
                "\"signing\" or \"authentication\"",
            ],
        ),
        (
            i("bootstrapTokens:\n- groups: [system:nodes]\n"),
            vec![
                "bootstrapTokens[0].groups[0]",
                "system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]",
            ],
        ),
        (
            i("bootstrapTokens:\n- usages: [signing]\n  groups: [system:bootstrappers:x]\n"),
            vec!["bootstrapTokens[0].groups", "authentication"],
        ),
        (
            i("bootstrapTokens:\n- ttl: 24h\n  expires: 2030-01-01T00:00:00Z\n"),
            vec!["bootstrapTokens[0].expires", "mutually exclusive"],
        ),
        (
            i("bootstrapTokens:\n- ttl: 1 day\n"),
            vec!["bootstrapTokens[0].ttl", "Go duration"],
        ),
        (
            i("bootstrapTokens:\n- expires: tomorrow\n"),
            vec!["bootstrapTokens[0].expires", "RFC 3339"],
        ),
        (
            i(
                "bootstrapTokens:\n- token: abcdef.0123456789abcdef\n- token: abcdef.1123456789abcdef\n",
            ),
            vec!["bootstrapTokens", "used twice"],
        ),
        (
            i("localAPIEndpoint:\n  advertiseAddress: 127.0.0.300\n"),
            vec!["localAPIEndpoint.advertiseAddress", "not a valid IP"],
        ),
        (
            i("localAPIEndpoint:\n  bindPort: 70000\n"),
            vec!["localAPIEndpoint.bindPort", "1-65535"],
        ),
        (
            i("nodeRegistration:\n  name: Bad_Name\n"),
            vec!["nodeRegistration.name", "RFC 1123 subdomain"],
        ),
        (
            i("nodeRegistration:\n  criSocket: tcp://1.2.3.4:5\n"),
            vec!["nodeRegistration.criSocket", "unix://<absolute path>"],
        ),
        (
            i("nodeRegistration:\n  imagePullPolicy: Sometimes\n"),
            vec![
                "nodeRegistration.imagePullPolicy",
                "Always, IfNotPresent, Never",
            ],
        ),
        (
            i("nodeRegistration:\n  taints:\n  - key: k\n    effect: Sometimes\n"),
            vec!["nodeRegistration.taints[0].effect", "NoSchedule"],
        ),
        (
            i("nodeRegistration:\n  ignorePreflightErrors: [all, Swap]\n"),
            vec!["'all'"],
        ),
        (
            i("certificateKey: abc\n"),
            vec!["certificateKey", "64 hex characters"],
        ),
        (
            i("timeouts:\n  discovery: -5m\n"),
            vec!["timeouts.discovery", "non-negative"],
        ),
        (
            i("dryRun: maybe\n"),
            vec!["dryRun", "invalid type", "boolean"],
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n".into(),
            vec!["document 1", "v1beta2 is no longer supported", "v1beta4"],
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: MasterConfiguration\n".into(),
            vec![
                "MasterConfiguration",
                "expected one of",
                "InitConfiguration, ClusterConfiguration, JoinConfiguration",
            ],
        ),
        (
            "kind: InitConfiguration\n".into(),
            vec!["unknown apiVersion/kind \"\"/\"InitConfiguration\""],
        ),
        (
            format!("{INIT}---\n{INIT}"),
            vec!["document 2", "given twice", "first in document 1"],
        ),
        (
            format!("{INIT}---\n{CLUSTER}networking: [\n"),
            vec!["document 2", "line 3", "invalid YAML"],
        ),
        (
            "- just\n- a list\n".into(),
            vec!["document 1", "expected a mapping"],
        ),
        (
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n".into(),
            vec!["no InitConfiguration or ClusterConfiguration document"],
        ),
    ]
}

#[test]
fn bad_init_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (yaml, needles) in init_cases() {
        let path = write(dir.path(), &yaml);
        match load_init(Some(&path), &flags()) {
            Ok(_) => failures.push(format!("accepted:\n{yaml}")),
            Err(e) => {
                let msg = e.to_string();
                let has_file =
                    msg.contains("bad.yaml") || matches!(e, ConfigError::Conflict { .. });
                let missing: Vec<_> = needles.iter().filter(|n| !msg.contains(**n)).collect();
                if !missing.is_empty() || !has_file {
                    failures.push(format!(
                        "{yaml}\n  -> {msg}\n  missing {missing:?} (file named: {has_file})"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn bad_init_flags_name_the_flag() {
    let cases: Vec<(InitFlags, &str, &str)> = vec![
        (
            InitFlags {
                pod_network_cidr: Some("x".into()),
                ..flags()
            },
            "flag --pod-network-cidr: \"x\" is not a valid CIDR",
            "10.244.0.0/16",
        ),
        (
            InitFlags {
                service_cidr: Some("10.0.0.0/8".into()),
                ..flags()
            },
            "flag --service-cidr",
            "too large",
        ),
        (
            InitFlags {
                apiserver_advertise_address: Some("nope".into()),
                ..flags()
            },
            "flag --apiserver-advertise-address",
            "not a valid IP",
        ),
        (
            InitFlags {
                apiserver_advertise_address: Some("0.0.0.0".into()),
                ..flags()
            },
            "advertise address 0.0.0.0",
            "not the unspecified address",
        ),
        (
            InitFlags {
                apiserver_bind_port: Some(0),
                ..flags()
            },
            "flag --apiserver-bind-port",
            "1-65535",
        ),
        (
            InitFlags {
                apiserver_cert_extra_sans: vec!["a b".into()],
                ..flags()
            },
            "flag --apiserver-cert-extra-sans",
            "certificate SAN",
        ),
        (
            InitFlags {
                control_plane_endpoint: Some("lb:0".into()),
                ..flags()
            },
            "flag --control-plane-endpoint",
            "port 1-65535",
        ),
        (
            InitFlags {
                kubernetes_version: Some("latest".into()),
                ..flags()
            },
            "flag --kubernetes-version",
            "v1.37.0",
        ),
        (
            InitFlags {
                node_name: Some("UPPER".into()),
                ..flags()
            },
            "flag --node-name",
            "RFC 1123",
        ),
        (
            InitFlags {
                service_dns_domain: Some("a..b".into()),
                ..flags()
            },
            "flag --service-dns-domain",
            "cluster.local",
        ),
        (
            InitFlags {
                cert_dir: Some("pki".into()),
                ..flags()
            },
            "flag --cert-dir",
            "absolute",
        ),
        (
            InitFlags {
                token: Some("abcdef.secretsecretsecre".into()),
                ..flags()
            },
            "flag --token",
            "[a-z0-9]{6}.[a-z0-9]{16}",
        ),
        (
            InitFlags {
                token_ttl: Some("1d".into()),
                ..flags()
            },
            "flag --token-ttl",
            "Go duration",
        ),
        (
            InitFlags {
                certificate_key: Some("zz".into()),
                ..flags()
            },
            "flag --certificate-key",
            "64 hex",
        ),
        (
            InitFlags {
                cri_socket: Some("relative.sock".into()),
                ..flags()
            },
            "flag --cri-socket",
            "unix://",
        ),
        (
            InitFlags {
                ignore_preflight_errors: vec!["all".into(), "Swap".into()],
                ..flags()
            },
            "ignore-preflight-errors",
            "'all'",
        ),
    ];
    for (f, prefix, expected) in cases {
        let msg = load_init(None, &f).unwrap_err().to_string();
        assert!(
            msg.contains(prefix) && msg.contains(expected),
            "{msg:?} should contain {prefix:?} and {expected:?}"
        );
        assert!(
            !msg.contains("secretsecretsecre"),
            "token secret leaked: {msg}"
        );
    }
}

#[test]
fn bad_join_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let hash = format!("sha256:{}", "ab".repeat(32));
    let base = || JoinFlags {
        node_name: Some("w".into()),
        ..Default::default()
    };
    let token = || JoinFlags {
        endpoint: Some("127.0.0.51:6443".into()),
        token: Some("abcdef.0123456789abcdef".into()),
        ..base()
    };
    let flag_cases: Vec<(JoinFlags, Vec<&str>)> = vec![
        (
            base(),
            vec!["join needs a discovery method", "--discovery-file"],
        ),
        (
            token(),
            vec![
                "without caCertHashes can be unsafe",
                "--discovery-token-unsafe-skip-ca-verification",
            ],
        ),
        (
            JoinFlags {
                endpoint: None,
                discovery_token_ca_cert_hashes: vec![hash.clone()],
                ..token()
            },
            vec!["API server endpoint", "join <host:port>"],
        ),
        (
            JoinFlags {
                endpoint: Some("127.0.0.51".into()),
                ..token()
            },
            vec![
                "argument <api-server-endpoint>: \"127.0.0.51\"",
                "host:port",
            ],
        ),
        (
            JoinFlags {
                discovery_token_ca_cert_hashes: vec!["sha1:abc".into()],
                ..token()
            },
            vec![
                "flag --discovery-token-ca-cert-hash",
                "sha256:<64 hex characters>",
            ],
        ),
        (
            JoinFlags {
                discovery_file: Some("/x.conf".into()),
                discovery_token_unsafe_skip_ca_verification: true,
                ..token()
            },
            vec!["mutually exclusive"],
        ),
        (
            JoinFlags {
                tls_bootstrap_token: Some("bad".into()),
                discovery_token_unsafe_skip_ca_verification: true,
                ..token()
            },
            vec!["flag --tls-bootstrap-token"],
        ),
        (
            JoinFlags {
                control_plane: true,
                apiserver_advertise_address: Some("::".into()),
                discovery_token_unsafe_skip_ca_verification: true,
                ..token()
            },
            vec!["advertise address ::"],
        ),
    ];
    for (f, needles) in flag_cases {
        let msg = load_join(None, &f).unwrap_err().to_string();
        for n in needles {
            assert!(msg.contains(n), "{msg:?} should contain {n:?}");
        }
    }
    let j = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n";
    let file_cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(
                "{j}discovery:\n  file:\n    kubeConfigPath: /a\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: a:1\n    unsafeSkipCAVerification: true\n"
            ),
            vec!["bad.yaml", "document 1", "discovery", "mutually exclusive"],
        ),
        (
            format!(
                "{j}discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: a:1\n    caCertHashes: [\"sha256:zz\"]\n"
            ),
            vec!["discovery.bootstrapToken.caCertHashes[0]", "64 hex"],
        ),
        (
            format!("{j}discovery:\n  bootstrapToken:\n    apiServerEndpoint: a\n"),
            vec!["discovery.bootstrapToken.apiServerEndpoint", "host:port"],
        ),
        (
            format!("{j}discovery:\n  timeout: 5m\n"),
            vec!["unknown field discovery.timeout", "tlsBootstrapToken"],
        ),
        (
            format!("{j}caCertPath: ca.crt\ndiscovery: {{}}\n"),
            vec!["caCertPath", "absolute"],
        ),
        (
            format!("{j}controlPlane:\n  certificateKey: nothex\ndiscovery: {{}}\n"),
            vec!["controlPlane.certificateKey", "64 hex"],
        ),
        (
            format!("{CLUSTER}clusterName: x\n"),
            vec!["no JoinConfiguration document"],
        ),
    ];
    for (yaml, needles) in file_cases {
        let msg = load_join(Some(&write(dir.path(), &yaml)), &base())
            .unwrap_err()
            .to_string();
        for n in needles {
            assert!(msg.contains(n), "{yaml}\n-> {msg:?} should contain {n:?}");
        }
    }
}

/// kubeadm's `patches.directory` (v1beta3 and v1beta4, Init and Join) and `--patches` name
/// patches kubestrap does not apply yet: refused by name instead of silently ignored. Naming
/// no directory (`patches: {}`, an empty one) is fine.
#[test]
fn patches_are_refused_by_name_until_kubestrap_applies_them() {
    let dir = tempfile::tempdir().unwrap();
    let discovery = "discovery:\n  bootstrapToken:\n    token: abcdef.0123456789abcdef\n    apiServerEndpoint: 127.0.0.1:6443\n    unsafeSkipCAVerification: true\n";
    let join_flags = JoinFlags {
        node_name: Some("w".into()),
        ..Default::default()
    };
    for version in ["v1beta3", "v1beta4"] {
        let header = |kind: &str| format!("apiVersion: kubeadm.k8s.io/{version}\nkind: {kind}\n");
        let named = "patches:\n  directory: /etc/kubeadm/patches\n";
        let init = write(
            dir.path(),
            &format!("{}{named}", header("InitConfiguration")),
        );
        let err = load_init(Some(&init), &flags()).unwrap_err();
        let join = write(
            dir.path(),
            &format!("{}{discovery}{named}", header("JoinConfiguration")),
        );
        let join_err = load_join(Some(&join), &join_flags).unwrap_err();
        for (kind, err) in [("InitConfiguration", err), ("JoinConfiguration", join_err)] {
            assert!(
                matches!(&err, ConfigError::InvalidField { field, .. } if field == "patches.directory"),
                "{err:?}"
            );
            let msg = err.to_string();
            for needle in [
                "bad.yaml",
                "document 1",
                kind,
                version,
                "patches.directory",
                "\"/etc/kubeadm/patches\"",
                "does not apply kubeadm's patches yet",
                "expected no patches directory",
            ] {
                assert!(msg.contains(needle), "{msg:?} should contain {needle:?}");
            }
        }
        // Nothing named: accepted.
        for unnamed in ["patches: {}\n", "patches:\n  directory: \"\"\n"] {
            let init = write(
                dir.path(),
                &format!("{}{unnamed}", header("InitConfiguration")),
            );
            load_init(Some(&init), &flags()).unwrap_or_else(|e| panic!("{unnamed}: {e}"));
            let join = write(
                dir.path(),
                &format!("{}{discovery}{unnamed}", header("JoinConfiguration")),
            );
            load_join(Some(&join), &join_flags).unwrap_or_else(|e| panic!("{unnamed}: {e}"));
        }
    }
    let init_err = load_init(
        None,
        &InitFlags {
            patches: Some("/p".into()),
            ..flags()
        },
    )
    .unwrap_err();
    let join_err = load_join(
        Some(&write(
            dir.path(),
            &format!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n{discovery}"),
        )),
        &JoinFlags {
            patches: Some("/p".into()),
            ..join_flags.clone()
        },
    )
    .unwrap_err();
    for err in [init_err, join_err] {
        assert!(
            matches!(&err, ConfigError::InvalidFlag { flag, .. } if flag == "patches"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "flag --patches: \"/p\": kubestrap does not apply kubeadm's patches yet"
            ) && msg.contains("expected no --patches"),
            "{msg}"
        );
    }
    // An empty flag names nothing either.
    load_init(
        None,
        &InitFlags {
            patches: Some(String::new()),
            ..flags()
        },
    )
    .unwrap();
}

#[test]
fn unreadable_file_names_the_path() {
    let err = load_init(Some(Path::new("/nonexistent/kubeadm.yaml")), &flags()).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/kubeadm.yaml"));
}
