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

use super::{CommandError, Written, pki, report_result};
use crate::cli::{CertsCommand, GlobalArgs};
use crate::output::{EventSink, Format, PhaseReporter, print_object};
use crate::workflows::{fail_early, host_fs};

pub(crate) fn run(cmd: &CertsCommand, global: &GlobalArgs, events: &dyn EventSink) -> ExitCode {
    let json = global.output == Format::Json;
    let result = match cmd {
        CertsCommand::CertificateKey => {
            // The user asked for a key: printing it is the point.
            let key = CertificateKey::generate();
            if json {
                let key = key.expose_hex().to_string().into();
                report_result(
                    events,
                    "certs certificate-key",
                    None,
                    [("certificate_key", key)],
                );
            } else {
                println!("{}", key.expose_hex());
            }
            Ok(())
        }
        CertsCommand::CheckExpiration(args) => pki::spec(global, args).and_then(|spec| {
            let report = certs::check_expiration(&spec, &HostFs::real());
            let written = if json {
                // kubeadm's CertificateExpirationInfo, on one line.
                print_object(&report)
            } else {
                write_expiration_table(&mut std::io::stdout().lock(), &report)
            };
            written.map_err(|source| CommandError::Stdout {
                command: "certs check-expiration",
                source,
            })?;
            warn_unreadable(&report);
            Ok(())
        }),
        CertsCommand::Renew { name, pki: args } => renew(global, args, name, events),
        CertsCommand::GenerateCsr(args) => pki::spec(global, args).and_then(|spec| {
            let fs = host_fs(global)?.with_private_dirs(pki_dirs(&spec.cert_dir));
            let reporter = PhaseReporter(events);
            let mut fx = Effects::new("certs generate-csr", &fs, &reporter);
            let keys = KeyPool::start(
                spec.key_algorithm,
                certs::generate_csr_key_count(&spec, &fs),
            );
            let csrs = certs::generate_csr(&spec, &keys, &mut fx)?;
            let written = Written::of(fx).staged(fs);
            if json {
                let csrs = csrs
                    .iter()
                    .map(|c| c.display().to_string().into())
                    .collect();
                report_result(
                    events,
                    "certs generate-csr",
                    Some(written),
                    [("csrs", Value::Array(csrs))],
                );
            } else {
                for csr in csrs {
                    println!("{}", csr.display());
                }
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The failed result names the subcommand, as a successful one does.
            let command = match cmd {
                CertsCommand::CertificateKey => "certs certificate-key",
                CertsCommand::CheckExpiration(_) => "certs check-expiration",
                CertsCommand::Renew { .. } => "certs renew",
                CertsCommand::GenerateCsr(_) => "certs generate-csr",
            };
            fail_early(events, command, &e)
        }
    }
}

fn renew(
    global: &GlobalArgs,
    args: &crate::cli::PkiArgs,
    name: &str,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let target: RenewTarget = name.parse().map_err(CommandError::RenewTarget)?;
    let spec = pki::spec(global, args)?;
    let fs = host_fs(global)?.with_private_dirs(pki_dirs(&spec.cert_dir));
    let reporter = PhaseReporter(events);
    let mut fx = Effects::new("certs renew", &fs, &reporter);
    let keys = KeyPool::start(
        spec.key_algorithm,
        certs::renew_key_count(&spec, &fs, target),
    );
    let renewed = certs::renew(&spec, &keys, &mut fx, target)?;
    let written = Written::of(fx).staged(fs);
    if global.output == Format::Json {
        let certificates = serde_json::to_value(&renewed).map_err(CommandError::EncodeRenewed)?;
        report_result(
            events,
            "certs renew",
            Some(written),
            [("certificates", certificates)],
        );
    } else {
        for r in &renewed {
            match &r.outcome {
                certs::RenewOutcome::Renewed => {
                    println!("{} renewed ({})", r.name, r.path.display())
                }
                certs::RenewOutcome::Skipped(why) => println!("{} skipped: {why}", r.name),
            }
        }
    }
    Ok(())
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

/// Why each unreadable file was left out of the tables, on stderr.
fn warn_unreadable(report: &ExpirationReport) {
    for r in report
        .certificates
        .iter()
        .chain(&report.certificate_authorities)
    {
        if let Some(problem) = &r.problem {
            // Most problems already start with the file's path.
            let path = r.path.display().to_string();
            if problem.starts_with(&path) {
                eprintln!("[WARNING] {problem}");
            } else {
                eprintln!("[WARNING] {path}: {problem}");
            }
        }
    }
}
