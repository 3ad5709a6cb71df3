//! The stand-in against real child processes: start, late manifests, changes, removal,
//! exits, and no survivors after stop, drop or SIGTERM to the binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubestrap_testbed::{Event, Runner, RunnerConfig};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn pod(name: &str, script: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: kube-system
spec:
  containers:
  - name: {name}
    image: example.invalid/{name}:v1
    command:
    - sh
    - -c
    args:
    - {script:?}
    env:
    - name: GREETING
      value: hello-from-env
{extra}"#
    )
}

fn write_manifest(root: &Path, file: &str, yaml: &str) -> PathBuf {
    let dir = root.join("etc/kubernetes/manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(file);
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, yaml).unwrap();
    std::fs::rename(&tmp, &p).unwrap();
    p
}

fn config(root: &Path) -> RunnerConfig {
    let mut c = RunnerConfig::new(root);
    c.poll_interval = Duration::from_millis(100);
    c.stop_grace = Duration::from_secs(2);
    c
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Running, and not a zombie waiting for an init that may never reap it (containers).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn log_of(r: &Runner, stem: &str) -> String {
    std::fs::read_to_string(r.log_path(stem)).unwrap_or_default()
}

/// The pid the script wrote to a file (a grandchild, to check the process-group kill).
fn read_pid(p: &Path) -> Option<u32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

#[test]
fn runs_pods_picks_up_late_manifests_and_stops_everything_on_drop() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let mut c = config(r);
    let sink = Arc::clone(&events);
    c.on_event = Some(Arc::new(move |e| sink.lock().unwrap().push(e.clone())));
    // Started before any manifest exists, as before `kubestrap init`.
    let runner = Runner::start(c).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(runner.containers().is_empty());

    let grandchild = r.join("grandchild.pid");
    let data = r.join("var/lib/a-data");
    let extra = format!(
        "  volumes:\n  - hostPath: {{path: {}, type: DirectoryOrCreate}}\n    name: data\n  - hostPath: {{path: /kubestrap-testbed-must-not-exist, type: DirectoryOrCreate}}\n    name: outside\n",
        data.display()
    );
    write_manifest(
        r,
        "a.yaml",
        &pod(
            "a",
            &format!(
                "echo $GREETING; sleep 300 & echo $! > {}; wait",
                grandchild.display()
            ),
            &extra,
        ),
    );
    wait_for("a's output", || {
        log_of(&runner, "a").contains("hello-from-env")
    });
    wait_for("the grandchild pid", || read_pid(&grandchild).is_some());
    let mut a_pid = None;
    wait_for("a's pid", || {
        a_pid = runner
            .containers()
            .into_iter()
            .find(|s| s.pod == "a")
            .and_then(|s| s.pid);
        a_pid.is_some()
    });
    let a_pid = a_pid.unwrap();
    let gc_pid = read_pid(&grandchild).unwrap();
    assert!(alive(a_pid) && alive(gc_pid));
    assert!(
        data.is_dir(),
        "DirectoryOrCreate inside the root is created"
    );
    assert!(!Path::new("/kubestrap-testbed-must-not-exist").exists());
    assert!(events.lock().unwrap().iter().any(
        |e| matches!(e, Event::Note { message, .. } if message.contains("outside the node root"))
    ));

    // A pod that exits is reported and not restarted.
    write_manifest(r, "b.yaml", &pod("b", "echo bye; exit 3", ""));
    wait_for("b's exit", || {
        runner
            .containers()
            .iter()
            .any(|s| s.pod == "b" && s.exit.as_deref() == Some("exit code 3"))
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        log_of(&runner, "b").lines().filter(|l| *l == "bye").count(),
        1
    );

    // A manifest that cannot run is reported, not fatal.
    write_manifest(
        r,
        "c.yaml",
        "kind: Pod\nmetadata: {name: c}\nspec:\n  containers:\n  - name: c\n    image: x\n",
    );
    wait_for("c's rejection", || {
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Invalid { error, .. } if error.contains("no command")))
    });

    drop(runner);
    assert!(!alive(a_pid), "the pod was stopped");
    assert!(!alive(gc_pid), "the pod's process group was stopped");
}

#[test]
fn a_changed_manifest_restarts_its_pod_and_a_removed_one_stops() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let m = write_manifest(r, "p.yaml", &pod("p", "echo one; exec sleep 300", ""));
    let runner = Runner::start(config(r)).unwrap();
    // The pid as the runner publishes it (after each poll), once the pod has printed.
    let pid_after = |line: &str, not: Option<u32>| {
        let mut pid = None;
        wait_for(line, || {
            pid = runner.containers().first().and_then(|c| c.pid);
            log_of(&runner, "p").lines().any(|l| l == line) && pid.is_some() && pid != not
        });
        pid.unwrap()
    };
    let first = pid_after("one", None);

    write_manifest(r, "p.yaml", &pod("p", "echo two; exec sleep 300", ""));
    let second = pid_after("two", Some(first));
    assert!(!alive(first));

    std::fs::remove_file(&m).unwrap();
    wait_for("p stopped", || runner.containers().is_empty());
    assert!(!alive(second));
}

