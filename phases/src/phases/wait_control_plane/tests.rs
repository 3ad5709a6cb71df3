//! The wait against small local HTTPS servers: each failure mode must come back as words
//! that say what the component answered.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::contract::diagnostics::Diagnostic;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;

struct Ca {
    der: Vec<u8>,
    pem: String,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key,
    }
}

/// A serving certificate for `ip`, signed by `ca` (or self-signed without one).
fn serving_cert(ca: Option<&Ca>, ip: IpAddr) -> (Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::IpAddress(ip)];
    let cert = match ca {
        Some(ca) => {
            let issuer = Issuer::from_ca_cert_der(&ca.der.clone().into(), &ca.key).unwrap();
            params.signed_by(&key, &issuer).unwrap()
        }
        None => params.self_signed(&key).unwrap(),
    };
    (cert.der().to_vec(), key.serialize_der())
}

/// How a test server answers.
#[derive(Clone, Copy)]
enum Behaviour {
    Status(u16, &'static str),
    /// Accepts the TLS handshake, then never answers.
    Silent,
}

/// An HTTPS server on `ip` (ephemeral port) in a detached thread; lives as long as the test
/// process.
fn serve(ip: IpAddr, cert: (Vec<u8>, Vec<u8>), behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    serve_listener(listener, cert, behaviour);
    addr
}

fn serve_listener(listener: TcpListener, cert: (Vec<u8>, Vec<u8>), behaviour: Behaviour) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.0)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.1)),
        )
        .unwrap();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return, // the client gave up (e.g. bad cert)
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                match behaviour {
                    Behaviour::Silent => std::thread::sleep(Duration::from_secs(30)),
                    Behaviour::Status(code, body) => {
                        let _ = write!(
                            tls,
                            "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = tls.flush();
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                }
            });
        }
    });
}

fn write_ca(dir: &Path, ca: &Ca) -> PathBuf {
    let p = dir.join("ca.crt");
    std::fs::write(&p, &ca.pem).unwrap();
    p
}

fn lo(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A port nothing listens on (bound, then released).
fn refused_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn component(pod: &'static str, addr: SocketAddr, path: &'static str, trust: Trust) -> Component {
    Component {
        pod,
        short: pod.trim_start_matches("kube-"),
        probe: Probe { addr, path, trust },
        manifest: PathBuf::from(format!("/r/etc/kubernetes/manifests/{pod}.yaml")),
        testbed_log: Some(PathBuf::from(format!(
            "/r/var/log/kubestrap-testbed/{pod}.log"
        ))),
    }
}

fn spec(components: Vec<Component>, timeout_ms: u64) -> WaitSpec {
    WaitSpec {
        components,
        timeout: Duration::from_millis(timeout_ms),
        interval: Duration::from_millis(100),
    }
}

async fn fail(spec: &WaitSpec) -> (String, String, Vec<String>) {
    let mut lines = Vec::new();
    let err = wait(spec, |l| lines.push(l.to_string())).await.unwrap_err();
    let hint = err.hint().unwrap_or_default().into_owned();
    (err.to_string(), hint, lines)
}

fn probe_once(addr: SocketAddr, trust: Trust) -> Answer {
    probe::run(
        &Probe {
            addr,
            path: "/livez",
            trust,
        },
        Duration::from_secs(3),
    )
}

#[test]
fn a_certificate_from_another_ca_is_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ca("kubernetes");
    let other = ca("someone-else");
    let ca_file = write_ca(dir.path(), &cluster);
    let addr = serve(
        lo(1),
        serving_cert(Some(&other), lo(1)),
        Behaviour::Status(200, "ok"),
    );
    let answer = probe_once(addr, Trust::CaFile(ca_file.clone()));
    assert_eq!(
        answer,
        Answer::Tls(TlsProblem::UnknownCa {
            ca: ca_file.clone()
        })
    );
    let text = answer.to_string();
    assert!(text.contains("unknown CA"), "{text}");
    assert!(text.contains(ca_file.to_str().unwrap()), "{text}");
}

#[test]
fn a_certificate_for_another_address_is_a_name_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ca("kubernetes");
    let ca_file = write_ca(dir.path(), &cluster);
    let addr = serve(
        lo(1),
        serving_cert(Some(&cluster), lo(99)),
        Behaviour::Status(200, "ok"),
    );
    let answer = probe_once(addr, Trust::CaFile(ca_file));
    let Answer::Tls(TlsProblem::NameMismatch {
        expected,
        presented,
    }) = &answer
    else {
        panic!("{answer:?}");
    };
    assert_eq!(expected, "127.0.0.1");
    assert!(
        presented.iter().any(|p| p.contains("127.0.0.99")),
        "{presented:?}"
    );
    assert!(answer.to_string().contains("name mismatch"));
}

