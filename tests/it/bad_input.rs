//! Bad input through the real binary, table-driven: malformed YAML, wrong kinds and API
//! versions, unknown fields, invalid CIDRs/IPs/durations/tokens/CA hashes (as flags and as
//! config fields), and damaged files under an existing /etc/kubernetes (truncated PEM, a key
//! that belongs to another certificate, a kubeconfig of another cluster).
//!
//! Join's input is in the table too: malformed `--discovery-token-ca-cert-hash` and `--token`
//! values, and `--discovery-file`s that are missing, not kubeconfigs, or name no cluster.
//!
//! Every case must fail with a non-zero exit and a message that names the file, flag or field
//! and says what was expected, and must write nothing under `--root`: the root is left
//! byte-for-byte untouched (no journal either: a run that completed nothing on a node without
//! one has nothing to resume).
//!
//! A hostile cluster-info (it is fetched before anything is trusted) is served by the fake API
//! server of the library's discovery tests: a key added to its kubeconfig, its CA key missing,
//! and a signature made for another token each fail the join with their own message, writing
//! no file (only the journal of the completed preflight). Address 127.0.0.146.

/// Hostile input to `reset`: manifests, journals and symlinks pointing outside what init and
/// join make.
mod hostile_reset;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kubestrap_test_support::{
    cli::{copy_tree, kubestrap},
    fake_apiserver,
    ndjson::events,
};

/// The journal of the run that made the template node.
const JOURNAL_DIR: &str = "var/lib/kubestrap";

/// Everything observable about every entry under `root`: content, mode and inode (an atomic
/// replace with identical bytes is still a write).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, u64, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, u64, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let content = if md.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.insert(rel, (md.permissions().mode(), md.ino(), content));
            if md.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Where a case starts from.
#[derive(Clone, Copy)]
enum Start {
    /// An empty root (which the command must not even create).
    Empty,
    /// A root holding a complete PKI and kubeconfigs, damaged by the case.
    Pki(fn(&Path, &Path)),
}

struct Case {
    name: &'static str,
    /// The command; `{cfg}` is replaced by the case's config file (kept outside the root).
    /// Arguments starting with `join` are join's, run as given; the others are init's.
    args: &'static [&'static str],
    /// The config file's content, if the case has one.
    config: Option<&'static [u8]>,
    start: Start,
    /// Substrings the error must contain: the file/flag/field, and what was expected.
    expect: &'static [&'static str],
}

const INIT: &[&str] = &[
    "init",
    "--node-name",
    "node1",
    "--apiserver-advertise-address",
    "127.0.0.51",
    "--ignore-preflight-errors",
    "all",
];

