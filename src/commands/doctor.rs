//! `kubestrap doctor [--kubeconfig F]`: the node's files and, when it can reach it, its
//! cluster, checked link by link (kubestrap_phases::doctor). Text: one block per finding,
//! errors first; `-o json`: the report as one object (docs/doctor.md). Exit 1 when any finding
//! is an error, 0 otherwise; doctor never changes anything.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use kubestrap_phases::doctor::{self, ClusterPass, DoctorInputs, EXPIRING_WITHIN, Report};

use super::{CommandError, answer, exit};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::output::{Answer, EventSink, OutputArg};
use crate::workflows::node_root;

const API_TIMEOUT: Duration = Duration::from_secs(10);

/// The report object `-o json` prints.
#[derive(serde::Serialize)]
struct Json<'a> {
    kind: &'static str,
    #[serde(flatten)]
    report: &'a Report,
}

pub(crate) async fn run(
    global: &GlobalArgs,
    args: &DoctorArgs,
    events: &dyn EventSink,
) -> ExitCode {
    let root = match node_root(global) {
        Ok(r) => r,
        Err(e) => return exit(events, "doctor", Err(CommandError::Root(e))),
    };
    let inputs = DoctorInputs {
        root,
        kubeconfig: args.kubeconfig.clone(),
        now: time::OffsetDateTime::now_utc(),
        expiring_within: EXPIRING_WITHIN,
        api_timeout: API_TIMEOUT,
    };
    let report = doctor::diagnose(&inputs).await;
    let shown = match global.output {
        OutputArg::Json => Answer {
            text: String::new(),
            json: vec![Box::new(
                serde_json::to_value(Json {
                    kind: "DoctorReport",
                    report: &report,
                })
                .unwrap_or_default(),
            )],
        },
        _ => Answer::text(text(&report)),
    };
    if let Err(e) = answer(events, "doctor", shown) {
        return exit(events, "doctor", Err(e));
    }
    if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The report for people: what was checked, then each finding with its evidence and fix.
fn text(report: &Report) -> String {
    let mut out = String::new();
    let name = report.node.node_name.as_deref().unwrap_or("(unnamed)");
    let _ = writeln!(out, "node {name}: {:?}", report.node.role);
    match &report.cluster {
        ClusterPass::Checked {
            kubeconfig,
            server,
            areas,
        } => {
            let _ = writeln!(out, "cluster {server} checked with {kubeconfig}");
            for a in areas {
                let area = a.area.as_str();
                match &a.skipped {
                    None => {
                        let _ = writeln!(out, "  {area}: checked");
                    }
                    Some(why) => {
                        let _ = writeln!(out, "  {area}: not checked ({why})");
                    }
                }
            }
        }
        ClusterPass::Skipped { reason } => {
            let _ = writeln!(out, "cluster not checked: {reason}");
        }
    }
    if report.findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    for f in &report.findings {
        let severity = match f.severity {
            doctor::Severity::Error => "ERROR",
            doctor::Severity::Warning => "WARNING",
        };
        let _ = writeln!(out, "\n[{severity}] {}: {}", f.id, f.what);
        for e in &f.evidence {
            let _ = write!(out, "  evidence: {}", e.subject);
            if let Some(field) = &e.field {
                let _ = write!(out, " {field}");
            }
            if let Some(value) = &e.value {
                let _ = write!(out, " = {value}");
            }
            out.push('\n');
        }
        let _ = writeln!(out, "  fix: {}", f.fix);
    }
    out
}