#[test]
fn the_right_certificate_and_200_is_healthy_and_an_unreadable_ca_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ca("kubernetes");
    let ca_file = write_ca(dir.path(), &cluster);
    let addr = serve(
        lo(1),
        serving_cert(Some(&cluster), lo(1)),
        Behaviour::Status(200, "ok"),
    );
    assert_eq!(probe_once(addr, Trust::CaFile(ca_file)), Answer::Healthy);

    let missing = dir.path().join("nope.crt");
    let answer = probe_once(addr, Trust::CaFile(missing.clone()));
    assert!(matches!(&answer, Answer::CaUnusable { path, .. } if *path == missing));
    std::fs::write(&missing, "not pem").unwrap();
    assert!(
        probe_once(addr, Trust::CaFile(missing))
            .to_string()
            .contains("no PEM certificate")
    );
}

#[tokio::test]
async fn a_timeout_names_each_component_and_what_it_last_answered() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ca("kubernetes");
    let ca_file = write_ca(dir.path(), &cluster);
    let apiserver = serve(
        lo(1),
        serving_cert(Some(&cluster), lo(1)),
        Behaviour::Status(
            500,
            "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\nlivez check failed\n",
        ),
    );
    let cm = serve(
        lo(1),
        serving_cert(None, lo(1)),
        Behaviour::Status(200, "ok"),
    );
    let scheduler = refused_addr();
    let spec = spec(
        vec![
            component(
                "kube-apiserver",
                apiserver,
                "/livez",
                Trust::CaFile(ca_file),
            ),
            component("kube-controller-manager", cm, "/healthz", Trust::SelfSigned),
            component("kube-scheduler", scheduler, "/healthz", Trust::SelfSigned),
        ],
        1500,
    );
    let (message, hint, lines) = fail(&spec).await;
    assert!(message.contains("within 1.5s"), "{message}");
    assert!(
        message.contains("kube-apiserver (https://127.0.0.1:")
            && message.contains(
                "/livez): HTTP 500: [-]etcd failed: reason withheld | livez check failed"
            ),
        "{message}"
    );
    assert!(
        message.contains("kube-controller-manager") && message.contains("healthy (HTTP 200)"),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "kube-scheduler (https://{scheduler}/healthz): connection refused"
        )),
        "{message}"
    );
    assert!(!message.contains("waiting for the condition"));
    // Where to look, for the unhealthy ones only.
    assert!(
        hint.contains("crictl ps -a --name kube-apiserver"),
        "{hint}"
    );
    assert!(
        hint.contains("/r/etc/kubernetes/manifests/kube-scheduler.yaml"),
        "{hint}"
    );
    assert!(
        hint.contains("/r/var/log/kubestrap-testbed/kube-apiserver.log"),
        "{hint}"
    );
    assert!(hint.contains("journalctl -u kubelet"), "{hint}");
    assert!(!hint.contains("kube-controller-manager.yaml"), "{hint}");
    // Progress says the same in short, once per change (a stable state is not repeated).
    assert_eq!(
        lines,
        ["apiserver: HTTP 500; controller-manager: ok; scheduler: connection refused"]
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_timed_out() {
    let addr = serve(lo(1), serving_cert(None, lo(1)), Behaviour::Silent);
    let spec = spec(
        vec![component(
            "kube-scheduler",
            addr,
            "/healthz",
            Trust::SelfSigned,
        )],
        800,
    );
    let (message, _, _) = fail(&spec).await;
    assert!(message.contains("timed out"), "{message}");
}

#[tokio::test]
async fn healthy_components_end_the_wait_early() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = ca("kubernetes");
    let ca_file = write_ca(dir.path(), &cluster);
    let api = serve(
        lo(1),
        serving_cert(Some(&cluster), lo(1)),
        Behaviour::Status(200, "ok"),
    );
    let cm = serve(
        lo(1),
        serving_cert(None, lo(1)),
        Behaviour::Status(200, "ok"),
    );
    let spec = spec(
        vec![
            component("kube-apiserver", api, "/livez", Trust::CaFile(ca_file)),
            component("kube-controller-manager", cm, "/healthz", Trust::SelfSigned),
        ],
        20_000,
    );
    let started = std::time::Instant::now();
    let mut lines = Vec::new();
    wait(&spec, |l| lines.push(l.to_string())).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(lines[0], "apiserver: ok; controller-manager: ok");
    assert!(lines[1].starts_with("all control-plane components are healthy after"));
}

#[tokio::test]
async fn a_component_that_comes_up_later_is_waited_for() {
    let addr = refused_addr();
    let spec = spec(
        vec![component(
            "kube-scheduler",
            addr,
            "/healthz",
            Trust::SelfSigned,
        )],
        10_000,
    );
    let cert = serving_cert(None, lo(1));
    let later = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        // Same port, now answering: the refused state turns healthy.
        serve_listener(
            TcpListener::bind(addr).unwrap(),
            cert,
            Behaviour::Status(200, "ok"),
        );
    });
    let mut lines = Vec::new();
    wait(&spec, |l| lines.push(l.to_string())).await.unwrap();
    later.join().unwrap();
    assert_eq!(lines[0], "scheduler: connection refused");
    assert_eq!(lines[1], "scheduler: ok");
}

#[test]
fn durations_read_like_the_config() {
    assert_eq!(human(Duration::from_secs(20)), "20s");
    assert_eq!(human(Duration::from_secs(240)), "4m0s");
    assert_eq!(human(Duration::from_millis(1500)), "1.5s");
}
