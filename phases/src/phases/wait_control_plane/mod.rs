//! `wait-control-plane`: wait until the API server, controller-manager and scheduler that
//! the static pods run say they are healthy.
//!
//! Like kubeadm ≥ 1.31 it probes each component's own health endpoint: the API server's
//! `/livez` on its advertise address (TLS verified against the cluster CA, so a wrong
//! serving certificate shows up here rather than in the next phase), the controller-
//! manager's and scheduler's `/healthz` on their secure ports (self-signed certificates, not
//! verified). Unlike kubeadm, a timeout says what each component last answered and where to
//! look, instead of "timed out waiting for the condition".

pub mod probe;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{PhaseError, Step};

pub use probe::{Answer, Probe, TlsProblem, Trust};

/// One control-plane component to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The static pod's name: `kube-apiserver`, `kube-controller-manager`, `kube-scheduler`.
    pub pod: &'static str,
    /// The name used in progress lines (`apiserver`).
    pub short: &'static str,
    pub probe: Probe,
    /// Host path of its static-pod manifest.
    pub manifest: PathBuf,
    /// Where a test-bed stand-in for the kubelet writes its output, under a `--root` that
    /// is not `/` (there is no kubelet or crictl for a simulated node).
    pub testbed_log: Option<PathBuf>,
}

/// What the phase waits for, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitSpec {
    pub components: Vec<Component>,
    /// `timeouts.controlPlaneComponentHealthCheck`.
    pub timeout: Duration,
    /// Time between rounds of probes.
    pub interval: Duration,
}

/// Implemented by the contexts whose workflow waits for a control plane.
pub trait WaitContext {
    fn wait_spec(&self) -> WaitSpec;
}

/// How long one probe may take. Not cut to the time left before the deadline: a last
/// round cut short would report its own impatience ("timed out") instead of what the
/// component answered before; the wait may so overrun its timeout by this much.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct WaitControlPlane;

#[async_trait]
impl<C: WaitContext + Sync> Step<C> for WaitControlPlane {
    fn name(&self) -> &'static str {
        "wait-control-plane"
    }

    fn help(&self) -> &'static str {
        "Wait until the API server, controller-manager and scheduler report healthy; changes nothing."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.wait_spec();
        let urls: Vec<String> = spec.components.iter().map(|c| c.probe.url()).collect();
        fp.value("probes", &urls)
            .value("timeout_ms", &(spec.timeout.as_millis() as u64));
    }

    /// Its result is a live state, not a file: a resumed init checks it again.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.wait_spec();
        if fx.is_dry_run() {
            let urls: Vec<String> = spec.components.iter().map(|c| c.probe.url()).collect();
            fx.progress(format!(
                "dry run: would wait up to {} for {}",
                human(spec.timeout),
                urls.join(", ")
            ));
            return Ok(());
        }
        wait(&spec, |line| fx.progress(line)).await
    }
}

/// Probes every component each `interval` until all have answered healthy once, or the
/// timeout passes. Calls `progress` whenever the summary of answers changes.
pub async fn wait(spec: &WaitSpec, mut progress: impl FnMut(&str)) -> Result<(), PhaseError> {
    let start = Instant::now();
    let deadline = start + spec.timeout;
    let mut last: Vec<Option<Answer>> = vec![None; spec.components.len()];
    let mut last_line = String::new();
    loop {
        let round = Instant::now();
        let pending: Vec<(usize, Probe)> = spec
            .components
            .iter()
            .enumerate()
            .filter(|(i, _)| !last[*i].as_ref().is_some_and(Answer::is_healthy))
            .map(|(i, c)| (i, c.probe.clone()))
            .collect();
        let handles: Vec<_> = pending
            .into_iter()
            .map(|(i, p)| {
                (
                    i,
                    tokio::task::spawn_blocking(move || probe::run(&p, PROBE_TIMEOUT)),
                )
            })
            .collect();
        for (i, h) in handles {
            let answer = h
                .await
                .unwrap_or_else(|e| Answer::Network(format!("probe task failed: {e}")));
            last[i] = Some(answer);
        }

        let line = summary(spec, &last);
        if line != last_line {
            progress(&line);
            last_line = line;
        }
        if last
            .iter()
            .all(|a| a.as_ref().is_some_and(Answer::is_healthy))
        {
            progress(&format!(
                "all control-plane components are healthy after {}",
                human(start.elapsed())
            ));
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(timed_out(spec, &last));
        }
        let next = (round + spec.interval).min(deadline);
        tokio::time::sleep_until(next.into()).await;
    }
}

fn summary(spec: &WaitSpec, last: &[Option<Answer>]) -> String {
    spec.components
        .iter()
        .zip(last)
        .map(|(c, a)| {
            let said = a
                .as_ref()
                .map_or_else(|| "not probed yet".into(), Answer::short);
            format!("{}: {said}", c.short)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn timed_out(spec: &WaitSpec, last: &[Option<Answer>]) -> PhaseError {
    let mut message = format!(
        "the control plane did not become healthy within {}:",
        human(spec.timeout)
    );
    let mut unhealthy = Vec::new();
    for (c, a) in spec.components.iter().zip(last) {
        let said = a
            .as_ref()
            .map_or_else(|| "never probed".to_string(), ToString::to_string);
        message.push_str(&format!("\n  {} ({}): {said}", c.pod, c.probe.url()));
        if !a.as_ref().is_some_and(Answer::is_healthy) {
            unhealthy.push(c);
        }
    }
    let mut hint = String::from("look at the unhealthy static pods:");
    for c in &unhealthy {
        hint.push_str(&format!(
            "\n  {pod}: `crictl ps -a --name {pod}` then `crictl logs <container id>`; manifest {}",
            c.manifest.display(),
            pod = c.pod,
        ));
        if let Some(log) = &c.testbed_log {
            hint.push_str(&format!("; under the test-bed stand-in: {}", log.display()));
        }
    }
    hint.push_str(
        "\n  and the kubelet that runs them: `systemctl status kubelet`, `journalctl -u kubelet`",
    );
    PhaseError::with_hint(message, hint)
}

/// `20s`, `4m0s`, `1.5s`: durations as the config spells them.
fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let millis = d.subsec_millis();
    match (secs / 60, secs % 60, millis) {
        (0, s, 0) => format!("{s}s"),
        (0, s, ms) => format!("{s}.{:01}s", ms / 100),
        (m, s, _) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests;