fn pki_file(root: &Path, rel: &str) -> PathBuf {
    root.join("etc/kubernetes").join(rel)
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn cases() -> Vec<Case> {
    macro_rules! cfg {
        ($s:expr) => {
            Some($s.as_bytes())
        };
    }
    vec![
        // --- config files ---
        Case {
            name: "malformed YAML",
            args: &["--config", "{cfg}"],
            config: cfg!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n  bad: [\n"),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "invalid YAML", "line 3"],
        },
        Case {
            name: "unterminated quote",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: \"node1\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "invalid YAML"],
        },
        Case {
            name: "not UTF-8",
            args: &["--config", "{cfg}"],
            config: Some(b"apiVersion: kubeadm.k8s.io/v1beta4\nkind: \xff\xfe\n"),
            start: Start::Empty,
            expect: &["config file", "kubeadm.yaml", "UTF-8"],
        },
        Case {
            name: "a document that is not a mapping",
            args: &["--config", "{cfg}"],
            config: cfg!("- apiVersion: kubeadm.k8s.io/v1beta4\n"),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "document 1",
                "expected a mapping with apiVersion and kind",
            ],
        },
        Case {
            name: "wrong kind",
            args: &["--config", "{cfg}"],
            config: cfg!("apiVersion: kubeadm.k8s.io/v1beta4\nkind: Pod\n"),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "\"Pod\"",
                "expected one of",
                "InitConfiguration",
            ],
        },
        Case {
            name: "no kind",
            args: &["--config", "{cfg}"],
            config: cfg!("apiVersion: kubeadm.k8s.io/v1beta4\nnetworking: {}\n"),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "unknown apiVersion/kind", "expected one of"],
        },
        Case {
            name: "unknown apiVersion",
            args: &["--config", "{cfg}"],
            config: cfg!("apiVersion: kubeadm.k8s.io/v1beta9\nkind: InitConfiguration\n"),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "kubeadm.k8s.io/v1beta9", "expected one of"],
        },
        Case {
            name: "retired apiVersion",
            args: &["--config", "{cfg}"],
            config: cfg!("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "v1beta2", "no longer supported", "v1beta4"],
        },
        Case {
            name: "kind given twice",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "document 2", "given twice"],
        },
        Case {
            name: "unknown nested field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnt: 10.0.0.0/8\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "unknown field networking.podSubnt",
                "podSubnet",
            ],
        },
        Case {
            name: "unknown top-level field (v1beta3)",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nkubenetesVersion: v1.33.0\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "unknown field kubenetesVersion",
                "expected one of",
            ],
        },
        Case {
            name: "wrong type",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens: abcdef.0123456789abcdef\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "bootstrapTokens", "expected a sequence"],
        },
        Case {
            name: "invalid service CIDR field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  serviceSubnet: 10.96.0.0/99\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "networking.serviceSubnet",
                "10.96.0.0/99",
                "expected an address/prefix",
            ],
        },
        Case {
            name: "invalid pod CIDR field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.244.0.0\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "networking.podSubnet", "CIDR"],
        },
        Case {
            name: "invalid advertise address field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 1.2.3\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "localAPIEndpoint.advertiseAddress",
                "\"1.2.3\"",
                "IP address",
            ],
        },
        Case {
            name: "out-of-range bind port",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  bindPort: 70000\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "localAPIEndpoint.bindPort"],
        },
        Case {
            name: "invalid token field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdeZ\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "bootstrapTokens[0].token",
                "[a-z0-9]{6}.[a-z0-9]{16}",
            ],
        },
        Case {
            name: "invalid token TTL field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 5d\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "bootstrapTokens[0].ttl",
                "\"5d\"",
                "Go duration",
            ],
        },
        Case {
            name: "negative duration field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncertificateValidityPeriod: -1h\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "certificateValidityPeriod",
                "non-negative Go duration",
            ],
        },
        Case {
            name: "invalid token usage field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- usages: [signing, sign]\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "bootstrapTokens[0].usages",
                "\"sign\"",
                "\"signing\" or \"authentication\"",
            ],
        },
        Case {
            name: "invalid token group field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nbootstrapTokens:\n- groups: [system:nodes]\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "bootstrapTokens[0].groups",
                "system:bootstrappers:",
            ],
        },
        Case {
            name: "invalid certificate key field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\ncertificateKey: \"0123\"\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "certificateKey", "64 hex characters"],
        },
        Case {
            name: "invalid cert SAN field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs: [\"a_b\"]\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "apiServer.certSANs", "\"a_b\"", "DNS name"],
        },
        Case {
            name: "invalid control-plane endpoint field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: \"lb:99999\"\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "controlPlaneEndpoint", "port 1-65535"],
        },
        Case {
            name: "invalid key algorithm field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: RSA-1024\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "encryptionAlgorithm", "RSA-2048"],
        },
        Case {
            name: "invalid Kubernetes version field",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: latest\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "kubernetesVersion", "semantic version"],
        },
        Case {
            name: "missing config file",
            args: &["--config", "/nonexistent/kubeadm.yaml"],
            config: None,
            start: Start::Empty,
            expect: &["cannot read config file /nonexistent/kubeadm.yaml"],
        },
        // --- init flags ---
        Case {
            name: "--apiserver-advertise-address",
            args: &["--apiserver-advertise-address", "1.2.3"],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --apiserver-advertise-address",
                "\"1.2.3\"",
                "IP address",
            ],
        },
        Case {
            name: "--service-cidr",
            args: &["--service-cidr", "10.96.0.0/40"],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --service-cidr",
                "10.96.0.0/40",
                "expected an address/prefix",
            ],
        },
        Case {
            name: "--pod-network-cidr",
            args: &["--pod-network-cidr", "10.244.0.0/16,x"],
            config: None,
            start: Start::Empty,
            expect: &["flag --pod-network-cidr", "CIDR"],
        },
        Case {
            name: "--token",
            args: &["--token", "abcdef.0123456789ABCDEF"],
            config: None,
            start: Start::Empty,
            expect: &["flag --token", "[a-z0-9]{6}.[a-z0-9]{16}"],
        },
        Case {
            name: "--token-ttl",
            args: &["--token-ttl", "1 day"],
            config: None,
            start: Start::Empty,
            expect: &["flag --token-ttl", "Go duration"],
        },
        Case {
            // go-parse-duration looped for ever on a fraction longer than 19 digits.
            name: "--token-ttl with a long fraction and a bad unit",
            args: &["--token-ttl", "1.00000000000000000000000000000001d"],
            config: None,
            start: Start::Empty,
            expect: &["flag --token-ttl", "Go duration"],
        },
        Case {
            name: "--token-ttl with a non-ASCII unit",
            args: &["--token-ttl", "1hȾ"],
            config: None,
            start: Start::Empty,
            expect: &["flag --token-ttl", "Go duration"],
        },
        Case {
            name: "--certificate-key",
            args: &["--upload-certs", "--certificate-key", "xyz"],
            config: None,
            start: Start::Empty,
            expect: &["flag --certificate-key", "64 hex characters"],
        },
        Case {
            name: "--control-plane-endpoint",
            args: &["--control-plane-endpoint", "a b:1"],
            config: None,
            start: Start::Empty,
            expect: &["flag --control-plane-endpoint", "host[:port]"],
        },
        Case {
            name: "--apiserver-cert-extra-sans",
            args: &["--apiserver-cert-extra-sans", "ok.example.com,-bad-"],
            config: None,
            start: Start::Empty,
            expect: &["flag --apiserver-cert-extra-sans", "\"-bad-\"", "DNS name"],
        },
        Case {
            name: "--service-dns-domain",
            args: &["--service-dns-domain", "Cluster..Local"],
            config: None,
            start: Start::Empty,
            expect: &["flag --service-dns-domain", "RFC 1123"],
        },
        Case {
            name: "--kubernetes-version",
            args: &["--kubernetes-version", "v1.x"],
            config: None,
            start: Start::Empty,
            expect: &["flag --kubernetes-version", "semantic version"],
        },
        Case {
            name: "--cert-dir",
            args: &["--cert-dir", "relative/pki"],
            config: None,
            start: Start::Empty,
            expect: &["flag --cert-dir", "absolute path"],
        },
        Case {
            name: "a flag overriding a bad file is still checked",
            args: &["--config", "{cfg}", "--service-cidr", "10.96.0.0/12"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: \"UPPER\"\n"
            ),
            start: Start::Empty,
            expect: &["kubeadm.yaml", "networking.dnsDomain", "RFC 1123"],
        },
        // --- join flags ---
        Case {
            name: "join: a CA hash without its sha256: prefix",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash",
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --discovery-token-ca-cert-hash",
                "\"0123456789abcdef",
                "expected sha256:<64 hex characters>",
            ],
        },
        Case {
            name: "join: a CA hash of the wrong length",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash",
                "sha256:0123456789abcdef",
            ],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --discovery-token-ca-cert-hash",
                "\"sha256:0123456789abcdef\"",
                "expected sha256:<64 hex characters>",
            ],
        },
        Case {
            name: "join: a CA hash that is not hex",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash",
                "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
            ],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --discovery-token-ca-cert-hash",
                "abcdeg\"",
                "expected sha256:<64 hex characters>",
            ],
        },
        Case {
            name: "join: a CA hash of an unknown algorithm",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-ca-cert-hash",
                "md5:0123456789abcdef0123456789abcdef",
            ],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --discovery-token-ca-cert-hash",
                "\"md5:0123456789abcdef0123456789abcdef\"",
                "expected sha256:<64 hex characters>",
            ],
        },
        Case {
            name: "join: a CA hash field of an unknown algorithm",
            args: &["join", "--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 127.0.0.51:6443\n    token: abcdef.0123456789abcdef\n    caCertHashes: [\"sha1:0123456789abcdef0123456789abcdef01234567\"]\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "discovery.bootstrapToken.caCertHashes",
                "expected sha256:<64 hex characters>",
            ],
        },
        // Patches (issue 12): kubestrap applies none yet, so naming them is refused by name.
        Case {
            name: "patches.directory (v1beta4 InitConfiguration)",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\npatches:\n  directory: /etc/kubeadm/patches\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "InitConfiguration",
                "patches.directory",
                "does not apply kubeadm's patches yet",
                "expected no patches directory",
            ],
        },
        Case {
            name: "patches.directory (v1beta3 InitConfiguration)",
            args: &["--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\npatches:\n  directory: /etc/kubeadm/patches\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "kubeadm.k8s.io/v1beta3",
                "patches.directory",
                "expected no patches directory",
            ],
        },
        Case {
            name: "join: patches.directory (v1beta3 JoinConfiguration)",
            args: &["join", "--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n    apiServerEndpoint: 127.0.0.1:6443\n    token: abcdef.0123456789abcdef\n    unsafeSkipCAVerification: true\npatches:\n  directory: /etc/kubeadm/patches\n"
            ),
            start: Start::Empty,
            expect: &[
                "kubeadm.yaml",
                "JoinConfiguration",
                "patches.directory",
                "expected no patches directory",
            ],
        },
        Case {
            name: "--patches",
            args: &["--patches", "/etc/kubeadm/patches"],
            config: None,
            start: Start::Empty,
            expect: &[
                "flag --patches",
                "\"/etc/kubeadm/patches\"",
                "does not apply kubeadm's patches yet",
                "expected no --patches",
            ],
        },
        Case {
            name: "--experimental-patches (kubeadm v1.19 to v1.22)",
            args: &["--experimental-patches", "/etc/kubeadm/patches"],
            config: None,
            start: Start::Empty,
            expect: &["flag --patches", "expected no --patches"],
        },
        Case {
            name: "join: --patches",
            args: &[
                "join",
                "127.0.0.1:6443",
                "--token",
                "abcdef.0123456789abcdef",
                "--discovery-token-unsafe-skip-ca-verification",
                "--patches",
                "/etc/kubeadm/patches",
            ],
            config: None,
            start: Start::Empty,
            expect: &["flag --patches", "expected no --patches"],
        },
        Case {
            name: "join: --token",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--token",
                "abcdef_0123456789abcdef",
                "--discovery-token-unsafe-skip-ca-verification",
            ],
            config: None,
            start: Start::Empty,
            expect: &["flag --token", "[a-z0-9]{6}.[a-z0-9]{16}"],
        },
        Case {
            name: "join: --discovery-token",
            args: &[
                "join",
                "127.0.0.51:6443",
                "--discovery-token",
                "abcdef.0123456789",
                "--discovery-token-unsafe-skip-ca-verification",
            ],
            config: None,
            start: Start::Empty,
            expect: &["flag --discovery-token", "[a-z0-9]{6}.[a-z0-9]{16}"],
        },
        Case {
            name: "join: a --discovery-file that does not exist",
            args: &["join", "--discovery-file", "/nonexistent/discovery.conf"],
            config: None,
            start: Start::Empty,
            expect: &[
                "--discovery-file /nonexistent/discovery.conf",
                "cannot read it",
                "expected a kubeconfig file",
            ],
        },
        Case {
            name: "join: a --discovery-file that is not a kubeconfig",
            args: &["join", "--discovery-file", "{cfg}"],
            config: cfg!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            start: Start::Empty,
            expect: &[
                "--discovery-file",
                "kubeadm.yaml",
                "cannot parse it as a kubeconfig",
                "clusters, users and contexts",
            ],
        },
        Case {
            name: "join: a --discovery-file kubeconfig with no clusters",
            args: &["join", "--discovery-file", "{cfg}"],
            config: cfg!(
                "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\ncurrent-context: \"\"\nusers: []\n"
            ),
            start: Start::Empty,
            expect: &[
                "--discovery-file",
                "kubeadm.yaml",
                "names no cluster",
                "expected a clusters entry with an https:// server and its CA",
            ],
        },
        Case {
            name: "join: a --discovery-file whose cluster is not https",
            args: &["join", "--discovery-file", "{cfg}"],
            config: cfg!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: http://127.0.0.51:6443\n    certificate-authority-data: eA==\ncontexts: []\nusers: []\n"
            ),
            start: Start::Empty,
            expect: &["--discovery-file", "kubeadm.yaml", "no https:// server"],
        },
        Case {
            name: "join: a discovery.file.kubeConfigPath that does not exist",
            args: &["join", "--config", "{cfg}"],
            config: cfg!(
                "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  file:\n    kubeConfigPath: /nonexistent/discovery.conf\n"
            ),
            start: Start::Empty,
            expect: &["/nonexistent/discovery.conf", "cannot read it"],
        },
        // --- damaged files under an existing /etc/kubernetes ---
        Case {
            name: "truncated certificate",
            args: &["phase", "certs", "apiserver"],
            config: None,
            start: Start::Pki(|root, _| truncate(&pki_file(root, "pki/apiserver.crt"))),
            expect: &["pki/apiserver.crt", "truncated", "BEGIN CERTIFICATE"],
        },
        Case {
            name: "truncated CA key",
            args: &["phase", "certs", "apiserver"],
            config: None,
            start: Start::Pki(|root, _| truncate(&pki_file(root, "pki/ca.key"))),
            expect: &["pki/ca.key", "truncated", "PRIVATE KEY"],
        },
        Case {
            name: "truncated etcd CA certificate",
            args: &["phase", "certs", "etcd-server"],
            config: None,
            start: Start::Pki(|root, _| truncate(&pki_file(root, "pki/etcd/ca.crt"))),
            expect: &["pki/etcd/ca.crt", "truncated"],
        },
        Case {
            name: "truncated service-account key",
            args: &["phase", "certs", "sa"],
            config: None,
            start: Start::Pki(|root, _| truncate(&pki_file(root, "pki/sa.key"))),
            expect: &["pki/sa.key", "PRIVATE KEY"],
        },
        Case {
            name: "a key that belongs to another certificate",
            args: &["phase", "certs", "apiserver"],
            config: None,
            start: Start::Pki(|root, other| {
                std::fs::copy(
                    pki_file(other, "pki/apiserver.key"),
                    pki_file(root, "pki/apiserver.key"),
                )
                .unwrap();
            }),
            expect: &[
                "pki/apiserver.crt",
                "does not match its key",
                "pki/apiserver.key",
            ],
        },
        Case {
            name: "a CA key that belongs to another CA",
            args: &["phase", "certs", "front-proxy-client"],
            config: None,
            start: Start::Pki(|root, other| {
                std::fs::copy(
                    pki_file(other, "pki/front-proxy-ca.key"),
                    pki_file(root, "pki/front-proxy-ca.key"),
                )
                .unwrap();
            }),
            expect: &[
                "pki/front-proxy-ca.key",
                "does not match the certificate",
                "front-proxy-ca.crt",
            ],
        },
        Case {
            name: "a certificate from another cluster",
            args: &["phase", "certs", "apiserver-etcd-client"],
            config: None,
            start: Start::Pki(|root, other| {
                for f in [
                    "pki/apiserver-etcd-client.crt",
                    "pki/apiserver-etcd-client.key",
                ] {
                    std::fs::copy(pki_file(other, f), pki_file(root, f)).unwrap();
                }
            }),
            expect: &[
                "pki/apiserver-etcd-client.crt",
                "not signed by the CA",
                "etcd/ca.crt",
            ],
        },
        Case {
            name: "a certificate where the key should be",
            args: &["phase", "certs", "apiserver"],
            config: None,
            start: Start::Pki(|root, _| {
                std::fs::copy(
                    pki_file(root, "pki/apiserver.crt"),
                    pki_file(root, "pki/apiserver.key"),
                )
                .unwrap();
            }),
            expect: &[
                "pki/apiserver.key",
                "expected a PEM private key",
                "CERTIFICATE",
            ],
        },
        Case {
            name: "a kubeconfig that is not YAML",
            args: &["phase", "kubeconfig", "admin"],
            config: None,
            start: Start::Pki(|root, _| {
                std::fs::write(pki_file(root, "admin.conf"), "clusters: [\n").unwrap();
            }),
            expect: &["admin.conf", "not a kubeconfig"],
        },
        Case {
            name: "a kubeconfig with a truncated client key",
            args: &["phase", "kubeconfig", "scheduler"],
            config: None,
            start: Start::Pki(|root, _| {
                let p = pki_file(root, "scheduler.conf");
                let text = std::fs::read_to_string(&p).unwrap();
                let (head, tail) = text.split_once("client-key-data: ").unwrap();
                let key = tail.lines().next().unwrap();
                let text = format!("{head}client-key-data: {}\n", &key[..key.len() / 2]);
                std::fs::write(&p, text).unwrap();
            }),
            expect: &["scheduler.conf"],
        },
        Case {
            name: "a kubeconfig of another cluster",
            args: &["phase", "kubeconfig", "controller-manager"],
            config: None,
            start: Start::Pki(|root, other| {
                std::fs::copy(
                    pki_file(other, "controller-manager.conf"),
                    pki_file(root, "controller-manager.conf"),
                )
                .unwrap();
            }),
            expect: &[
                "controller-manager.conf",
                "not signed by the CA",
                "pki/ca.crt",
            ],
        },
    ]
}

