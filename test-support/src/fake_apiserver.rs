//! A tiny TLS server that stands in for a kube-apiserver in discovery tests: it serves
//! whatever the test crafts (cluster-info with a forged signature, a kubeconfig missing its
//! CA, …) and records every request it gets, headers included. Its certificate is signed by a
//! CA of its own, for the IP it listens on (an ephemeral port).
//!
//! Used by the library's discovery tests (phases/tests/it/discovery.rs), doctor's online pass
//! (phases/tests/it/doctor_cluster.rs, through [`FakeApiServer::routed`]) and the binary's
//! bad-input table (tests/it/bad_input.rs).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kubestrap_phases::domain::pki::{
    CertProfile, EncryptionAlgorithm, Usage, issue, self_signed_ca,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
}

/// What the server answers to the n-th request (0-based): status and JSON body.
pub type Responder = Arc<dyn Fn(usize) -> (u16, String) + Send + Sync>;

/// What a [`FakeApiServer::routed`] server answers to a request (its request line and
/// headers): status, JSON body, and extra response headers (a `Date`, say).
pub type Router = Arc<dyn Fn(&Recorded) -> (u16, String, Vec<(String, String)>) + Send + Sync>;

/// Either kind of answerer, as one connection handler calls it.
type Handler = Arc<dyn Fn(usize, &Recorded) -> (u16, String, Vec<(String, String)>) + Send + Sync>;

pub struct FakeApiServer {
    pub ip: String,
    pub port: u16,
    pub ca_pem: String,
    recorded: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeApiServer {
    /// A TLS server on `ip` whose certificate (IP SAN `ip`) is signed by a CA of its own;
    /// `respond` is called once the CA is known.
    pub fn start(ip: &str, respond: impl FnOnce(&str) -> Responder) -> Self {
        Self::launch(ip, |ca| {
            let respond = respond(ca);
            Arc::new(move |n, _: &Recorded| {
                let (code, body) = respond(n);
                (code, body, Vec::new())
            })
        })
    }

    /// A server like [`FakeApiServer::start`]'s that answers by what is asked (the request
    /// line: method, path and query), for clients whose requests come in no fixed order;
    /// `route` is called once the CA is known.
    pub fn routed(ip: &str, route: impl FnOnce(&str) -> Router) -> Self {
        Self::launch(ip, |ca| {
            let route = route(ca);
            Arc::new(move |_, r: &Recorded| route(r))
        })
    }

    fn launch(ip: &str, respond: impl FnOnce(&str) -> Handler) -> Self {
        let ca_key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let ca_pem = self_signed_ca(
            &CertProfile::new("kubernetes", Usage::Ca),
            &ca_key,
            Duration::from_secs(3600),
        )
        .unwrap();
        let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
        let key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let mut profile = CertProfile::new("kube-apiserver", Usage::Server);
        profile.san(ip);
        let cert_pem = issue(
            &profile,
            &key,
            ca_der.as_ref(),
            &ca_key,
            Duration::from_secs(3600),
        )
        .unwrap();
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let key_der = PrivateKeyDer::from_pem_slice(key.to_pem().as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .unwrap();
        let config = Arc::new(config);
        let respond = respond(&ca_pem);
        let listener = TcpListener::bind(format!("{ip}:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let rec = recorded.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (config, respond, rec) = (config.clone(), respond.clone(), rec.clone());
                std::thread::spawn(move || serve(stream, config, respond, rec));
            }
        });
        Self {
            ip: ip.to_string(),
            port,
            ca_pem,
            recorded,
        }
    }

    /// `ip:port`, as `join <endpoint>` takes it.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }
}

/// A server on `ip` whose answers depend on its port, its CA and the request's index.
pub fn port_aware(
    ip: &str,
    make: impl Fn(u16, &str, usize) -> (u16, String) + Send + Sync + 'static,
) -> FakeApiServer {
    let port_cell: Arc<Mutex<u16>> = Arc::new(Mutex::new(0));
    let pc = port_cell.clone();
    let server = FakeApiServer::start(ip, move |ca| {
        let ca = ca.to_string();
        Arc::new(move |n| make(*pc.lock().unwrap(), &ca, n))
    });
    *port_cell.lock().unwrap() = server.port;
    server
}

/// One connection: any number of requests, each recorded and answered.
fn serve(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    respond: Handler,
    rec: Arc<Mutex<Vec<Recorded>>>,
) {
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, stream);
    loop {
        let mut reader = BufReader::new(&mut tls);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        drop(reader);
        let recorded = Recorded {
            request_line: request_line.trim_end().to_string(),
            headers,
        };
        let index = {
            let mut r = rec.lock().unwrap();
            r.push(recorded.clone());
            r.len() - 1
        };
        let (code, body, extra) = respond(index, &recorded);
        let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        let reply = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if tls
            .write_all(reply.as_bytes())
            .and_then(|_| tls.flush())
            .is_err()
        {
            return;
        }
    }
}
