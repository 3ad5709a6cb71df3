//! `--output json`: NDJSON on stdout — one complete JSON object per line, nothing else — for
//! every command: the events of a run, or the kubeadm output objects of the commands kubeadm
//! gives a JSON form (`token list`, `certs check-expiration`, `version`).

use std::io::Write;

use serde::Serialize;

use super::{Answer, Event, EventSink};

pub(crate) struct JsonSink;

impl EventSink for JsonSink {
    fn emit(&self, event: Event) {
        // An event that cannot be written (closed pipe) cannot be reported either; the exit
        // status still tells the outcome.
        let _ = print_object(&event);
    }

    /// Each object on its line; the text is for people, and stdout is NDJSON only.
    fn answer(&self, answer: Answer) -> std::io::Result<()> {
        answer.json.iter().try_for_each(|object| {
            print_line(&object.to_json_line().map_err(std::io::Error::other)?)
        })
    }

    /// Human text goes to stderr under `-o json` too.
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }
}

/// Prints `object` as one compact line on stdout and flushes it, so that a reader following
/// the stream sees each line whole as soon as it is made. kubeadm indents its output objects
/// (four spaces); one object per line is what makes the stream NDJSON.
fn print_object(object: &impl Serialize) -> std::io::Result<()> {
    print_line(&serde_json::to_string(object).map_err(std::io::Error::other)?)
}

/// A line on stdout, flushed.
fn print_line(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}
