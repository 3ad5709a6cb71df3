//! CertificateSigningRequests for kubelet client certificates: why one stays Pending, and
//! whether an approved one gets signed.
//!
//! kube-controller-manager's csrapproving controller approves a CSR only when it is a
//! kubelet client request and a SubjectAccessReview allows its requester
//! (pkg/controller/certificates/approver/sarapprove.go): signer
//! `kubernetes.io/kube-apiserver-client-kubelet`; subject O exactly `system:nodes`, CN
//! `system:node:<name>`, no DNS, e-mail, IP or URI SANs; usages exactly {digital signature,
//! key encipherment, client auth} or {digital signature, client auth}
//! (pkg/apis/certificates/helpers.go ValidateKubeletClientCSR; releases before the
//! key-encipherment-free set accept only the first). A requester whose username is the CN
//! needs `create certificatesigningrequests/selfnodeclient` (a renewal), any other
//! `…/nodeclient`. Anything else stays Pending without a word.

use std::collections::BTreeSet;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;

use super::super::{Evidence, Finding, FindingId};
use super::rbac::{NODECLIENT, SELFNODECLIENT, grantees};
use crate::config::well_known::NODES_GROUP;
use crate::domain::node::NODE_USER_PREFIX as NODE_PREFIX;
use crate::domain::tls_bootstrap::KUBELET_CLIENT_SIGNER;

pub const CSR_PENDING: FindingId = FindingId("csr-pending");
pub const CSR_APPROVED_NOT_ISSUED: FindingId = FindingId("csr-approved-not-issued");

/// How long the controllers get before a Pending or approved-but-unsigned CSR is reported:
/// both act within seconds when they run.
pub const GRACE: time::Duration = time::Duration::minutes(1);

/// The usage sets the approver accepts (helpers.go kubeletClientRequiredUsages,
/// kubeletClientRequiredUsagesNoRSA).
const ACCEPTED_USAGES: [&[&str]; 2] = [
    &["client auth", "digital signature", "key encipherment"],
    &["client auth", "digital signature"],
];

fn to_time(t: &Time) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok()
}

fn condition<'a>(
    csr: &'a CertificateSigningRequest,
    kind: &str,
) -> Option<&'a k8s_openapi::api::certificates::v1::CertificateSigningRequestCondition> {
    csr.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status != "False")
}

fn issued(csr: &CertificateSigningRequest) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty())
}

/// What the request itself says: subject and SANs.
struct Request {
    common_names: Vec<String>,
    organizations: Vec<String>,
    has_sans: bool,
}

