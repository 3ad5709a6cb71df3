//! What the checks ask the machine: who runs us, its CPUs and memory, kernel files, programs
//! in `$PATH`, name resolution and systemd.
//!
//! Behind a trait so that each check's verdict can be tested against any answer (a non-root
//! user, one CPU, an old kubelet) on a machine that has none of those. Files under the node
//! root and listening ports are not probed here: tests set those up for real.

use std::io::{self, Read};
use std::net::ToSocketAddrs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `kubelet --version` and `systemctl is-enabled` may take before the check gives up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a program the checks ask (`kubelet --version`, `systemctl is-enabled`) gave no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProgramError {
    /// It could not be started (not in `$PATH`, not executable) or did not answer in time.
    #[error("cannot execute '{command}': {source}")]
    Unrunnable {
        /// The command line, e.g. `kubelet --version`.
        command: String,
        #[source]
        source: io::Error,
    },
    /// It ran and exited with a failure; `stderr` is the first line it wrote there.
    #[error("'{command}' failed: {}", stderr.as_deref().unwrap_or("no error output"))]
    Failed {
        command: String,
        stderr: Option<String>,
    },
}

impl crate::contract::diagnostics::Diagnostic for ProgramError {}

/// Why `/proc/meminfo` did not say how much memory there is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemInfoError {
    #[error("no MemTotal line in /proc/meminfo")]
    NoMemTotal,
    /// The line's value, trimmed.
    #[error("unreadable MemTotal in /proc/meminfo: {0:?}")]
    Unreadable(String),
    /// The unit found after the number, if any.
    #[error("unexpected MemTotal unit in /proc/meminfo: {0:?}, expected kB")]
    Unit(Option<String>),
}

impl crate::contract::diagnostics::Diagnostic for MemInfoError {}

/// The answer of `systemctl is-enabled <unit>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitState {
    /// Exit status 0: enabled, static, indirect, alias, … (whatever systemd counts as enabled).
    pub enabled: bool,
    /// What systemctl printed (`disabled`, `masked`, `not-found`, or its complaint).
    pub said: String,
}

pub(crate) trait Probe: Sync {
    fn euid(&self) -> u32;
    fn cpus(&self) -> io::Result<usize>;
    /// A kernel file, always from the real `/proc`: the node root never virtualises the kernel.
    fn read_kernel_file(&self, path: &str) -> io::Result<String>;
    /// Where `binary` is found in `$PATH`, like Go's `exec.LookPath`.
    fn find_in_path(&self, binary: &str) -> Option<PathBuf>;
    /// The stdout of `kubelet --version`, or why it could not be run.
    fn kubelet_version_output(&self) -> Result<String, ProgramError>;
    /// How many addresses the node name resolves to, or the resolver's error.
    fn resolve(&self, name: &str) -> io::Result<usize>;
    /// Whether systemd is the running init system.
    fn systemd_running(&self) -> bool;
    fn unit_state(&self, unit: &str) -> Result<UnitState, ProgramError>;
}

/// The machine kubestrap runs on.
pub(crate) struct RealProbe;

impl Probe for RealProbe {
    fn euid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn cpus(&self) -> io::Result<usize> {
        std::thread::available_parallelism().map(|n| n.get())
    }

