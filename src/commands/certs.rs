//! `kubestrap certs …`.

use std::io::Write;
use std::process::ExitCode;

use kubestrap_phases::config::CertificateKey;
use kubestrap_phases::contract::host::pki_dirs;
use kubestrap_phases::domain::kubeadm_output::{self, short_human_duration};
use kubestrap_phases::domain::pki::KeyPool;
use kubestrap_phases::phases::certs::{self, ExpirationReport, ExpirationRow, RenewTarget};
use kubestrap_phases::{Effects, HostFs};
use serde_json::Value;

use super::{CommandError, Written, answer, exit, pki, result};
use crate::cli::{CertsCommand, GlobalArgs, PkiArgs};
use crate::output::{Answer, EventSink, PhaseReporter};
use crate::workflows::host_fs;

pub(crate) fn run(cmd: &CertsCommand, global: &GlobalArgs, events: &dyn EventSink) -> ExitCode {
    let (command, outcome) = match cmd {
        CertsCommand::CertificateKey => ("certs certificate-key", certificate_key(events)),
        CertsCommand::CheckExpiration(args) => (
            "certs check-expiration",
            check_expiration(global, args, events),
        ),
        CertsCommand::Renew { name, pki: args } => {
            ("certs renew", renew(global, args, name, events))
        }
        CertsCommand::GenerateCsr(args) => {
            ("certs generate-csr", generate_csr(global, args, events))
        }
    };
    // The failed result names the subcommand, as a successful one does.
    exit(events, command, outcome)
}

/// A new random key. The user asked for a key: printing it is the point.
fn certificate_key(events: &dyn EventSink) -> Result<(), CommandError> {
    let key = CertificateKey::generate();
    let key = key.expose_hex();
    let command = "certs certificate-key";
    let done = result(command, None, [("certificate_key", key.as_str().into())]);
    answer(
        events,
        command,
        Answer::with_result(format!("{key}\n"), done),
    )
}

/// kubeadm's tables; with `-o json`, kubeadm's CertificateExpirationInfo, on one line. Why a
/// file was left out follows on stderr.
fn check_expiration(
    global: &GlobalArgs,
    args: &PkiArgs,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let command = "certs check-expiration";
    let spec = pki::spec(global, args)?;
    let report = certs::check_expiration(&spec, &HostFs::real());
    let mut table = Vec::new();
    write_expiration_table(&mut table, &report)
        .map_err(|source| CommandError::Stdout { command, source })?;
    let warnings = unreadable(&report);
    let shown = Answer {
        text: String::from_utf8_lossy(&table).into_owned(),
        json: vec![Box::new(report)],
    };
    answer(events, command, shown)?;
    for warning in warnings {
        events.note(&warning);
    }
    Ok(())
}

/// The keys and CSRs written, a path a line; with `-o json`, the result's `csrs`.
fn generate_csr(
    global: &GlobalArgs,
    args: &PkiArgs,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let command = "certs generate-csr";
    let spec = pki::spec(global, args)?;
    let fs = host_fs(global)?.with_private_dirs(pki_dirs(&spec.cert_dir));
    let reporter = PhaseReporter(events);
    let mut fx = Effects::new(command, &fs, &reporter);
    let keys = KeyPool::start(
        spec.key_algorithm,
        certs::generate_csr_key_count(&spec, &fs),
    );
    let csrs = certs::generate_csr(&spec, &keys, &mut fx)?;
    let written = Written::of(fx).staged(fs, events);
    let text: String = csrs
        .iter()
        .map(|csr| format!("{}\n", csr.display()))
        .collect();
    let csrs = csrs
        .iter()
        .map(|c| c.display().to_string().into())
        .collect();
    let done = result(command, Some(written), [("csrs", Value::Array(csrs))]);
    answer(events, command, Answer::with_result(text, done))
}

/// A line per certificate looked at; with `-o json`, the result's `certificates`.
fn renew(
    global: &GlobalArgs,
    args: &PkiArgs,
    name: &str,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let command = "certs renew";
    let target: RenewTarget = name.parse().map_err(CommandError::RenewTarget)?;
    let spec = pki::spec(global, args)?;
    let fs = host_fs(global)?.with_private_dirs(pki_dirs(&spec.cert_dir));
    let reporter = PhaseReporter(events);
    let mut fx = Effects::new(command, &fs, &reporter);
    let keys = KeyPool::start(
        spec.key_algorithm,
        certs::renew_key_count(&spec, &fs, target),
    );
    let renewed = certs::renew(&spec, &keys, &mut fx, target)?;
    let written = Written::of(fx).staged(fs, events);
    let text: String = renewed
        .iter()
        .map(|r| match &r.outcome {
            certs::RenewOutcome::Renewed => format!("{} renewed ({})\n", r.name, r.path.display()),
            certs::RenewOutcome::Skipped(why) => format!("{} skipped: {why}\n", r.name),
        })
        .collect();
    let certificates = serde_json::to_value(&renewed).map_err(CommandError::EncodeRenewed)?;
    let done = result(command, Some(written), [("certificates", certificates)]);
    answer(events, command, Answer::with_result(text, done))
}

/// kubeadm's `certs check-expiration` tables ([`kubeadm_output::table`]), column for column:
/// a missing file is a `!MISSING! <name>` row, an unreadable one `!INVALID! <name>` (kubeadm
/// stops instead; the reason follows on stderr).
fn write_expiration_table(out: &mut impl Write, report: &ExpirationReport) -> std::io::Result<()> {
    let mut tw = kubeadm_output::table(out);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let expires = |r: &ExpirationRow| {
        r.expiration_date.and_then(|t| {
            t.format(time::macros::format_description!(
                "[month repr:short] [day], [year] [hour]:[minute] UTC"
            ))
            .ok()
        })
    };
    // A file without an expiry date is missing or could not be read.
    let mark = |r: &ExpirationRow| if r.missing { "!MISSING!" } else { "!INVALID!" };
    writeln!(
        tw,
        "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"
    )?;
    for r in &report.certificates {
        match expires(r) {
            Some(date) if !r.missing => writeln!(
                tw,
                "{}\t{date}\t{}\t{}\t{:<8}",
                r.name,
                short_human_duration(r.residual_time),
                r.ca_name.as_deref().unwrap_or(""),
                yes_no(r.externally_managed)
            )?,
            _ => writeln!(tw, "{} {}\t\t\t\t", mark(r), r.name)?,
        }
    }
    writeln!(tw)?;
    writeln!(
        tw,
        "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED"
    )?;
    for r in &report.certificate_authorities {
        match expires(r) {
            Some(date) if !r.missing => writeln!(
                tw,
                "{}\t{date}\t{}\t{:<8}",
                r.name,
                short_human_duration(r.residual_time),
                yes_no(r.externally_managed)
            )?,
            _ => writeln!(tw, "{} {}\t\t\t", mark(r), r.name)?,
        }
    }
    tw.flush()
}

/// Why each unreadable file was left out of the tables, for stderr.
fn unreadable(report: &ExpirationReport) -> Vec<String> {
    report
        .certificates
        .iter()
        .chain(&report.certificate_authorities)
        .filter_map(|r| {
            let problem = r.problem.as_ref()?;
            // Most problems already start with the file's path.
            let path = r.path.display().to_string();
            Some(if problem.starts_with(&path) {
                format!("[WARNING] {problem}")
            } else {
                format!("[WARNING] {path}: {problem}")
            })
        })
        .collect()
}
