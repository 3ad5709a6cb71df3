//! Crash safety, measured: `kubestrap init` is killed with SIGKILL at random instants on the
//! real test bed, across every phase, and then run again to completion.
//!
//! - At every instant — sampled by a watcher thread while init runs, and right after each
//!   kill — every file kubestrap writes parses: certificates, keys, kubeconfigs (down to their
//!   embedded certificate and key), static-pod manifests, kubelet files and the journal.
//! - Every re-run completes (exit 0).
//!
//! One control plane serves the trials where that is sound: a kill after the manifests are
//! written leaves the pods running, and a `--no-resume` init walks every phase again on it.
//! Every few trials the node is reset (`kubestrap reset`) and init starts from an empty root,
//! so kills also land while certificates are generated and while the control plane boots.
//! The kill delay comes from a seeded RNG: the seed is printed, and `KUBESTRAP_CRASH_SEED`
//! replays a run (`KUBESTRAP_CRASH_TRIALS` changes the count, default 50).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kubestrap_phases::domain::pki::kubeconfig::KubeConfig;
use kubestrap_phases::domain::pki::{CertInfo, PrivateKey};
use kubestrap_phases::domain::static_pod::Pod;
use kubestrap_test_support::{bed, cli::files_under, ndjson::events};
use serde_json::Value;

/// Every SCRATCH_EVERY-th trial starts from an empty node.
const SCRATCH_EVERY: usize = 8;
const ADVERTISE: &str = "127.0.0.101";
const PORT: u16 = 16501;

/// splitmix64: small, seedable, good enough to spread kill instants.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Why a file kubestrap writes does not parse, or `None` when it does (or is not ours to
/// check). `rel` is relative to the node root.
fn check_file(root: &Path, rel: &Path) -> Option<String> {
    let name = rel.file_name()?.to_string_lossy().into_owned();
    if name.starts_with(".kubestrap-") {
        return None; // an atomic write's temporary file: never the file itself
    }
    let path = root.join(rel);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(format!("unreadable: {e}")),
    };
    let text = String::from_utf8_lossy(&bytes);
    let rel_s = rel.to_string_lossy();
    let bad = |why: String| Some(why);
    if rel_s.starts_with("var/lib/kubestrap/") {
        return match serde_json::from_slice::<Value>(&bytes) {
            Ok(j) if j["version"] == 1 && j["phases"].is_object() => None,
            Ok(j) => bad(format!("journal without version/phases: {j}")),
            Err(e) => bad(format!("journal: {e}")),
        };
    }
    if rel_s.starts_with("etc/kubernetes/manifests/") {
        return match Pod::from_yaml(&text) {
            Ok(p) if p.container().is_some_and(|c| !c.command.is_empty()) => None,
            Ok(_) => bad("manifest without a command".into()),
            Err(e) => bad(format!("manifest: {e}")),
        };
    }
    if name.ends_with(".conf") {
        return match KubeConfig::from_yaml(&path, &bytes).and_then(|k| k.current(&path)) {
            Ok(c) if c.ca.is_some() => None,
            Ok(_) => bad("kubeconfig without CA data".into()),
            Err(e) => bad(e.to_string()),
        };
    }
    if name.ends_with(".crt") {
        return CertInfo::from_pem(&path, &bytes)
            .err()
            .map(|e| e.to_string());
    }
    if name.ends_with(".key") {
        return PrivateKey::from_pem(&path, &bytes)
            .err()
            .map(|e| e.to_string());
    }
    if name == "sa.pub" {
        let t = text.trim_end();
        return (!(t.starts_with("-----BEGIN PUBLIC KEY-----")
            && t.ends_with("-----END PUBLIC KEY-----")
            && t.lines().count() >= 3))
            .then(|| "sa.pub: not a whole PEM public key".to_string());
    }
    if rel_s == "var/lib/kubelet/config.yaml" {
        return (!(text.contains("kind: KubeletConfiguration") && text.ends_with('\n')))
            .then(|| "kubelet config: not whole".to_string());
    }
    if rel_s == "var/lib/kubelet/kubeadm-flags.env" {
        return (!(text.starts_with("KUBELET_KUBEADM_ARGS=\"") && text.ends_with("\"\n")))
            .then(|| "kubeadm-flags.env: not whole".to_string());
    }
    bad("a file kubestrap is not known to write".into())
}

/// Files under the root that kubestrap writes (etcd's data and the stand-in's logs are not).
fn kubestrap_files(root: &Path) -> Vec<PathBuf> {
    files_under(root)
        .into_iter()
        .filter(|p| !p.starts_with("var/lib/etcd") && !p.starts_with("var/log"))
        .collect()
}