    fn read_kernel_file(&self, path: &str) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn find_in_path(&self, binary: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(binary))
            .find(|candidate| is_executable(candidate))
    }

    fn kubelet_version_output(&self) -> Result<String, ProgramError> {
        let command = "kubelet --version";
        let (ok, stdout, stderr) =
            run_with_timeout("kubelet", &["--version"]).map_err(|source| {
                ProgramError::Unrunnable {
                    command: command.into(),
                    source,
                }
            })?;
        if !ok {
            return Err(ProgramError::Failed {
                command: command.into(),
                stderr: first_line(&stderr).map(str::to_string),
            });
        }
        Ok(stdout)
    }

    fn resolve(&self, name: &str) -> io::Result<usize> {
        (name, 0u16).to_socket_addrs().map(|addrs| addrs.count())
    }

    fn systemd_running(&self) -> bool {
        // sd_booted(3): systemd creates this directory when it is PID 1.
        Path::new("/run/systemd/system").is_dir()
    }

    fn unit_state(&self, unit: &str) -> Result<UnitState, ProgramError> {
        let (enabled, stdout, stderr) = run_with_timeout("systemctl", &["is-enabled", unit])
            .map_err(|source| ProgramError::Unrunnable {
                command: format!("systemctl is-enabled {unit}"),
                source,
            })?;
        let said = first_line(&stdout)
            .or_else(|| first_line(&stderr))
            .unwrap_or("")
            .to_string();
        Ok(UnitState { enabled, said })
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

/// Runs a short command and returns (exited with 0, stdout, stderr), killing it after
/// [`COMMAND_TIMEOUT`] so that a wedged binary cannot hang preflight.
fn run_with_timeout(program: &str, args: &[&str]) -> io::Result<(bool, String, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                io::Error::new(e.kind(), format!("{program} not found in $PATH"))
            }
            _ => e,
        })?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            // Best effort: the child is ours and about to be abandoned either way.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {}s", COMMAND_TIMEOUT.as_secs()),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_string(&mut stdout)?;
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_string(&mut stderr)?;
    }
    Ok((status.success(), stdout, stderr))
}

/// Total memory in MB (MiB, as kubeadm counts) from the `MemTotal:` line of `/proc/meminfo`.
pub fn mem_total_mb(meminfo: &str) -> Result<u64, MemInfoError> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .ok_or(MemInfoError::NoMemTotal)?;
    let mut fields = line.split_whitespace();
    let kb: u64 = fields
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| MemInfoError::Unreadable(line.trim().to_string()))?;
    match fields.next() {
        Some("kB") => Ok(kb / 1024),
        other => Err(MemInfoError::Unit(other.map(str::to_string))),
    }
}

/// The active swap devices listed in `/proc/swaps` (everything after its header line).
pub fn swap_devices(swaps: &str) -> Vec<String> {
    swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_in_mb() {
        let meminfo = "MemTotal:        8029736 kB\nMemFree:          123456 kB\n";
        assert_eq!(mem_total_mb(meminfo), Ok(7841));
        assert!(mem_total_mb("MemFree: 1 kB\n").is_err());
        assert!(mem_total_mb("MemTotal: lots kB\n").is_err());
        assert!(mem_total_mb("MemTotal: 1024 MB\n").is_err());
    }

    #[test]
    fn swaps_lists_devices_after_header() {
        let none = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
        assert!(swap_devices(none).is_empty());
        let some = format!("{none}/dev/sda2 partition 2097148 0 -2\n/swapfile file 1048572 0 -3\n");
        assert_eq!(swap_devices(&some), ["/dev/sda2", "/swapfile"]);
        assert!(swap_devices("").is_empty());
    }

    #[test]
    fn finds_programs_in_path_like_lookpath() {
        // `sh` is on every machine that runs these tests; a directory is never a program.
        assert!(RealProbe.find_in_path("sh").is_some());
        assert!(
            RealProbe
                .find_in_path("kubestrap-no-such-program")
                .is_none()
        );
    }

    #[test]
    fn a_missing_program_is_reported_by_name() {
        let err = run_with_timeout("kubestrap-no-such-program", &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("kubestrap-no-such-program not found in $PATH")
        );
    }

    #[test]
    fn command_output_is_captured() {
        let (ok, out, _) = run_with_timeout("sh", &["-c", "echo Kubernetes v1.30.2"]).unwrap();
        assert!(ok);
        assert_eq!(out.trim(), "Kubernetes v1.30.2");
        let (ok, _, err) = run_with_timeout("sh", &["-c", "echo boom >&2; exit 3"]).unwrap();
        assert!(!ok);
        assert_eq!(err.trim(), "boom");
    }
}
