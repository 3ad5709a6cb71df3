//! API faults on the real test bed: the kube-apiserver is stopped while init is in its API
//! phases (upload-config … bootstrap-token).
//!
//! - It comes back: the phases retry with backoff and init finishes.
//! - It stays down: init fails within `timeouts.kubernetesAPICall`, the error names the
//!   endpoint and the last error, and a later run (server back) resumes from the failed phase.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kubestrap_test_support::{bed, ndjson::events};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

const APISERVER: &str = "kube-apiserver";

fn apiserver_running(pods: &kubestrap_testbed::Runner) -> bool {
    pods.containers()
        .iter()
        .any(|c| c.pod == APISERVER && c.pid.is_some())
}

fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ready(root: &Path) -> bool {
    bed::kubectl(root, &["get", "--raw", "/readyz"]).trim() == "ok"
}

/// A first init, run to the end, so the node has a cluster to fault.
fn first_init(root: &Path, advertise: &str, port: u16, config: &Path) {
    let registrar = bed::register_node_when_up(root, "n1", Duration::from_secs(170));
    let out = bed::init_command(root, advertise, port, config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:#?}", events(&out.stdout));
    assert!(registrar.join().unwrap());
}

fn started_phases(ev: &[Value]) -> Vec<String> {
    ev.iter()
        .filter(|e| e["event"] == "phase_started")
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_apiserver_stopped_mid_run_and_back_init_retries_and_finishes() {
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    std::fs::create_dir(&root).unwrap();
    let config = bed::config_file(dir.path(), "2m", "1m");
    let (advertise, port) = ("127.0.0.102", 16502);
    let pods = bed::restarting_stand_in(&root);
    first_init(&root, advertise, port, &config);

    // Init again from the top. When its first API phase has finished, the run is frozen
    // (SIGSTOP), the apiserver stopped, the run thawed: the outage falls between two API
    // phases, deterministically. The apiserver comes back 6 s later.
    // Preflight's port checks fail beside the running control plane: ignored.
    let mut child = bed::init_command_ignoring(&root, advertise, port, &config, "all")
        .args(["--no-resume", "--upload-certs", "-v", "-v"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let signal = |sig: Signal| kill(pid, sig).unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s);
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ev: Vec<Value> = Vec::new();
    let mut stopped_at = None;
    for line in lines.by_ref() {
        let e: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let first_api_done =
            e["event"] == "phase_finished" && e["phase"] == "upload-config/kubeadm";
        ev.push(e);
        if first_api_done {
            signal(Signal::SIGSTOP);
            pods.pause(APISERVER);
            wait_until("the apiserver stopped", Duration::from_secs(20), || {
                !apiserver_running(&pods)
            });
            signal(Signal::SIGCONT);
            stopped_at = Some(Instant::now());
            break;
        }
    }
    let stopped_at = stopped_at.expect("init reached the API phases");
    std::thread::sleep(Duration::from_secs(6));
    pods.unpause(APISERVER);
    for line in lines {
        ev.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = child.wait().unwrap();
    let recovered = stopped_at.elapsed();
    let stderr = log.join().unwrap();
    assert!(status.success(), "{ev:#?}\n{stderr}");
    let result = ev.last().unwrap();
    assert_eq!(result["status"], "success");
    // The next API phase waited through the outage, retrying with backoff, and the rest ran.
    let finished_after_outage: Vec<&str> = ev
        .iter()
        .filter(|e| e["event"] == "phase_finished")
        .filter_map(|e| e["phase"].as_str())
        .skip_while(|p| *p != "upload-config/kubeadm")
        .collect();
    for p in [
        "upload-config/kubelet",
        "upload-certs",
        "mark-control-plane",
        "bootstrap-token",
        "show-join-command",
    ] {
        assert!(
            finished_after_outage.contains(&p),
            "{p}: {finished_after_outage:?}"
        );
    }
    let retries: Vec<&str> = stderr.lines().filter(|l| l.contains("retrying")).collect();
    assert!(
        retries.len() >= 3,
        "backoff retries while the apiserver was down:\n{stderr}"
    );
    // Backoff, not a hot loop: 6 s of outage at 200 ms doubling to 2 s is a handful.
    assert!(retries.len() <= 15, "{}", retries.join("\n"));
    assert!(
        retries
            .iter()
            .all(|l| l.contains(&format!("https://{advertise}:{port}"))),
        "{}",
        retries.join("\n")
    );
    eprintln!(
        "apiserver down 6 s mid-run: {} retries; init finished {recovered:?} after the apiserver stopped",
        retries.len()
    );
    // A restarted apiserver serves requests (init's) before every readiness check passes
    // (its post-start hooks run on): readiness is awaited, not sampled once.
    wait_until(
        "the restarted apiserver ready",
        Duration::from_secs(60),
        || ready(&root),
    );
}

#[test]
fn the_apiserver_staying_down_fails_naming_the_endpoint_and_a_later_run_resumes() {
    bed::kube_bin();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    std::fs::create_dir(&root).unwrap();
    let config = bed::config_file(dir.path(), "2m", "1m");
    let (advertise, port) = ("127.0.0.103", 16503);
    let pods = bed::restarting_stand_in(&root);
    first_init(&root, advertise, port, &config);

    // The apiserver goes and stays down; init runs from the top, with a 6 s API timeout and
    // the wait skipped (it would wait for the apiserver instead), so it reaches the API
    // phases.
    pods.pause(APISERVER);
    wait_until("the apiserver stopped", Duration::from_secs(20), || {
        !apiserver_running(&pods)
    });
    let short = bed::config_file(dir.path(), "2m", "6s");
    let started = Instant::now();
    let out = bed::init_command_ignoring(&root, advertise, port, &short, "all")
        .args(["--no-resume", "--skip-phases", "wait-control-plane"])
        .output()
        .unwrap();
    let took = started.elapsed();
    let ev = events(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{ev:#?}");
    let result = ev.last().unwrap();
    assert_eq!(result["failed_phase"], "upload-config/kubeadm", "{result}");
    let error = ev.iter().find(|e| e["event"] == "error").unwrap();
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("https://{advertise}:{port}")),
        "names the endpoint: {message}"
    );
    assert!(
        message.to_lowercase().contains("connection refused"),
        "names the last error: {message}"
    );
    assert!(message.contains("attempt"), "{message}");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("kubernetesAPICall"),
        "{error}"
    );
    // Bounded by the API timeout (6 s), not hanging.
    assert!(took < Duration::from_secs(20), "{took:?}");
    eprintln!("apiserver down for good: init failed after {took:?} with: {message}");

    // The apiserver comes back; the same init resumes at the failed phase.
    pods.unpause(APISERVER);
    wait_until("the apiserver ready", Duration::from_secs(60), || {
        ready(&root)
    });
    let out = bed::init_command_ignoring(&root, advertise, port, &short, "all")
        .output()
        .unwrap();
    let ev = events(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{ev:#?}");
    let started = started_phases(&ev);
    assert_eq!(
        started.first().map(String::as_str),
        Some("wait-control-plane"),
        "phases before the failure are skipped as completed (the wait always runs): {started:?}"
    );
    assert_eq!(
        started.get(1).map(String::as_str),
        Some("upload-config/kubeadm"),
        "{started:?}"
    );
    let completed = ev
        .iter()
        .filter(|e| e["event"] == "phase_skipped" && e["reason"] == "completed")
        .count();
    assert!(completed >= 20, "{completed} phases resumed as completed");
}
