//! Secrets stay secret: the bootstrap token's secret half, private keys and the certificate
//! key never appear in stderr logs (`-v` … `-vvv`), JSON events or error messages — except in
//! what the user ran the command for: the join commands (and the certificate key that
//! `--upload-certs` prints for them). Keys and kubeconfigs are written 0600, in directories
//! nobody else may write to. Successful joins on the test bed (a worker with the builtin TLS
//! bootstrap, a control plane with `--certificate-key`) show none of them either.
//!
//! Addresses: 127.0.0.84 (API commands), 127.0.0.144 and 127.0.0.145 (the joins' control
//! planes, API port 16544).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_test_support::{bed, cli::kubestrap, control_plane, kubeadm_config, ndjson::events};
use serde_json::Value;

const TOKEN: &str = "abcdef.s3cr3ts3cr3ts3cr";
const SECRET: &str = "s3cr3ts3cr3ts3cr";
const CERT_KEY: &str = "0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de";

/// Fields of the final `result` event that exist to show a secret the user asked for.
const REQUESTED: &[&str] = &[
    "join_command",
    "control_plane_join_command",
    "certificate_key",
];

const NODE: &[&str] = &[
    "--node-name",
    "node1",
    "--apiserver-advertise-address",
    "127.0.0.51",
    "--ignore-preflight-errors",
    "all",
];

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(out: &std::process::Output) -> Self {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn run(args: &[&str], root: &Path) -> Run {
    let out = kubestrap()
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    Run::of(&out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

/// Every private key under `dir` (PEM files and the keys embedded in kubeconfigs), as the
/// base64 lines of their bodies: finding any one of them in output is a leak.
fn key_material(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut lines = Vec::new();
    for f in files.iter().filter(|f| f.is_file()) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let mut pems = Vec::new();
        if text.contains("PRIVATE KEY-----") {
            pems.push(text.clone());
        }
        if text.contains("client-key-data:")
            && let Ok(kc) = KubeConfig::from_yaml(f, text.as_bytes())
        {
            for u in &kc.users {
                // The kubeconfig's base64 itself, and the PEM inside it.
                let b64 = u.user.client_key_data.trim();
                lines.push(b64[..48].to_owned());
                lines.push(b64[b64.len() / 2..b64.len() / 2 + 48].to_owned());
                pems.push(String::from_utf8(decode_b64(b64)).unwrap());
            }
        }
        for pem in pems {
            let mut in_key = false;
            for l in pem.lines() {
                if l.contains("BEGIN") && l.contains("PRIVATE KEY") {
                    in_key = true;
                } else if l.contains("END") {
                    in_key = false;
                } else if in_key && l.len() >= 32 {
                    lines.push(l.to_owned());
                }
            }
        }
    }
    lines
}

fn decode_b64(s: &str) -> Vec<u8> {
    // Standard alphabet with padding; a tiny decoder keeps this test free of extra crates.
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
    bytes
        .chunks(4)
        .flat_map(|c| {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &v)| n | u32::from(v) << (18 - 6 * i));
            let out = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out[..c.len() - 1].to_vec()
        })
        .collect()
}

fn assert_hidden(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} shows a secret ({}…):\n{text}",
            &s[..8.min(s.len())]
        );
    }
}

fn basic_secrets() -> Vec<String> {
    vec![SECRET.into(), CERT_KEY.into(), CERT_KEY[..32].into()]
}

/// The JSON events minus the result's requested fields, which are checked separately.
fn events_without_requested(stdout: &str) -> (String, Vec<Value>) {
    let mut ev = events(stdout.as_bytes());
    let mut requested = Vec::new();
    for e in &mut ev {
        if e["event"] == "result"
            && let Some(obj) = e.as_object_mut()
        {
            for f in REQUESTED {
                if let Some(v) = obj.remove(*f) {
                    requested.push(v);
                }
            }
        }
    }
    (serde_json::to_string(&ev).unwrap(), requested)
}