/// `certs all` + `kubeconfig all` under a fresh root: the healthy node the PKI cases damage.
fn healthy_node(root: &Path) {
    for group in ["certs", "kubeconfig"] {
        let out = kubestrap()
            .args(INIT)
            .args(["phase", group, "all", "--root"])
            .arg(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_bad_input_fails_clearly_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("template");
    let other = work.path().join("other");
    healthy_node(&template);
    healthy_node(&other);

    let cases = cases();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = work.path().join(format!("case{i}"));
        let root = dir.join("root");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("kubeadm.yaml");
        if let Some(content) = case.config {
            std::fs::write(&cfg, content).unwrap();
        }
        if let Start::Pki(damage) = case.start {
            copy_tree(&template, &root);
            // A node whose files came from elsewhere (an external CA, an earlier tool).
            std::fs::remove_dir_all(root.join(JOURNAL_DIR)).unwrap();
            damage(&root, &other);
        }
        let before = snapshot(&root);

        let mut args: Vec<String> = Vec::new();
        let fill = |a: &&str| a.replace("{cfg}", cfg.to_str().unwrap());
        if case.args.first() == Some(&"join") {
            args.extend(case.args.iter().map(fill));
        } else {
            // `phase …` cases run under `init`: the workflow flags first, then the phase path.
            let split = if case.args.first() == Some(&"phase") {
                3
            } else {
                0
            };
            let (head, tail) = case.args.split_at(split);
            args.push("init".into());
            args.extend(head.iter().map(|s| s.to_string()));
            // A case's own flag wins over the defaults (clap rejects a repeated flag).
            for kv in INIT[1..].chunks(2).filter(|kv| !tail.contains(&kv[0])) {
                args.extend(kv.iter().map(|s| s.to_string()));
            }
            args.extend(tail.iter().map(fill));
        }
        args.push("--root".into());
        args.push(root.to_str().unwrap().into());

        // A hang is a failure too (a duration parser once looped for ever).
        let out = kubestrap()
            .args(&args)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let after = snapshot(&root);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit {:?}, expected 1", out.status.code()));
        }
        for want in case.expect {
            if !stderr.contains(want) {
                problems.push(format!("error lacks {want:?}"));
            }
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        if before != after {
            let changed: Vec<_> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            problems.push(format!("wrote under --root: {changed:?}"));
        }
        if matches!(case.start, Start::Empty) && root.exists() {
            problems.push("created the root".into());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  {args:?}\n  {stderr}",
                case.name,
                problems.join("; ")
            ));
        }
    }
    all_passed("bad inputs", cases.len(), &failures);
}

