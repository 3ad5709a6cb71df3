//! The `certs/*` phases, and the `certs` commands (check-expiration, renew, generate-csr,
//! certificate-key).
//!
//! A phase never replaces a file silently: an existing certificate that is signed by its CA,
//! valid, and carries the subject, usages and SANs the configuration asks for is kept
//! untouched; one that differs is a [`PkiError::Conflict`] naming the file, the difference and
//! the fix. A CA whose certificate is present without its key is an *external* CA: nothing it
//! would sign is generated, what is present is validated against it — by the run's first PKI
//! phase, for every file of the run at once (see `external.rs`).

mod commands;

use async_trait::async_trait;

pub use commands::{
    ExpirationReport, ExpirationRow, RenewOutcome, RenewTarget, Renewed, UnknownRenewTarget,
    check_expiration, generate_csr, generate_csr_key_count, reissue_if_changed, renew,
    renew_key_count,
};

use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::step::{Applicability, PhaseError, Step};
use crate::domain::pki::external::{PkiFile, check_external_cas};
use crate::domain::pki::files::{ensure_ca, ensure_leaf, ensure_sa};
use crate::domain::pki::{CertName, PkiContext, cert_profile};

/// One `certs/<name>` phase.
pub struct CertPhase(pub CertName);

/// `certs/sa`: the service-account signing key pair.
pub struct ServiceAccountKeyPhase;

/// The `certs` group in kubeadm's order, `sa` last.
pub fn phases<C: PkiContext + 'static>() -> Vec<Box<dyn Step<C>>> {
    let mut v: Vec<Box<dyn Step<C>>> = CertName::ALL
        .into_iter()
        .map(|n| Box::new(CertPhase(n)) as Box<dyn Step<C>>)
        .collect();
    v.push(Box::new(ServiceAccountKeyPhase));
    v
}

#[async_trait]
impl<C: PkiContext> Step<C> for CertPhase {
    fn name(&self) -> &'static str {
        self.0.as_str()
    }

    fn help(&self) -> &'static str {
        self.0.help()
    }

    fn applicability(&self, ctx: &C) -> Applicability {
        if self.0.applies_to(ctx.pki().etcd) {
            Applicability::Applies
        } else {
            Applicability::NotApplicable("external etcd: its certificates are provided".into())
        }
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.pki();
        // The phase's own files are outputs (the engine checks those by content), not inputs.
        fp.value("profile", &cert_profile(self.0, spec))
            .value("key_algorithm", &spec.key_algorithm);
        match self.0.issuer() {
            Some(ca) => {
                fp.value("validity", &spec.cert_validity)
                    .file(&ca.cert_path(spec))
                    .file(&ca.key_path(spec));
            }
            None => {
                fp.value("validity", &spec.ca_validity);
            }
        }
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let (spec, session) = (ctx.pki(), ctx.pki_session());
        check_external_cas(spec, session, fx, Some(PkiFile::Cert(self.0)))?;
        match self.0.issuer() {
            None => ensure_ca(spec, session, fx, self.0)?,
            Some(ca) => ensure_leaf(spec, session, fx, self.0, ca)?,
        }
        Ok(())
    }
}

#[async_trait]
impl<C: PkiContext> Step<C> for ServiceAccountKeyPhase {
    fn name(&self) -> &'static str {
        "sa"
    }

    fn help(&self) -> &'static str {
        "Generates the private key for signing service account tokens and its public key (sa.key, sa.pub)"
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.pki();
        fp.value("key_algorithm", &spec.key_algorithm);
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        check_external_cas(ctx.pki(), ctx.pki_session(), fx, None)?;
        ensure_sa(ctx.pki(), ctx.pki_session(), fx)?;
        Ok(())
    }
}