#[test]
fn dry_run_init_shows_secrets_only_in_the_join_commands() {
    let root = tempfile::tempdir().unwrap();
    let common = [
        "init",
        "--dry-run",
        "--token",
        TOKEN,
        "--upload-certs",
        "--certificate-key",
        CERT_KEY,
    ];
    // Kept, to look at the staged keys (a dry run removes them at exit otherwise).
    let keep = tempfile::tempdir().unwrap();
    let keep_flag = ["--dry-run-dir", keep.path().to_str().unwrap()];
    let json = run(
        &[&common[..], NODE, &keep_flag, &["-o", "json", "-vvv"]].concat(),
        root.path(),
    );
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let (ev, requested) = events_without_requested(&json.stdout);
    let result = events(json.stdout.as_bytes()).pop().unwrap();
    let staging = PathBuf::from(result["staging_dir"].as_str().unwrap());
    let mut secrets = basic_secrets();
    let keys = key_material(&staging);
    assert!(
        keys.len() > 100,
        "the dry run staged the keys: {}",
        keys.len()
    );
    secrets.extend(keys);

    assert_hidden("stderr at -vvv", &json.stderr, &secrets);
    assert_hidden("JSON events", &ev, &secrets);
    // What the user asked for is there, and whole.
    let requested = serde_json::to_string(&requested).unwrap();
    assert!(
        requested.contains(&format!("--token {TOKEN}")),
        "{requested}"
    );
    assert!(
        requested.contains(&format!("--certificate-key {CERT_KEY}")),
        "{requested}"
    );

    // Staged keys are as private as real ones.
    let mut staged = Vec::new();
    walk(&staging, &mut staged);
    for f in staged.iter().filter(|f| {
        let n = f.to_string_lossy();
        n.ends_with(".key") || n.ends_with(".conf")
    }) {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let staging_mode = std::fs::metadata(&staging).unwrap().permissions().mode() & 0o777;
    assert_eq!(staging_mode, 0o700, "staging dir {staging_mode:o}");

    // Text output at -vv: secrets only on the join command lines and under the certificate
    // key heading.
    let text = run(&[&common[..], NODE, &["-vv"]].concat(), root.path());
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert_hidden("stderr at -vv", &text.stderr, &basic_secrets());
    let mut shown = 0;
    for line in text.stdout.lines() {
        if line.contains(SECRET) || line.contains(CERT_KEY) {
            assert!(line.trim_start().starts_with("kubestrap join "), "{line}");
            shown += 1;
        }
    }
    assert_eq!(
        shown, 2,
        "worker and control-plane join commands:\n{}",
        text.stdout
    );
    assert!(std::fs::read_dir(root.path()).unwrap().next().is_none());
}

/// The phases that need no cluster, for real under a root: what they print hides every key
/// they wrote, and the tree has kubeadm's modes.
#[test]
fn offline_init_phases_hide_keys_and_write_private_files_0600() {
    let root = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for phase in [
        &["certs", "all"][..],
        &["kubeconfig", "all"],
        &["etcd", "local"],
        &["control-plane", "all"],
    ] {
        for format in [&["-o", "json", "-vvv"][..], &["-vv"]] {
            let args = [
                &["init", "phase"][..],
                phase,
                NODE,
                format,
                &["--token", TOKEN],
            ]
            .concat();
            let r = run(&args, root.path());
            assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
            if format[0] == "-o" {
                events(r.stdout.as_bytes());
            }
            outputs.push((args.join(" "), r));
        }
    }
    // Renewal and inspection commands read every key.
    for args in [
        &["certs", "check-expiration", "-vvv"][..],
        &["certs", "check-expiration", "-o", "json", "-vvv"],
        &["certs", "renew", "apiserver", "-vvv"],
        &["certs", "renew", "admin.conf", "-o", "json", "-vvv"],
    ] {
        let r = run(args, root.path());
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        outputs.push((args.join(" "), r));
    }

    let mut secrets = basic_secrets();
    let keys = key_material(root.path());
    assert!(keys.len() > 100, "keys found: {}", keys.len());
    secrets.extend(keys);
    for (what, r) in &outputs {
        assert_hidden(&format!("{what}: stdout"), &r.stdout, &secrets);
        assert_hidden(&format!("{what}: stderr"), &r.stderr, &secrets);
    }
    // Nothing on disk holds the token (it lives in the cluster only), not even the journal.
    let mut files = Vec::new();
    walk(root.path(), &mut files);
    for f in files.iter().filter(|f| f.is_file()) {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
        assert!(!text.contains(SECRET), "{} holds the token", f.display());
    }

    let mut checked = (0, 0);
    for f in &files {
        let md = std::fs::symlink_metadata(f).unwrap();
        let mode = md.permissions().mode() & 0o7777;
        let name = f.file_name().unwrap().to_string_lossy();
        if md.is_dir() {
            assert_eq!(
                mode & 0o002,
                0,
                "{} is world-writable ({mode:o})",
                f.display()
            );
            assert_eq!(
                mode & 0o020,
                0,
                "{} is group-writable ({mode:o})",
                f.display()
            );
            checked.0 += 1;
        } else if name.ends_with(".key") || name.ends_with(".conf") {
            assert_eq!(mode, 0o600, "{}", f.display());
            checked.1 += 1;
        } else {
            assert_eq!(
                mode & 0o022,
                0,
                "{} is writable by others ({mode:o})",
                f.display()
            );
        }
    }
    // 6 keys, etcd's 4 and sa.key; 5 kubeconfigs.
    assert_eq!(checked.1, 16, "private files checked");
    assert!(checked.0 >= 4, "directories checked: {}", checked.0);
}

#[test]
fn error_messages_never_echo_secrets() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    let near_token = "abcdef.s3cr3ts3cr3ts3cR"; // one character off: still the user's secret
    let cfg = |name: &str, text: &str| {
        let p = work.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let v4 = "apiVersion: kubeadm.k8s.io/v1beta4\n";
    let configs = [
        cfg(
            "wrong-type.yaml",
            &format!("{v4}kind: InitConfiguration\nbootstrapTokens: {TOKEN}\n"),
        ),
        cfg(
            "wrong-level.yaml",
            &format!("{v4}kind: InitConfiguration\nbootstrapTokens:\n- {TOKEN}\n"),
        ),
        cfg(
            "bad-ttl.yaml",
            &format!(
                "{v4}kind: InitConfiguration\nbootstrapTokens:\n- token: {TOKEN}\n  ttl: 1d\n"
            ),
        ),
        cfg(
            "unterminated.yaml",
            &format!("{v4}kind: InitConfiguration\nbootstrapTokens:\n- token: \"{TOKEN}\n"),
        ),
        cfg(
            "tab.yaml",
            &format!(
                "{v4}kind: InitConfiguration\nbootstrapTokens:\n- token: {TOKEN}\n\tttl: 1h\n"
            ),
        ),
        cfg(
            "near-token.yaml",
            &format!("{v4}kind: InitConfiguration\nbootstrapTokens:\n- token: {near_token}\n"),
        ),
        cfg(
            "key-type.yaml",
            &format!("{v4}kind: InitConfiguration\ncertificateKey: [{CERT_KEY}]\n"),
        ),
        cfg(
            "key-short.yaml",
            &format!(
                "{v4}kind: InitConfiguration\ncertificateKey: {}\n",
                &CERT_KEY[1..]
            ),
        ),
        cfg(
            "key-unknown.yaml",
            &format!(
                "{v4}kind: InitConfiguration\ncertificateKey: {CERT_KEY}\ncertificatekey: {CERT_KEY}\n"
            ),
        ),
    ];
    let join_configs = [
        cfg(
            "join-wrong-level.yaml",
            &format!("{v4}kind: JoinConfiguration\ndiscovery:\n  bootstrapToken: {TOKEN}\n"),
        ),
        cfg(
            "join-tls.yaml",
            &format!(
                "{v4}kind: JoinConfiguration\ndiscovery:\n  tlsBootstrapToken: {TOKEN}\n  bootstrapToken:\n    token: {near_token}\n"
            ),
        ),
    ];
    let mut cases: Vec<Vec<String>> = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for c in &configs {
        cases.push(s(&[&["init"][..], NODE, &["--config", c, "-vvv"]].concat()));
    }
    for c in &join_configs {
        cases.push(s(&["join", "--config", c, "-vvv"]));
    }
    cases.extend([
        s(&[&["init"][..], NODE, &["--token", near_token, "-vvv"]].concat()),
        s(&[
            &["init"][..],
            NODE,
            &["--certificate-key", &CERT_KEY[2..], "--upload-certs"],
        ]
        .concat()),
        s(&[
            &["init"][..],
            NODE,
            &["--token", TOKEN, "--service-cidr", "x", "-o", "json"],
        ]
        .concat()),
        s(&[
            "join",
            "127.0.0.51:6443",
            "--token",
            near_token,
            "--discovery-token-unsafe-skip-ca-verification",
        ]),
        s(&[
            "join",
            "127.0.0.51:6443",
            "--discovery-token",
            TOKEN,
            "--tls-bootstrap-token",
            near_token,
            "--discovery-token-unsafe-skip-ca-verification",
        ]),
        s(&[
            "join",
            "127.0.0.51:6443",
            "--token",
            TOKEN,
            "--discovery-token-ca-cert-hash",
            "sha256:00",
            "-vvv",
        ]),
        s(&[
            "join",
            "127.0.0.51:6443",
            "--token",
            TOKEN,
            "--discovery-token-unsafe-skip-ca-verification",
            "--control-plane",
            "--certificate-key",
            &CERT_KEY[1..],
        ]),
        s(&[
            "token",
            "create",
            TOKEN,
            "--ttl",
            "1x",
            "--kubeconfig",
            "/nonexistent/admin.conf",
        ]),
        s(&[
            "token",
            "create",
            near_token,
            "--kubeconfig",
            "/nonexistent/admin.conf",
            "-vvv",
        ]),
        s(&[
            "token",
            "create",
            TOKEN,
            "--kubeconfig",
            "/nonexistent/admin.conf",
            "-vvv",
        ]),
        s(&[
            "token",
            "create",
            TOKEN,
            "--print-join-command",
            "--kubeconfig",
            "/nonexistent/admin.conf",
            "-vvv",
        ]),
        s(&[
            "token",
            "delete",
            TOKEN,
            "--kubeconfig",
            "/nonexistent/admin.conf",
            "-vvv",
        ]),
        s(&[
            "token",
            "delete",
            near_token,
            "--kubeconfig",
            "/nonexistent/admin.conf",
        ]),
    ]);
    let secrets = {
        let mut v = basic_secrets();
        v.push(near_token[7..].to_owned());
        v.push(CERT_KEY[2..34].to_owned());
        v
    };
    for args in &cases {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&argv, &root);
        assert_eq!(r.code, Some(1), "{argv:?}: {}{}", r.stdout, r.stderr);
        assert!(
            !r.stderr.is_empty() || !r.stdout.is_empty(),
            "{argv:?} said nothing"
        );
        assert_hidden(&format!("{argv:?}: stderr"), &r.stderr, &secrets);
        assert_hidden(&format!("{argv:?}: stdout"), &r.stdout, &secrets);
    }
    println!("secret-bearing bad inputs tried: {}", cases.len());
}