/// Ends a table-driven test: says how many cases were tried (the figure the notes quote) and
/// fails with every failed case at once, not only the first.
fn all_passed(what: &str, tried: usize, failures: &[String]) {
    println!("{what} tried: {tried}");
    assert!(
        failures.is_empty(),
        "{} of {tried} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The token the hostile cluster-info cases join with, and another one.
const JOIN_TOKEN: &str = "abcdef.0123456789abcdef";
const OTHER_TOKEN: &str = "zyxwvu.fedcba9876543210";

/// cluster-info as the API server serves it: `kubeconfig` and the given signatures.
fn cluster_info_configmap(kubeconfig: &str, signatures: &[(&str, String)]) -> String {
    let mut data = serde_json::Map::new();
    data.insert("kubeconfig".into(), kubeconfig.into());
    for (key, jws) in signatures {
        data.insert((*key).into(), jws.clone().into());
    }
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cluster-info", "namespace": "kube-public"},
        "data": data,
    })
    .to_string()
}

/// The kubeconfig a real cluster publishes for the fake server on `port` with CA `ca_pem`.
fn genuine_kubeconfig(port: u16, ca_pem: &str) -> String {
    use base64::Engine;
    kubestrap_phases::domain::bootstrap_token::cluster_info_kubeconfig(
        &kubestrap_phases::domain::bootstrap_token::ClusterInfoSource {
            server: format!("https://{HOSTILE_IP}:{port}"),
            certificate_authority_data: base64::engine::general_purpose::STANDARD.encode(ca_pem),
        },
    )
}

