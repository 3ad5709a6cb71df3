//! `Debug` (what `{:?}`, `dbg!`, panics and tracing fields print) of every type that holds a
//! secret shows that it holds one, never the secret: token secrets, certificate keys, private
//! keys, kubeconfig credentials, and the configurations and flags that carry them.

use std::path::Path;

use base64::Engine;
use kubestrap_phases::config::token::BootstrapTokenString;
use kubestrap_phases::config::{
    CertificateKey, InitFlags, JoinFlags, load_init, load_init_text, load_join,
};
use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_phases::domain::pki::{CertProfile, EncryptionAlgorithm, Usage, self_signed_ca};
use kubestrap_phases::phases::show_join_command::join_commands;
use kubestrap_test_support::kubeadm_config;

const TOKEN: &str = "abcdef.s3cr3ts3cr3ts3cr";
const SECRET: &str = "s3cr3ts3cr3ts3cr";
const CERT_KEY: &str = "0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de";

/// The base64 lines of a PEM body: any one of them in the output is a leak.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect()
}

fn assert_no(shown: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!shown.contains(s), "{s:?} shown in:\n{shown}");
    }
}

#[test]
fn tokens_and_certificate_keys() {
    let t: BootstrapTokenString = TOKEN.parse().unwrap();
    let shown = format!("{t:?} {t} {:?} {:#?}", t.secret(), t);
    assert_no(&shown, &[SECRET]);
    assert!(shown.contains("abcdef"), "the id is public: {shown}");

    let key: CertificateKey = CERT_KEY.parse().unwrap();
    let shown = format!("{key:?} {key:#?} {:?}", Some(&key));
    assert_no(&shown, &[CERT_KEY, &CERT_KEY[..16]]);
    assert!(shown.contains("redacted"), "{shown}");

    let cmds = join_commands(
        "127.0.0.51:6443",
        &t,
        &"sha256:0000000000000000000000000000000000000000000000000000000000000000"
            .parse()
            .unwrap(),
        Some(&key),
    );
    assert!(
        cmds.worker.contains(TOKEN),
        "the join command is the product"
    );
    assert_no(&format!("{cmds:?}"), &[SECRET, CERT_KEY]);
}

#[test]
fn private_keys_kubeconfigs_and_authorities() {
    for alg in [EncryptionAlgorithm::EcdsaP256, EncryptionAlgorithm::Rsa2048] {
        let key = alg.generate().unwrap();
        let pem = key.to_pem();
        let body = pem_body_lines(&pem);
        assert!(!body.is_empty());
        let mut secrets: Vec<&str> = body.iter().map(String::as_str).collect();
        let b64_key = base64::engine::general_purpose::STANDARD.encode(&pem);
        secrets.push(&b64_key[..40]);
        secrets.push(&b64_key[b64_key.len() / 2..b64_key.len() / 2 + 40]);

        assert_no(&format!("{key:?} {key:#?}"), &secrets);

        let ca_pem = self_signed_ca(
            &CertProfile::new("kubernetes", Usage::Ca),
            &key,
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let kc = KubeConfig::with_client_cert(
            "kubernetes",
            "https://127.0.0.51:6443",
            ca_pem.as_bytes(),
            "kubernetes-admin",
            Some(ca_pem.as_bytes()),
            pem.as_bytes(),
        );
        let shown = format!("{kc:?} {kc:#?}");
        assert_no(&shown, &secrets);
        assert!(shown.contains("client_key_data"), "{shown}");

        let path = Path::new("/etc/kubernetes/admin.conf");
        let current = kc.current(path).unwrap();
        assert!(current.client_key.is_some());
        assert_no(&format!("{current:?} {current:#?}"), &secrets);

        // A kubeconfig holding a bearer token.
        let mut with_token = kc.clone();
        with_token.users[0].user.token = Some(TOKEN.into());
        assert_no(&format!("{with_token:?}"), &[SECRET]);
    }
}

#[test]
fn configurations_and_flags() {
    let path = Path::new("/x/kubeadm.yaml");
    let init = load_init_text(
        path,
        &kubeadm_config::init()
            .token(TOKEN)
            .certificate_key(CERT_KEY)
            .node_name("node1")
            .advertise("127.0.0.51")
            .to_string(),
        &InitFlags::default(),
    )
    .unwrap();
    assert_no(&format!("{init:?} {init:#?}"), &[SECRET, CERT_KEY]);
    // The renderer is the one place that must show them (config print; treated as secret).
    assert!(init.to_v1beta4_yaml().contains(TOKEN));

    let flags = InitFlags {
        token: Some(TOKEN.into()),
        certificate_key: Some(CERT_KEY.into()),
        node_name: Some("node1".into()),
        apiserver_advertise_address: Some("127.0.0.51".into()),
        ..InitFlags::default()
    };
    let shown = format!("{flags:?} {flags:#?}");
    assert_no(&shown, &[SECRET, CERT_KEY]);
    assert!(
        shown.contains("node1") && shown.contains("<redacted>"),
        "{shown}"
    );
    let from_flags = load_init(None, &flags).unwrap();
    assert_no(&format!("{from_flags:?}"), &[SECRET, CERT_KEY]);

    let join_flags = JoinFlags {
        endpoint: Some("127.0.0.51:6443".into()),
        token: Some(TOKEN.into()),
        discovery_token: Some(TOKEN.into()),
        tls_bootstrap_token: Some(TOKEN.into()),
        discovery_token_unsafe_skip_ca_verification: true,
        control_plane: true,
        certificate_key: Some(CERT_KEY.into()),
        node_name: Some("node2".into()),
        apiserver_advertise_address: Some("127.0.0.52".into()),
        ..JoinFlags::default()
    };
    assert_no(
        &format!("{join_flags:?} {join_flags:#?}"),
        &[SECRET, CERT_KEY],
    );
    let join = load_join(None, &join_flags).unwrap();
    assert_no(&format!("{join:?} {join:#?}"), &[SECRET, CERT_KEY]);
    assert!(join.to_v1beta4_yaml().contains(TOKEN));
}
