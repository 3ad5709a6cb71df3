//! `--output json`: one event per line on stdout, nothing else on stdout.

use std::io::Write;

use super::{Event, EventSink};

pub struct JsonSink;

impl EventSink for JsonSink {
    fn emit(&self, event: Event) {
        // An event that cannot be written (closed pipe) cannot be reported either; the exit
        // status still tells the outcome.
        if let Ok(line) = serde_json::to_string(&event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}