const HOSTILE_IP: &str = "127.0.0.146";

/// What a hostile cluster-info serves: its kubeconfig and its signatures (key, JWS).
type Served = (String, Vec<(&'static str, String)>);

/// How a hostile cluster-info is made from the genuine kubeconfig.
struct Hostile {
    name: &'static str,
    serve: fn(&str) -> Served,
    expect: &'static [&'static str],
}

fn sign(token: &str, payload: &str) -> String {
    let t: kubestrap_phases::config::token::BootstrapTokenString = token.parse().unwrap();
    kubestrap_phases::domain::jws::sign_detached(t.id(), t.secret(), payload)
}

fn hostile_cases() -> Vec<Hostile> {
    vec![
        Hostile {
            name: "a key added to the signed kubeconfig",
            serve: |genuine| {
                let signature = sign(JOIN_TOKEN, genuine);
                let server = genuine.lines().find(|l| l.contains("server:")).unwrap();
                let indent = &server[..server.len() - server.trim_start().len()];
                let tampered = genuine.replace(
                    &format!("{server}\n"),
                    &format!("{server}\n{indent}insecure-skip-tls-verify: true\n"),
                );
                assert_ne!(tampered, genuine);
                (tampered, vec![("jws-kubeconfig-abcdef", signature)])
            },
            expect: &[
                "cluster-info's signature for token id abcdef does not match its content",
                "HMAC-SHA256 differs",
            ],
        },
        Hostile {
            name: "a kubeconfig without its CA key, signed",
            serve: |genuine| {
                let without: String = genuine
                    .lines()
                    .filter(|l| !l.contains("certificate-authority-data"))
                    .map(|l| format!("{l}\n"))
                    .collect();
                assert_ne!(without, genuine);
                let signature = sign(JOIN_TOKEN, &without);
                (without, vec![("jws-kubeconfig-abcdef", signature)])
            },
            expect: &["cluster-info: its cluster has no certificate-authority(-data)"],
        },
        Hostile {
            name: "a signature made for another token",
            serve: |genuine| {
                let forged = sign(OTHER_TOKEN, genuine);
                (genuine.to_string(), vec![("jws-kubeconfig-abcdef", forged)])
            },
            expect: &[
                "cluster-info's signature for token id abcdef does not match its content",
                r#"has header {"alg":"HS256","kid":"zyxwvu"}"#,
                r#"expected {"alg":"HS256","kid":"abcdef"}"#,
            ],
        },
    ]
}

/// The CA pin of a PEM CA, as --discovery-token-ca-cert-hash takes it.
fn pin(ca_pem: &str) -> String {
    kubestrap_phases::domain::bootstrap_token::ca_cert_hash(Path::new("ca.crt"), ca_pem.as_bytes())
        .unwrap()
        .to_string()
}

/// `kubestrap join` against a cluster-info crafted by an attacker (it is read before anything
/// is trusted): each forgery is refused with its own message, the CA pin matching, and no file
/// is written (the journal records only the preflight, which writes nothing).
#[test]
fn a_hostile_cluster_info_fails_the_join_with_its_own_message_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    // The signer grace (how long a mismatching signature is retried) is bounded by it.
    let config = work.path().join("join.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ntimeouts:\n  discovery: 2s\n",
    )
    .unwrap();
    let mut messages = Vec::new();
    let mut failures = Vec::new();
    let cases = hostile_cases();
    for (i, case) in cases.iter().enumerate() {
        let serve = case.serve;
        let server = fake_apiserver::port_aware(HOSTILE_IP, move |port, ca, _| {
            let (kubeconfig, signatures) = serve(&genuine_kubeconfig(port, ca));
            (200, cluster_info_configmap(&kubeconfig, &signatures))
        });
        let root = work.path().join(format!("hostile{i}"));
        let out = kubestrap()
            .args(["join", &server.endpoint(), "-o", "json", "--root"])
            .arg(&root)
            .args(["--token", JOIN_TOKEN])
            .args(["--discovery-token-ca-cert-hash", &pin(&server.ca_pem)])
            .args(["--tls-bootstrap", "builtin", "--node-name", "hostile"])
            .args(["--ignore-preflight-errors", "all", "--config"])
            .arg(&config)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let ev = events(&out.stdout);
        let error = ev
            .iter()
            .find(|e| e["event"] == "error")
            .and_then(|e| e["message"].as_str())
            .unwrap_or_default()
            .to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit {:?}, expected 1", out.status.code()));
        }
        if ev.last().map(|r| &r["failed_phase"]) != Some(&"kubelet-start".into()) {
            problems.push("did not fail in kubelet-start".into());
        }
        for want in case.expect {
            if !error.contains(want) {
                problems.push(format!("error lacks {want:?}"));
            }
        }
        for secret in ["0123456789abcdef", "fedcba9876543210"] {
            if error.contains(secret) {
                problems.push("the error shows a token secret".into());
            }
        }
        // Only the journal, and it records no written file.
        let mut files = Vec::new();
        for (path, (mode, _, _)) in snapshot(&root) {
            if mode & 0o170000 != 0o040000 {
                files.push(path);
            }
        }
        if files != [PathBuf::from(JOURNAL_DIR).join("join.json")] {
            problems.push(format!("wrote under --root: {files:?}"));
        } else {
            let journal = std::fs::read_to_string(root.join(JOURNAL_DIR).join("join.json"));
            if journal.unwrap_or_default().contains("\"outputs\"") {
                problems.push("the journal records written files".into());
            }
        }
        // The unverified fetch carried no credentials.
        let requests = server.requests();
        if requests.is_empty()
            || requests
                .iter()
                .any(|r| r.headers.iter().any(|(k, _)| k == "authorization"))
        {
            problems.push(format!("requests: {requests:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n  {error}", case.name, problems.join("; ")));
        }
        messages.push(error);
    }
    all_passed("hostile cluster-infos", cases.len(), &failures);
    for (i, a) in messages.iter().enumerate() {
        for b in &messages[i + 1..] {
            assert_ne!(a, b, "two forgeries with one message");
        }
    }
}

