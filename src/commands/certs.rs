//! `kubestrap certs …`.

use std::process::ExitCode;

use kubestrap_phases::certs::{self, ExpirationRow, RenewTarget};
use kubestrap_phases::config::CertificateKey;
use kubestrap_phases::pki::KeyPool;
use kubestrap_phases::{Effects, HostFs};

use super::pki;
use crate::cli::{CertsCommand, GlobalArgs};
use crate::output::{EventSink, Format, PhaseReporter};
use crate::workflows::{fail_early, host_fs};

pub fn run(cmd: &CertsCommand, global: &GlobalArgs, events: &dyn EventSink) -> ExitCode {
    let json = global.output == Format::Json;
    let result = match cmd {
        CertsCommand::CertificateKey => {
            println!("{}", CertificateKey::generate().expose_hex());
            Ok(())
        }
        CertsCommand::CheckExpiration(args) => pki::spec(global, args).map(|spec| {
            let report = certs::check_expiration(&spec, &HostFs::real());
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print_expiration(&report.certificates, &report.authorities);
            }
        }),
        CertsCommand::Renew { name, pki: args } => renew(global, args, name, events),
        CertsCommand::GenerateCsr(args) => pki::spec(global, args).and_then(|spec| {
            let fs = host_fs(global.dry_run).map_err(|e| e.to_string())?;
            let reporter = PhaseReporter(events);
            let mut fx = Effects::new("certs generate-csr", &fs, &reporter);
            let keys = KeyPool::empty(spec.key_algorithm);
            let csrs = certs::generate_csr(&spec, &keys, &mut fx).map_err(|e| e.to_string())?;
            for csr in csrs {
                println!("{}", csr.display());
            }
            if let Some(dir) = fs.staging_dir() {
                eprintln!("[dry-run] the would-be files are in {}", dir.display());
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail_early(events, "certs", message, None),
    }
}

fn renew(
    global: &GlobalArgs,
    args: &crate::cli::PkiArgs,
    name: &str,
    events: &dyn EventSink,
) -> Result<(), String> {
    let target: RenewTarget = name.parse().map_err(|e| format!("certs renew: {e}"))?;
    let spec = pki::spec(global, args)?;
    let fs = host_fs(global.dry_run).map_err(|e| e.to_string())?;
    let reporter = PhaseReporter(events);
    let mut fx = Effects::new("certs renew", &fs, &reporter);
    let keys = KeyPool::empty(spec.key_algorithm);
    let renewed = certs::renew(&spec, &keys, &mut fx, target).map_err(|e| e.to_string())?;
    if global.output == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&renewed).unwrap_or_default()
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

/// kubeadm's `certs check-expiration` table.
fn print_expiration(certificates: &[ExpirationRow], authorities: &[ExpirationRow]) {
    let expires = |r: &ExpirationRow| {
        r.expires
            .as_deref()
            .and_then(|e| {
                time::OffsetDateTime::parse(e, &time::format_description::well_known::Rfc3339).ok()
            })
            .and_then(|t| {
                t.format(time::macros::format_description!(
                    "[month repr:short] [day], [year] [hour]:[minute] UTC"
                ))
                .ok()
            })
            .unwrap_or_else(|| {
                if r.missing {
                    "<missing>".into()
                } else {
                    "<invalid>".into()
                }
            })
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!(
        "{:<26} {:<25} {:<15} {:<23} EXTERNALLY MANAGED",
        "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY"
    );
    for r in certificates {
        println!(
            "{:<26} {:<25} {:<15} {:<23} {}",
            r.name,
            expires(r),
            r.residual,
            r.certificate_authority.as_deref().unwrap_or(""),
            yes_no(r.externally_managed)
        );
    }
    println!();
    println!(
        "{:<26} {:<25} {:<15} EXTERNALLY MANAGED",
        "CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME"
    );
    for r in authorities {
        println!(
            "{:<26} {:<25} {:<15} {}",
            r.name,
            expires(r),
            r.residual,
            yes_no(r.externally_managed)
        );
    }
    for r in certificates.iter().chain(authorities) {
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
