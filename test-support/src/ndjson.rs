//! What `kubestrap … -o json` printed: NDJSON events, one JSON object a line, and a run's
//! exit code, events, stderr and duration together.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Parses NDJSON, failing the test on any line that is not a JSON object.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"));
            assert!(v.is_object(), "not an object: {l}");
            v
        })
        .collect()
}

/// One finished run of the binary with `-o json`.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub events: Vec<Value>,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// Runs `cmd` (killed after `timeout`) and parses its stdout as NDJSON.
    pub fn of(cmd: &mut assert_cmd::Command, timeout: Duration) -> Self {
        let start = Instant::now();
        let out = cmd.timeout(timeout).output().unwrap();
        Self {
            code: out.status.code(),
            events: events(&out.stdout),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: start.elapsed(),
        }
    }

    /// The last event: the `result` of a run that got that far.
    pub fn result(&self) -> &Value {
        self.events.last().unwrap()
    }

    /// The first `error` event's message and hint; panics (showing the events) without one.
    pub fn error(&self) -> String {
        self.events
            .iter()
            .find(|e| e["event"] == "error")
            .map(|e| format!("{} (hint: {})", e["message"], e["hint"]))
            .unwrap_or_else(|| panic!("no error event: {:#?}", self.events))
    }

    /// The phases of the `event` events (`phase_finished`, `phase_skipped`, …), in order,
    /// only those with `reason` when one is given.
    pub fn phases(&self, event: &str, reason: Option<&str>) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == event)
            .filter(|e| reason.is_none_or(|r| e["reason"] == r))
            .map(|e| e["phase"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}