fn parse_request(pem_bytes: &[u8]) -> Option<Request> {
    let block = pem::parse(pem_bytes).ok()?;
    let (_, req) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .ok()?;
    let subject = &req.certification_request_info.subject;
    let strings = |it: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue>| {
        it.filter_map(|a| a.as_str().ok().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let has_sans = req.requested_extensions().into_iter().flatten().any(|e| {
        matches!(
            e,
            x509_parser::extensions::ParsedExtension::SubjectAlternativeName(san)
                if !san.general_names.is_empty()
        )
    });
    Some(Request {
        common_names: strings(&mut subject.iter_common_name()),
        organizations: strings(&mut subject.iter_organization()),
        has_sans,
    })
}

/// Why the approver will never approve `csr`, with the field that says so; `None` when it
/// looks approvable.
fn never_approved(
    csr: &CertificateSigningRequest,
    crbs: Option<&[ClusterRoleBinding]>,
) -> Option<(String, &'static str, String)> {
    let spec = &csr.spec;
    let usages: BTreeSet<&str> = spec.usages.iter().flatten().map(String::as_str).collect();
    let accepted = ACCEPTED_USAGES
        .iter()
        .any(|set| set.iter().copied().collect::<BTreeSet<_>>() == usages);
    if !accepted {
        return Some((
            "its usages are not what the approver accepts for a kubelet client certificate (digital signature, key encipherment, client auth; or digital signature, client auth)".into(),
            "spec.usages",
            usages.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    let Some(req) = parse_request(&spec.request.0) else {
        return Some((
            "its request is not a PEM certificate request".into(),
            "spec.request",
            "(unparseable)".into(),
        ));
    };
    if req.organizations != [NODES_GROUP] {
        return Some((
            format!("its subject's organization is not exactly {NODES_GROUP}"),
            "spec.request subject O",
            req.organizations.join(","),
        ));
    }
    let cn = req.common_names.first().cloned().unwrap_or_default();
    if req.common_names.len() != 1 || !cn.starts_with(NODE_PREFIX) {
        return Some((
            format!("its subject's common name is not {NODE_PREFIX}<node name>"),
            "spec.request subject CN",
            req.common_names.join(","),
        ));
    }
    if req.has_sans {
        return Some((
            "it asks for subject alternative names, which a kubelet client certificate may not have".into(),
            "spec.request subjectAltName",
            "(present)".into(),
        ));
    }
    let crbs = crbs?;
    let user = spec.username.as_deref().unwrap_or_default();
    let groups = spec.groups.iter().flatten().map(String::as_str);
    let renewal = user == cn;
    let role = if renewal { SELFNODECLIENT } else { NODECLIENT };
    if !grantees(crbs, role).admit(user, groups) {
        let kind = if renewal {
            "a node renewing its own certificate"
        } else {
            "a first (bootstrap) certificate"
        };
        return Some((
            format!("its requester is not granted {role}, which the approver checks for {kind}"),
            "spec.username/spec.groups",
            format!(
                "{user} [{}]",
                spec.groups
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ));
    }
    None
}

/// Every CSR finding at `now`. `crbs`: the ClusterRoleBindings when readable (the requester
/// check needs them).
pub fn check(
    csrs: &[CertificateSigningRequest],
    now: OffsetDateTime,
    crbs: Option<&[ClusterRoleBinding]>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for csr in csrs {
        if csr.spec.signer_name != KUBELET_CLIENT_SIGNER || issued(csr) {
            continue;
        }
        let name = csr.metadata.name.as_deref().unwrap_or_default();
        let subject = format!("CertificateSigningRequest {name}");
        let created = csr.metadata.creation_timestamp.as_ref().and_then(to_time);
        let old = |since: Option<OffsetDateTime>| since.is_none_or(|t| now - t > GRACE);
        if condition(csr, "Denied").is_some() || condition(csr, "Failed").is_some() {
            continue;
        }
        if let Some(approved) = condition(csr, "Approved") {
            let since = approved
                .last_update_time
                .as_ref()
                .and_then(to_time)
                .or(created);
            if old(since) {
                out.push(
                    Finding::error(
                        CSR_APPROVED_NOT_ISSUED,
                        format!("{subject} was approved but has no certificate after a minute: kube-controller-manager's csrsigning controller is not signing {KUBELET_CLIENT_SIGNER}, so the kubelet waits forever"),
                        "give kube-controller-manager the cluster CA to sign with: `--cluster-signing-cert-file=<cert dir>/ca.crt` and `--cluster-signing-key-file=<cert dir>/ca.key` in /etc/kubernetes/manifests/kube-controller-manager.yaml, both files present and readable, and `--controllers` not excluding csrsigning; then check its log",
                    )
                    .with(Evidence::of(subject.clone()).field("spec.signerName").value(KUBELET_CLIENT_SIGNER))
                    .with(Evidence::of(subject).field("status.certificate").value("(absent)")),
                );
            }
            continue;
        }
        match never_approved(csr, crbs) {
            Some((why, field, value)) => out.push(
                Finding::error(
                    CSR_PENDING,
                    format!("{subject} will never be auto-approved: {why}; the kubelet that posted it waits forever"),
                    format!("let the kubelet post a request of the kubelet's own shape (restart it with a working bootstrap-kubelet.conf: `kubestrap join` does), or approve this one by hand if you trust it: `kubectl certificate approve {name}`; see also rbac-binding-* findings"),
                )
                .with(Evidence::of(subject).field(field).value(value)),
            ),
            None if old(created) => out.push(
                Finding::warning(
                    CSR_PENDING,
                    format!("{subject} has been Pending for over a minute though the approver should accept it: kube-controller-manager's csrapproving controller may not be running"),
                    format!("check kube-controller-manager runs (`crictl ps --name kube-controller-manager`) and its log, and that its `--controllers` does not exclude csrapproving; or `kubectl certificate approve {name}`"),
                )
                .with(Evidence::of(subject).field("status.conditions").value("(none)")),
            ),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pki::EncryptionAlgorithm;
    use crate::domain::tls_bootstrap::node_client_csr;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestStatus,
    };
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-04 12:00:00 UTC);

    fn at(t: OffsetDateTime) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(t.unix_timestamp()).unwrap())
    }

    fn csr(name: &str, user: &str, groups: &[&str]) -> CertificateSigningRequest {
        let key = EncryptionAlgorithm::EcdsaP256.generate().unwrap();
        let mut c = node_client_csr("worker-1", &key).unwrap();
        c.metadata.name = Some(name.into());
        c.metadata.creation_timestamp = Some(at(NOW - time::Duration::minutes(5)));
        c.spec.username = Some(user.into());
        c.spec.groups = Some(groups.iter().map(|g| g.to_string()).collect());
        c
    }

    fn bootstrap(name: &str) -> CertificateSigningRequest {
        csr(
            name,
            "system:bootstrap:abcdef",
            &[
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token",
                "system:authenticated",
            ],
        )
    }

    fn crbs() -> Vec<ClusterRoleBinding> {
        super::super::rbac::tests::healthy().0
    }

    fn ids(f: &[Finding]) -> Vec<(&str, crate::doctor::Severity)> {
        f.iter().map(|f| (f.id.as_str(), f.severity)).collect()
    }

    #[test]
    fn reasons_a_csr_is_never_approved() {
        use crate::doctor::Severity::{Error, Warning};
        let mut usages = bootstrap("usages");
        usages.spec.usages = Some(vec!["client auth".into()]);
        let stranger = csr(
            "stranger",
            "system:bootstrap:zzzzzz",
            &["system:bootstrappers"],
        );
        let renewal = csr("renewal", "system:node:worker-1", &["system:nodes"]);
        let fresh_unapproved = {
            let mut c = bootstrap("young");
            c.metadata.creation_timestamp = Some(at(NOW));
            c
        };
        let mut garbage = bootstrap("garbage");
        garbage.spec.request = ByteString(b"nope".to_vec());
        let crbs = crbs();
        let f = check(
            &[
                usages,
                stranger,
                renewal,
                fresh_unapproved,
                garbage,
                bootstrap("stuck"),
            ],
            NOW,
            Some(&crbs),
        );
        assert_eq!(
            ids(&f),
            [
                ("csr-pending", Error),
                ("csr-pending", Error),
                ("csr-pending", Warning),
                ("csr-pending", Error),
                ("csr-pending", Warning),
            ],
            "{f:#?}"
        );
        assert_eq!(f[0].evidence[0].field.as_deref(), Some("spec.usages"));
        assert_eq!(f[0].evidence[0].value.as_deref(), Some("client auth"));
        assert!(f[1].what.contains(NODECLIENT), "{}", f[1].what);
        assert_eq!(
            f[1].evidence[0].value.as_deref(),
            Some("system:bootstrap:zzzzzz [system:bootstrappers]")
        );
        // The renewal is admitted (kubeadm:node-autoapprove-certificate-rotation): Pending
        // only because no approver ran.
        assert_eq!(
            f[2].evidence[0].subject,
            "CertificateSigningRequest renewal"
        );
        assert!(f[2].what.contains("csrapproving"), "{}", f[2].what);
        assert_eq!(f[3].evidence[0].field.as_deref(), Some("spec.request"));
        assert_eq!(f[4].evidence[0].subject, "CertificateSigningRequest stuck");
    }

    #[test]
    fn approved_but_unsigned_after_a_minute() {
        let approved = |name: &str, when: OffsetDateTime, cert: Option<&[u8]>| {
            let mut c = bootstrap(name);
            c.status = Some(CertificateSigningRequestStatus {
                certificate: cert.map(|c| ByteString(c.to_vec())),
                conditions: Some(vec![CertificateSigningRequestCondition {
                    type_: "Approved".into(),
                    status: "True".into(),
                    last_update_time: Some(at(when)),
                    ..Default::default()
                }]),
            });
            c
        };
        let f = check(
            &[
                approved("stale", NOW - time::Duration::minutes(2), None),
                approved("recent", NOW - time::Duration::seconds(10), None),
                approved("signed", NOW - time::Duration::minutes(2), Some(b"PEM")),
            ],
            NOW,
            None,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, CSR_APPROVED_NOT_ISSUED);
        assert_eq!(
            f[0].evidence[0].value.as_deref(),
            Some(KUBELET_CLIENT_SIGNER)
        );
        assert!(f[0].fix.contains("--cluster-signing-cert-file"));
    }
}