/// A damaged key file or kubeconfig is named in the error, and none of its content is shown.
#[test]
fn errors_about_damaged_key_files_show_none_of_the_key() {
    let root = tempfile::tempdir().unwrap();
    for phase in [&["certs", "all"][..], &["kubeconfig", "all"]] {
        let r = run(&[&["init", "phase"][..], phase, NODE].concat(), root.path());
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let etc = root.path().join("etc/kubernetes");
    let secrets = key_material(root.path());

    // A key with a damaged middle line; a kubeconfig whose client key line is followed by
    // broken indentation (YAML parsers quote the neighbouring lines in their messages).
    let key_path = etc.join("pki/apiserver.key");
    let key = std::fs::read_to_string(&key_path).unwrap();
    let mut lines: Vec<&str> = key.lines().collect();
    lines[3] = "!!!!";
    std::fs::write(&key_path, lines.join("\n")).unwrap();
    let conf_path = etc.join("admin.conf");
    let conf = std::fs::read_to_string(&conf_path).unwrap();
    let conf = conf.replace("    client-key-data:", "   client-key-data:");
    std::fs::write(&conf_path, conf).unwrap();
    let sa = etc.join("pki/sa.key");
    let sa_text = std::fs::read_to_string(&sa).unwrap();
    std::fs::write(&sa, sa_text.replace("PRIVATE KEY", "PUBLIC KEY")).unwrap();

    let mut tried = 0;
    for (args, file) in [
        (
            &["init", "phase", "certs", "apiserver", "-vvv"][..],
            "pki/apiserver.key",
        ),
        (
            &["init", "phase", "kubeconfig", "admin", "-vvv"],
            "admin.conf",
        ),
        (
            &["init", "phase", "certs", "sa", "-o", "json", "-vvv"],
            "pki/sa.key",
        ),
        (&["certs", "check-expiration", "-vvv"], "admin.conf"),
        // Renewal makes new keys (as kubeadm's does), so a damaged leaf key is no obstacle;
        // a damaged CA key is.
        (
            &["certs", "renew", "front-proxy-client", "-vvv"],
            "pki/front-proxy-ca.key",
        ),
        (
            &["certs", "renew", "front-proxy-client", "-o", "json"],
            "pki/front-proxy-ca.key",
        ),
    ] {
        if args[1] == "renew" {
            let ca_key = etc.join("pki/front-proxy-ca.key");
            let text = std::fs::read_to_string(&ca_key).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines[5] = "!!!!";
            std::fs::write(&ca_key, lines.join("\n")).unwrap();
        }
        let mut argv = args.to_vec();
        if args[0] == "init" {
            argv.extend_from_slice(NODE);
        }
        let r = run(&argv, root.path());
        // check-expiration reports a broken file in its table (as kubeadm's does) and goes on.
        if args[1] != "check-expiration" {
            assert_ne!(r.code, Some(0), "{argv:?}");
        }
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(all.contains(file), "{argv:?} does not name {file}: {all}");
        assert_hidden(&format!("{argv:?}"), &all, &secrets);
        tried += 1;
    }
    println!("damaged key files tried: {tried}");
}

/// The API phases and token commands at trace level (`-vvv` logs every HTTP exchange of the
/// client stack) against a real kube-apiserver: the token secret and the certificate key reach
/// only what the user asked to see (the created token, the join command).
#[tokio::test(flavor = "multi_thread")]
async fn api_commands_at_trace_level_show_secrets_only_where_asked() {
    let ip = "127.0.0.84";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let _cp = control_plane::start_control_plane(root, ip).await;
    let cfg = kubeadm_config::init()
        .token(TOKEN)
        .certificate_key(CERT_KEY)
        .advertise(ip)
        .bind_port(6443)
        .node_name("node-1")
        .with(kubeadm_config::cluster().kubernetes_version("v1.20.2"))
        .write(root.join("kubeadm.yaml"));
    let cfg = cfg.to_str().unwrap();
    let other = "qwerty.0123456789qwerty";
    let mut secrets = basic_secrets();
    secrets.push("0123456789qwerty".into());
    secrets.extend(key_material(root));

    // (command, what stdout may show)
    let steps: &[(&[&str], Option<&str>)] = &[
        (
            &["init", "phase", "bootstrap-token", "--config", cfg, "-vvv"],
            None,
        ),
        (
            &[
                "init",
                "phase",
                "upload-certs",
                "--upload-certs",
                "--config",
                cfg,
                "-vvv",
                "-o",
                "json",
            ],
            Some(CERT_KEY),
        ),
        (&["token", "create", other, "-vvv"], Some(other)),
        (
            &["token", "create", "--print-join-command", "-vvv"],
            Some("kubestrap join"),
        ),
        (&["token", "delete", other, "-vvv"], None),
        (&["token", "delete", TOKEN, "-vvv", "-o", "json"], None),
    ];
    for (args, allowed) in steps {
        let r = run(args, root);
        assert_eq!(r.code, Some(0), "{args:?}: {}", r.stderr);
        assert!(r.stderr.len() > 1000, "{args:?} logged at trace level");
        assert_hidden(&format!("{args:?}: stderr"), &r.stderr, &secrets);
        match allowed {
            None => assert_hidden(&format!("{args:?}: stdout"), &r.stdout, &secrets),
            Some(shown) => {
                assert!(r.stdout.contains(shown), "{args:?}: {}", r.stdout);
                let rest: String = r
                    .stdout
                    .lines()
                    .filter(|l| !l.contains(shown))
                    .collect::<Vec<_>>()
                    .join("\n");
                assert_hidden(&format!("{args:?}: stdout"), &rest, &secrets);
            }
        }
    }
}

/// The token the test-bed joins use: its secret is [`SECRET`].
const JOIN_TOKEN: &str = "e2ejon.s3cr3ts3cr3ts3cr";

/// What no join output may hold: the token secret, the certificate key, any private key
/// (its PEM marker, and the body lines of every key on the nodes), the token as a credential.
fn assert_join_output_hides_secrets(what: &str, r: &Run, nodes: &[&Path]) {
    assert_eq!(r.code, Some(0), "{what}: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.len() > 1000,
        "{what} logged at trace level: {}",
        r.stderr
    );
    events(r.stdout.as_bytes());
    let all = format!("{}{}", r.stdout, r.stderr);
    let mut secrets = basic_secrets();
    for node in nodes {
        let keys = key_material(node);
        assert!(
            !keys.is_empty(),
            "{what}: no key found under {}",
            node.display()
        );
        secrets.extend(keys);
    }
    assert_hidden(what, &all, &secrets);
    assert!(
        !all.contains("PRIVATE KEY"),
        "{what} shows a private key:\n{all}"
    );
    let lower = all.to_ascii_lowercase();
    for credential in [
        format!("bearer {JOIN_TOKEN}"),
        format!("authorization: {JOIN_TOKEN}"),
        format!("\"authorization\":\"bearer {}", &JOIN_TOKEN[..7]),
    ] {
        assert!(
            !lower.contains(&credential),
            "{what} shows the token as a credential"
        );
    }
}

/// `kubestrap join … -o json -vvv` of `root`.
fn join_at_trace_level(root: &Path, endpoint: &str, hash: &str, extra: &[&str]) -> Run {
    let out = kubestrap()
        .args(["join", endpoint, "-o", "json", "-vvv", "--root"])
        .arg(root)
        .args([
            "--token",
            JOIN_TOKEN,
            "--discovery-token-ca-cert-hash",
            hash,
        ])
        .args(["--tls-bootstrap", "builtin"])
        .args(["--ignore-preflight-errors", bed::IGNORED_PREFLIGHT])
        .args(extra)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    Run::of(&out)
}

/// Successful joins against a real control plane, at trace level (every HTTP exchange of the
/// client stack logged) and with JSON events: a worker (token discovery, builtin TLS
/// bootstrap: its CSR, its new key) and a second control plane (`--certificate-key`: the
/// downloaded CA keys, this node's new keys). Neither shows the token secret, the certificate
/// key, a private key or the token as an Authorization header.
#[test]
fn successful_joins_at_trace_level_show_no_secret() {
    use std::time::Duration;
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let cp = dir.path().join("cp");
    std::fs::create_dir(&cp).unwrap();
    let (ip1, ip2, port) = ("127.0.0.144", "127.0.0.145", 16544);
    let endpoint = format!("{ip1}:{port}");
    let config = bed::config_file(dir.path(), "2m", "1m");
    let _pods = bed::stand_in(&cp);
    let registrar = bed::register_node_when_up(&cp, "n1", Duration::from_secs(170));
    let out = bed::init_command(&cp, ip1, port, &config)
        .args(["--control-plane-endpoint", &endpoint])
        .args(["--upload-certs", "--certificate-key", CERT_KEY])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(registrar.join().unwrap(), "Node n1 was never registered");
    // A token of this test's own, so the secret looked for is unmistakable.
    let created = run(&["token", "create", JOIN_TOKEN], &cp);
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    bed::wait_for_signature(&cp, JOIN_TOKEN.split('.').next().unwrap(), true);
    let hash = bed::ca_hash(&cp);

    let worker = dir.path().join("worker");
    let w = join_at_trace_level(&worker, &endpoint, &hash, &["--node-name", "w1"]);
    assert!(
        worker
            .join("var/lib/kubelet/pki/kubelet-client-current.pem")
            .is_file(),
        "the worker bootstrapped its certificate"
    );
    let keys_of = |root: &Path| [root.join("etc/kubernetes"), root.join("var/lib/kubelet")];
    let (cp_keys, worker_keys) = (keys_of(&cp), keys_of(&worker));
    assert_join_output_hides_secrets("worker join", &w, &[&cp_keys[0], &worker_keys[1]]);

    // The second control plane: its static pods run by its own stand-in; its Node registered
    // as its kubelet would.
    let cp2 = dir.path().join("cp2");
    std::fs::create_dir(&cp2).unwrap();
    let _pods2 = bed::stand_in(&cp2);
    let registrar = bed::register_node(
        cp.join("etc/kubernetes/admin.conf"),
        "cp2",
        dir.path(),
        Duration::from_secs(240),
    );
    let c = join_at_trace_level(
        &cp2,
        &endpoint,
        &hash,
        &[
            "--control-plane",
            "--certificate-key",
            CERT_KEY,
            "--apiserver-advertise-address",
            ip2,
            "--apiserver-bind-port",
            &port.to_string(),
            "--node-name",
            "cp2",
        ],
    );
    assert!(registrar.join().unwrap(), "Node cp2 was never registered");
    assert!(
        cp2.join("etc/kubernetes/pki/ca.key").is_file(),
        "the control plane downloaded the CA key"
    );
    let cp2_keys = keys_of(&cp2);
    assert_join_output_hides_secrets(
        "control-plane join",
        &c,
        &[&cp_keys[0], &cp2_keys[0], &cp2_keys[1]],
    );
}