fn check_tree(root: &Path) -> Vec<String> {
    kubestrap_files(root)
        .iter()
        .filter_map(|rel| check_file(root, rel).map(|why| format!("{}: {why}", rel.display())))
        .collect()
}

/// Samples the tree until stopped; returns (samples, violations).
fn watcher(root: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let mut samples = 0;
        let mut bad = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            bad.extend(check_tree(&root));
            samples += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        (samples, bad)
    })
}

fn spawn_init(root: &Path, config: &Path, no_resume: bool) -> Child {
    // The port checks fail on a re-run beside the running control plane: not what this
    // test is about.
    let mut cmd = bed::init_command_ignoring(root, ADVERTISE, PORT, config, "all");
    cmd.arg("--upload-certs");
    if no_resume {
        cmd.arg("--no-resume");
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The phase a run was in when it ended: the last started and not finished, else where it
/// got to.
fn phase_at_end(ev: &[Value]) -> String {
    let mut current: Option<String> = None;
    let mut last_done = "before-first-phase".to_string();
    for e in ev {
        match e["event"].as_str() {
            Some("phase_started") => current = e["phase"].as_str().map(str::to_string),
            Some("phase_finished") | Some("phase_skipped") => {
                if let Some(p) = e["phase"].as_str() {
                    last_done = format!("after {p}");
                }
                current = None;
            }
            Some("result") => return "finished".into(),
            _ => {}
        }
    }
    current.unwrap_or(last_done)
}

/// Runs init and SIGKILLs it `delay` after phase `target` starts (after the start of the run
/// when `target` is `None`, or when the run never reaches it); returns the phase it was in.
fn killed_run(
    root: &Path,
    config: &Path,
    no_resume: bool,
    target: Option<&str>,
    delay: Duration,
) -> String {
    let mut child = spawn_init(root, config, no_resume);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ev: Vec<Value> = Vec::new();
    if let Some(target) = target {
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap_or(0) > 0 {
            if let Ok(e) = serde_json::from_str::<Value>(&line) {
                let hit = e["event"] == "phase_started" && e["phase"] == target;
                let end = e["event"] == "result";
                ev.push(e);
                if hit || end {
                    break;
                }
            }
            line.clear();
        }
    }
    std::thread::sleep(delay);
    let _ = child.kill(); // SIGKILL; it may have finished already
    let _ = child.wait();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    // A kill mid-line leaves a partial last line: keep the whole ones.
    ev.extend(rest.lines().filter_map(|l| serde_json::from_str(l).ok()));
    phase_at_end(&ev)
}

/// How long each phase took in a run, from its events.
fn durations(ev: &[Value]) -> BTreeMap<String, Duration> {
    ev.iter()
        .filter(|e| e["event"] == "phase_finished")
        .map(|e| {
            (
                e["phase"].as_str().unwrap().to_string(),
                Duration::from_millis(e["duration_ms"].as_u64().unwrap()),
            )
        })
        .collect()
}

/// Runs init to the end; returns (exit code, duration, phases it ran, events).
fn full_run(root: &Path, config: &Path, no_resume: bool) -> (Option<i32>, Duration, Vec<Value>) {
    let started = Instant::now();
    let mut child = spawn_init(root, config, no_resume);
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let status = child.wait().unwrap();
    (status.code(), started.elapsed(), events(&out))
}

fn reset(root: &Path) {
    let out = Command::new(assert_cmd::cargo::cargo_bin("kubestrap"))
        .args(["reset", "--force", "-o", "json", "--root"])
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Keeps Node n1 registered whenever the API server answers, as a kubelet would (a reset
/// wipes etcd and with it the Node).
fn registrar(root: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let h = bed::register_node_when_up(&root, "n1", Duration::from_secs(2));
            let _ = h.join();
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

#[derive(Default)]
struct Tally {
    trials: u32,
    rerun_ok: u32,
    rerun_total: Duration,
}

#[test]
fn sigkill_at_random_instants_leaves_whole_files_and_every_rerun_completes() {
    bed::kube_bin();
    let trials: usize = std::env::var("KUBESTRAP_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("KUBESTRAP_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("crash test: {trials} trials, seed {seed} (KUBESTRAP_CRASH_SEED={seed} replays)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    std::fs::create_dir(&root).unwrap();
    let config = bed::config_file(dir.path(), "2m", "1m");
    let _pods = bed::stand_in(&root);
    let stop_registrar = Arc::new(AtomicBool::new(false));
    let registrar = registrar(root.clone(), Arc::clone(&stop_registrar));

    // Calibration: every phase's duration from an empty node and in a --no-resume run on a
    // healthy one. Trials take the phases in turn and kill at a random instant within the
    // phase's duration (plus a little: some kills land just after it), so every phase gets
    // kills, the short ones too.
    let (code, scratch_took, ev) = full_run(&root, &config, false);
    assert_eq!(code, Some(0), "{ev:#?}");
    let scratch_durations = durations(&ev);
    let (code, rerun_took, ev) = full_run(&root, &config, true);
    assert_eq!(code, Some(0), "{ev:#?}");
    let rerun_durations = durations(&ev);
    let phases: Vec<String> = ev
        .iter()
        .filter(|e| e["event"] == "phase_started")
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect();
    eprintln!(
        "calibration: from scratch {scratch_took:?}, --no-resume on a running control plane {rerun_took:?}; {} phases: {phases:?}",
        phases.len()
    );

    let started = Instant::now();
    let mut by_phase: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    let mut samples_total = 0u64;
    let mut second_kills = 0u32;
    for trial in 0..trials {
        let scratch = trial % SCRATCH_EVERY == 0;
        if scratch {
            reset(&root);
        }
        let target = &phases[trial % phases.len()];
        let took = if scratch {
            &scratch_durations
        } else {
            &rerun_durations
        }
        .get(target)
        .copied()
        .unwrap_or_default();
        let window = took + took / 5 + Duration::from_millis(5);
        let delay = Duration::from_micros(rng.below(window.as_micros() as u64 + 1));
        let stop = Arc::new(AtomicBool::new(false));
        let watch = watcher(root.clone(), Arc::clone(&stop));

        let phase = killed_run(&root, &config, !scratch, Some(target), delay);
        for v in check_tree(&root) {
            failures.push(format!(
                "trial {trial} (seed {seed}), killed in {phase} after {delay:?}: {v}"
            ));
        }
        // Sometimes the resumed run is killed too: resume itself must be crash-safe.
        if rng.below(3) == 0 {
            second_kills += 1;
            let d2 = Duration::from_millis(rng.below(1500));
            killed_run(&root, &config, false, None, d2);
            for v in check_tree(&root) {
                failures.push(format!(
                    "trial {trial} (seed {seed}), second kill after {d2:?}: {v}"
                ));
            }
        }
        let (code, took, ev) = full_run(&root, &config, false);
        stop.store(true, Ordering::Relaxed);
        let (samples, watched) = watch.join().unwrap();
        samples_total += samples;
        for v in watched {
            failures.push(format!(
                "trial {trial} (seed {seed}), watcher while running: {v}"
            ));
        }
        let tally = by_phase.entry(phase.clone()).or_default();
        tally.trials += 1;
        if code == Some(0) {
            tally.rerun_ok += 1;
            tally.rerun_total += took;
        } else {
            let err: Vec<&Value> = ev.iter().filter(|e| e["event"] == "error").collect();
            failures.push(format!(
                "trial {trial} (seed {seed}), killed in {phase} after {delay:?}: the re-run exited {code:?}: {err:?}"
            ));
        }
    }
    stop_registrar.store(true, Ordering::Relaxed);
    registrar.join().unwrap();
    let temps_left: Vec<PathBuf> = kubestrap_files(&root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".kubestrap-"))
        })
        .collect();
    let temp_left = temps_left.len();

    eprintln!(
        "\ncrash test: {trials} SIGKILL trials (+{second_kills} kills of the resumed run) in {:?}, seed {seed}",
        started.elapsed()
    );
    eprintln!(
        "{:<40} {:>6} {:>9} {:>14}",
        "killed in", "trials", "re-run ok", "mean re-run"
    );
    for (phase, t) in &by_phase {
        let mean = if t.rerun_ok > 0 {
            t.rerun_total / t.rerun_ok
        } else {
            Duration::ZERO
        };
        eprintln!(
            "{phase:<40} {:>6} {:>9} {:>14?}",
            t.trials, t.rerun_ok, mean
        );
    }
    eprintln!(
        "watcher samples of the whole tree: {samples_total}; files found not whole: {}; temporary files left by kills: {temp_left}",
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    // A killed write's temporary file is swept by the re-run's next write into its directory.
    assert!(
        temps_left.is_empty(),
        "temporary files of killed runs left behind: {temps_left:?}"
    );
    let phases_hit = by_phase.len();
    assert!(
        phases_hit >= phases.len().min(trials) / 2,
        "kills landed in only {phases_hit} distinct places: {:?}",
        by_phase.keys().collect::<Vec<_>>()
    );
}