#[test]
fn a_missing_command_binary_is_reported_in_the_log() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write_manifest(
        r,
        "x.yaml",
        "kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: x\n    command: [kubestrap-no-such-binary]\n",
    );
    let runner = Runner::start(config(r)).unwrap();
    wait_for("the spawn failure", || {
        runner.containers().iter().any(|s| {
            s.exit
                .as_deref()
                .is_some_and(|e| e.starts_with("not started"))
        })
    });
    assert!(log_of(&runner, "x").contains("cannot start"));
}

#[test]
fn the_binary_stops_its_pods_on_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let pidfile = r.join("pod.pid");
    write_manifest(
        r,
        "s.yaml",
        &pod(
            "s",
            &format!("echo $$ > {}; exec sleep 300", pidfile.display()),
            "",
        ),
    );
    let mut bin = Command::new(env!("CARGO_BIN_EXE_kubestrap-testbed"))
        .args(["run-static-pods", "--stop-grace-seconds", "2", "--root"])
        .arg(r)
        .spawn()
        .unwrap();
    wait_for("the pod", || read_pid(&pidfile).is_some());
    let pod_pid = read_pid(&pidfile).unwrap();
    assert!(alive(pod_pid));
    kill(Pid::from_raw(bin.id() as i32), Signal::SIGTERM).unwrap();
    let status = bin.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!alive(pod_pid));
}

#[test]
fn pods_die_with_a_killed_binary() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let pidfile = r.join("pod.pid");
    write_manifest(
        r,
        "k.yaml",
        &pod(
            "k",
            &format!("echo $$ > {}; exec sleep 300", pidfile.display()),
            "",
        ),
    );
    let mut bin = Command::new(env!("CARGO_BIN_EXE_kubestrap-testbed"))
        .args(["run-static-pods", "--root"])
        .arg(r)
        .spawn()
        .unwrap();
    wait_for("the pod", || read_pid(&pidfile).is_some());
    let pod_pid = read_pid(&pidfile).unwrap();
    bin.kill().unwrap(); // SIGKILL: no chance to clean up
    bin.wait().unwrap();
    wait_for("the orphan to die (PR_SET_PDEATHSIG)", || !alive(pod_pid));
}

#[test]
fn a_paused_pod_is_stopped_and_kept_stopped_until_unpaused() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let runner = Runner::start(config(r)).unwrap();
    write_manifest(r, "p.yaml", &pod("p", "sleep 300", ""));
    write_manifest(r, "q.yaml", &pod("q", "sleep 300", ""));
    let pid_of = |name: &str| {
        runner
            .containers()
            .into_iter()
            .find(|s| s.pod == name)
            .and_then(|s| s.pid)
    };
    wait_for("p and q running", || {
        pid_of("p").is_some() && pid_of("q").is_some()
    });
    let (p1, q1) = (pid_of("p").unwrap(), pid_of("q").unwrap());

    runner.pause("p");
    wait_for("p stopped", || !alive(p1) && pid_of("p").is_none());
    std::thread::sleep(Duration::from_millis(400));
    assert!(pid_of("p").is_none(), "not restarted while paused");
    assert_eq!(pid_of("q"), Some(q1), "the other pod is untouched");

    runner.unpause("p");
    wait_for("p running again", || pid_of("p").is_some());
    let p2 = pid_of("p").unwrap();
    assert_ne!(p2, p1, "a fresh process");
    assert!(alive(p2));
}

/// With `restart_after`, a container that exits by itself is started again (a new process),
/// as the kubelet restarts static pods; without it, it stays exited.
#[test]
fn an_exited_pod_is_restarted_only_when_asked() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let starts = r.join("starts");
    write_manifest(
        r,
        "flaky.yaml",
        &pod(
            "flaky",
            &format!("echo started >> {}; exit 3", starts.display()),
            "",
        ),
    );
    let count = || {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .count()
    };

    let runner = Runner::start(config(r)).unwrap();
    wait_for("the first exit", || {
        runner.containers().iter().any(|s| s.exit.is_some())
    });
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(count(), 1, "not restarted by default");
    drop(runner);

    let mut c = config(r);
    c.restart_after = Some(Duration::from_millis(200));
    let runner = Runner::start(c).unwrap();
    wait_for("two restarts", || count() >= 4);
    drop(runner);
}