/// `kubestrap upgrade` refuses, before it reads a cluster or writes anything, a root that is no
/// node, `apply` on a node without a control plane, and a timeout that is no duration.
#[test]
fn upgrade_refuses_what_is_no_node_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    let worker = work.path().join("worker");
    // A node with certificates and kubeconfigs (kubelet.conf) but no static pods: a worker.
    // Its kubeconfigs name INIT's address, which nothing here connects to.
    healthy_node(&worker);
    std::fs::remove_dir_all(worker.join(JOURNAL_DIR)).unwrap();
    let absent = work.path().join("absent");
    let cases: [(&[&str], &Path, &[&str]); 3] = [
        (
            &["upgrade", "apply", "v1.20.3", "-y"],
            &absent,
            &[
                "not set up by init or join",
                "kube-apiserver.yaml",
                "kubelet.conf",
            ],
        ),
        (
            &["upgrade", "apply", "v1.20.3", "-y"],
            &worker,
            &["runs on a control-plane node", "upgrade node"],
        ),
        (
            &["upgrade", "node", "--upgrade-manifests-timeout", "soon"],
            &worker,
            &["--upgrade-manifests-timeout", "\"soon\"", "Go duration"],
        ),
    ];
    let mut failures = Vec::new();
    for (args, root, expect) in cases {
        let before = snapshot(root);
        let out = kubestrap()
            .args(args)
            .arg("--root")
            .arg(root)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit {:?}, expected 1", out.status.code()));
        }
        problems.extend(
            expect
                .iter()
                .filter(|w| !stderr.contains(*w))
                .map(|w| format!("error lacks {w:?}")),
        );
        if snapshot(root) != before || (root == absent.as_path() && root.exists()) {
            problems.push("wrote under --root".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{args:?}: {}\n  {stderr}", problems.join("; ")));
        }
    }
    all_passed("upgrade refusals", 3, &failures);
}
