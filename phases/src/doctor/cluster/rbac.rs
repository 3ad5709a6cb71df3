//! The RBAC the bootstrap chain needs, as kubeadm's bootstrap-token phase makes it
//! (manifests/rbac/, read through the phase's own `rbac_objects`, so the names are written
//! once): token holders may post CSRs (`kubeadm:kubelet-bootstrap`), have them auto-approved
//! (`kubeadm:node-autoapprove-bootstrap`), renew as nodes
//! (`kubeadm:node-autoapprove-certificate-rotation`), read Nodes (`kubeadm:get-nodes`), and
//! anyone may read cluster-info (`kubeadm:bootstrap-signer-clusterinfo` in kube-public) —
//! and nothing else should be open to anonymous users.

use std::collections::BTreeSet;

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::super::{Evidence, Finding, FindingId};
use crate::config::KubeletClientAuthorization;
use crate::config::release::SYSTEM_MASTERS_GROUP;
use crate::phases::bootstrap_token::rbac::{RbacObject, rbac_objects};

pub const RBAC_BINDING_MISSING: FindingId = FindingId("rbac-binding-missing");
pub const RBAC_BINDING_WRONG: FindingId = FindingId("rbac-binding-wrong");
pub const RBAC_ANONYMOUS_TOO_WIDE: FindingId = FindingId("rbac-anonymous-too-wide");

/// The ClusterRoles that let a requester post CSRs, have its first node-client CSR approved,
/// and have its renewal approved (Kubernetes' bootstrap policy; csrapproving's
/// SubjectAccessReview asks for `certificatesigningrequests/nodeclient` and
/// `…/selfnodeclient`, pkg/controller/certificates/approver/sarapprove.go). A test checks
/// they are the roleRefs of the manifests.
pub const NODE_BOOTSTRAPPER: &str = "system:node-bootstrapper";
pub const NODECLIENT: &str = "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
pub const SELFNODECLIENT: &str =
    "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";

/// The user unauthenticated requests run as, and their group.
pub const ANONYMOUS_USER: &str = "system:anonymous";
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// Kubernetes' own binding for unauthenticated users: `/healthz`, `/version`, `/livez`,
/// `/readyz` (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go binds
/// system:public-info-viewer to system:authenticated and system:unauthenticated).
const PUBLIC_INFO_VIEWER: &str = "system:public-info-viewer";

/// The objects of the chain: kubeadm's bootstrap-token RBAC (the API server's kubelet-client
/// binding some releases add is no part of the bootstrap chain, so the group-authorised
/// variant's set is the one wanted).
pub fn chain() -> Vec<RbacObject> {
    rbac_objects(KubeletClientAuthorization::Group(SYSTEM_MASTERS_GROUP))
}

/// Who a set of bindings grants a ClusterRole to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Grantees {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
}

impl Grantees {
    /// Whether a requester with `user` and `groups` holds the role. `system:masters` holds
    /// every right whatever RBAC says.
    pub fn admit<'a>(&self, user: &str, mut groups: impl Iterator<Item = &'a str>) -> bool {
        self.users.contains(user)
            || groups.any(|g| g == SYSTEM_MASTERS_GROUP || self.groups.contains(g))
    }
}

/// Everyone ClusterRoleBindings grant ClusterRole `role` to.
pub fn grantees(crbs: &[ClusterRoleBinding], role: &str) -> Grantees {
    let mut out = Grantees::default();
    for b in crbs
        .iter()
        .filter(|b| b.role_ref.kind == "ClusterRole" && b.role_ref.name == role)
    {
        for s in b.subjects.iter().flatten() {
            match s.kind.as_str() {
                "User" => {
                    out.users.insert(s.name.clone());
                }
                "Group" => {
                    out.groups.insert(s.name.clone());
                }
                _ => {}
            }
        }
    }
    out
}

fn name_of(meta: &kube::core::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn subject_text(s: &Subject) -> String {
    match &s.namespace {
        Some(ns) => format!("{} {ns}/{}", s.kind, s.name),
        None => format!("{} {}", s.kind, s.name),
    }
}

fn subjects_text(subjects: Option<&Vec<Subject>>) -> String {
    let list: Vec<String> = subjects.into_iter().flatten().map(subject_text).collect();
    if list.is_empty() {
        "(none)".into()
    } else {
        list.join(", ")
    }
}

fn role_ref_text(r: &RoleRef) -> String {
    format!("{} {}", r.kind, r.name)
}

/// Same subject: kind, name and namespace (the server may default `apiGroup`).
fn same_subject(a: &Subject, b: &Subject) -> bool {
    a.kind == b.kind && a.name == b.name && a.namespace == b.namespace
}

/// The fix every RBAC finding shares: the phase re-applies exactly these objects.
const REAPPLY: &str = "re-apply kubeadm's bootstrap RBAC on a control plane: `kubestrap init phase bootstrap-token` (it only creates or updates these objects)";

/// Compares one wanted binding with the live one.
fn binding_findings(
    label: String,
    want_ref: &RoleRef,
    want_subjects: Option<&Vec<Subject>>,
    live: Option<(&RoleRef, Option<&Vec<Subject>>)>,
    kubectl: String,
) -> Vec<Finding> {
    let fix = format!("{REAPPLY}, or `{kubectl}`");
    let Some((live_ref, live_subjects)) = live else {
        return vec![
            Finding::error(
                RBAC_BINDING_MISSING,
                format!(
                    "{label} does not exist: {} is not granted to {}, so that step of joining is refused (a join then times out)",
                    role_ref_text(want_ref),
                    subjects_text(want_subjects)
                ),
                fix,
            )
            .with(Evidence::of(label)),
        ];
    };
    let mut out = Vec::new();
    if live_ref.kind != want_ref.kind || live_ref.name != want_ref.name {
        out.push(
            Finding::error(
                RBAC_BINDING_WRONG,
                format!(
                    "{label} grants {} instead of {}: its subjects lack the rights the join needs (a binding's roleRef cannot be changed: delete it first)",
                    role_ref_text(live_ref),
                    role_ref_text(want_ref)
                ),
                format!("`kubectl delete {}`, then {}", kubectl_object(&label), fix),
            )
            .with(
                Evidence::of(label.clone())
                    .field("roleRef")
                    .value(role_ref_text(live_ref)),
            ),
        );
    }
    let missing: Vec<&Subject> = want_subjects
        .into_iter()
        .flatten()
        .filter(|w| {
            !live_subjects
                .into_iter()
                .flatten()
                .any(|l| same_subject(w, l))
        })
        .collect();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|s| subject_text(s)).collect();
        out.push(
            Finding::error(
                RBAC_BINDING_WRONG,
                format!(
                    "{label} does not name {}: they do not get {} and that step of joining is refused",
                    names.join(", "),
                    role_ref_text(want_ref)
                ),
                fix,
            )
            .with(
                Evidence::of(label)
                    .field("subjects")
                    .value(subjects_text(live_subjects)),
            ),
        );
    }
    out
}

/// `ClusterRoleBinding x` → `clusterrolebinding x`, `RoleBinding ns/x` → `-n ns rolebinding x`.
fn kubectl_object(label: &str) -> String {
    match label.split_once(' ') {
        Some(("RoleBinding", rest)) => match rest.split_once('/') {
            Some((ns, name)) => format!("-n {ns} rolebinding {name}"),
            None => format!("rolebinding {rest}"),
        },
        Some((kind, name)) => format!("{} {name}", kind.to_ascii_lowercase()),
        None => label.to_string(),
    }
}

fn kubectl_create_binding(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    role_ref: &RoleRef,
    subjects: Option<&Vec<Subject>>,
) -> String {
    let mut cmd = match (kind, namespace) {
        ("RoleBinding", Some(ns)) => format!("kubectl -n {ns} create rolebinding {name}"),
        _ => format!("kubectl create clusterrolebinding {name}"),
    };
    let flag = if role_ref.kind == "Role" {
        "role"
    } else {
        "clusterrole"
    };
    cmd.push_str(&format!(" --{flag}={}", role_ref.name));
    for s in subjects.into_iter().flatten() {
        match s.kind.as_str() {
            "User" => cmd.push_str(&format!(" --user={}", s.name)),
            "Group" => cmd.push_str(&format!(" --group={}", s.name)),
            _ => {}
        }
    }
    cmd
}

/// Whether every wanted rule is among the live ones.
fn rules_cover(want: Option<&Vec<PolicyRule>>, live: Option<&Vec<PolicyRule>>) -> bool {
    want.into_iter()
        .flatten()
        .all(|w| live.into_iter().flatten().any(|l| l == w))
}

fn role_findings(
    label: String,
    want: Option<&Vec<PolicyRule>>,
    live: Option<Option<&Vec<PolicyRule>>>,
) -> Option<Finding> {
    let rules = serde_json::to_string(&want).unwrap_or_default();
    match live {
        None => Some(
            Finding::error(
                RBAC_BINDING_MISSING,
                format!("{label} does not exist: the binding to it grants nothing, so that step of joining is refused"),
                REAPPLY.to_string(),
            )
            .with(Evidence::of(label)),
        ),
        Some(live) if !rules_cover(want, live) => Some(
            Finding::error(
                RBAC_BINDING_WRONG,
                format!("{label} lacks the rules the join needs ({rules})"),
                REAPPLY.to_string(),
            )
            .with(
                Evidence::of(label)
                    .field("rules")
                    .value(serde_json::to_string(&live).unwrap_or_default()),
            ),
        ),
        Some(_) => None,
    }
}

/// Every RBAC finding: the chain's objects against the live ones, then anonymous access.
/// `cluster_roles` and `roles` pair each wanted role with the live one (`None`: absent).
pub fn check(
    crbs: &[ClusterRoleBinding],
    rbs: &[RoleBinding],
    cluster_roles: &[(ClusterRole, Option<ClusterRole>)],
    roles: &[(Role, Option<Role>)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut chain_bindings: BTreeSet<(Option<String>, String)> = BTreeSet::new();
    for (want, live) in cluster_roles {
        out.extend(role_findings(
            format!("ClusterRole {}", name_of(&want.metadata)),
            want.rules.as_ref(),
            live.as_ref().map(|l| l.rules.as_ref()),
        ));
    }
    for (want, live) in roles {
        out.extend(role_findings(
            format!(
                "Role {}/{}",
                want.metadata.namespace.as_deref().unwrap_or_default(),
                name_of(&want.metadata)
            ),
            want.rules.as_ref(),
            live.as_ref().map(|l| l.rules.as_ref()),
        ));
    }
    for wanted in chain() {
        match wanted {
            RbacObject::ClusterRoleBinding(w) => {
                let name = name_of(&w.metadata).to_string();
                chain_bindings.insert((None, name.clone()));
                let live = crbs.iter().find(|b| name_of(&b.metadata) == name);
                out.extend(binding_findings(
                    format!("ClusterRoleBinding {name}"),
                    &w.role_ref,
                    w.subjects.as_ref(),
                    live.map(|l| (&l.role_ref, l.subjects.as_ref())),
                    kubectl_create_binding(
                        "ClusterRoleBinding",
                        None,
                        &name,
                        &w.role_ref,
                        w.subjects.as_ref(),
                    ),
                ));
            }
            RbacObject::RoleBinding(w) => {
                let name = name_of(&w.metadata).to_string();
                let ns = w.metadata.namespace.clone().unwrap_or_default();
                chain_bindings.insert((Some(ns.clone()), name.clone()));
                let live = rbs.iter().find(|b| {
                    name_of(&b.metadata) == name && b.metadata.namespace.as_deref() == Some(&ns)
                });
                out.extend(binding_findings(
                    format!("RoleBinding {ns}/{name}"),
                    &w.role_ref,
                    w.subjects.as_ref(),
                    live.map(|l| (&l.role_ref, l.subjects.as_ref())),
                    kubectl_create_binding(
                        "RoleBinding",
                        Some(&ns),
                        &name,
                        &w.role_ref,
                        w.subjects.as_ref(),
                    ),
                ));
            }
            RbacObject::ClusterRole(_) | RbacObject::Role(_) => {}
        }
    }
    out.extend(anonymous_too_wide(crbs, rbs, &chain_bindings));
    out
}

fn is_anonymous(s: &Subject) -> bool {
    (s.kind == "User" && s.name == ANONYMOUS_USER)
        || (s.kind == "Group" && s.name == UNAUTHENTICATED_GROUP)
}

/// `rbac-anonymous-too-wide`: bindings other than cluster-info's (and Kubernetes' own
/// public-info-viewer) that grant anything to unauthenticated requests.
fn anonymous_too_wide(
    crbs: &[ClusterRoleBinding],
    rbs: &[RoleBinding],
    chain: &BTreeSet<(Option<String>, String)>,
) -> Vec<Finding> {
    let finding = |label: String,
                   kubectl: String,
                   role_ref: &RoleRef,
                   subjects: Option<&Vec<Subject>>| {
        Finding::warning(
            RBAC_ANONYMOUS_TOO_WIDE,
            format!(
                "{label} grants {} to unauthenticated requests: anyone who reaches the API server gets it; the bootstrap chain needs anonymous access only to ConfigMap kube-public/cluster-info",
                role_ref_text(role_ref)
            ),
            format!("remove the binding unless it is meant to be public: `kubectl delete {kubectl}`"),
        )
        .with(Evidence::of(label).field("subjects").value(subjects_text(subjects)))
    };
    let mut out = Vec::new();
    for b in crbs {
        let name = name_of(&b.metadata);
        if name == PUBLIC_INFO_VIEWER || chain.contains(&(None, name.to_string())) {
            continue;
        }
        if b.subjects.iter().flatten().any(is_anonymous) {
            out.push(finding(
                format!("ClusterRoleBinding {name}"),
                format!("clusterrolebinding {name}"),
                &b.role_ref,
                b.subjects.as_ref(),
            ));
        }
    }
    for b in rbs {
        let name = name_of(&b.metadata);
        let ns = b.metadata.namespace.clone();
        if chain.contains(&(ns.clone(), name.to_string())) {
            continue;
        }
        if b.subjects.iter().flatten().any(is_anonymous) {
            let ns = ns.unwrap_or_default();
            out.push(finding(
                format!("RoleBinding {ns}/{name}"),
                format!("-n {ns} rolebinding {name}"),
                &b.role_ref,
                b.subjects.as_ref(),
            ));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kube::core::ObjectMeta;

    pub(crate) type Objects = (
        Vec<ClusterRoleBinding>,
        Vec<RoleBinding>,
        Vec<(ClusterRole, Option<ClusterRole>)>,
        Vec<(Role, Option<Role>)>,
    );

    /// The chain's objects as init makes them, split by kind.
    pub(crate) fn healthy() -> Objects {
        let (mut crbs, mut rbs, mut crs, mut roles) = (vec![], vec![], vec![], vec![]);
        for o in chain() {
            match o {
                RbacObject::ClusterRoleBinding(b) => crbs.push(b),
                RbacObject::RoleBinding(b) => rbs.push(b),
                RbacObject::ClusterRole(r) => crs.push((r.clone(), Some(r))),
                RbacObject::Role(r) => roles.push((r.clone(), Some(r))),
            }
        }
        (crbs, rbs, crs, roles)
    }

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id.as_str()).collect()
    }

    #[test]
    fn the_role_names_are_the_manifests_role_refs() {
        let (crbs, ..) = healthy();
        let refs: BTreeSet<&str> = crbs.iter().map(|b| b.role_ref.name.as_str()).collect();
        for role in [NODE_BOOTSTRAPPER, NODECLIENT, SELFNODECLIENT] {
            assert!(refs.contains(role), "{role} not in {refs:?}");
        }
    }

    #[test]
    fn what_init_makes_passes_with_kubernetes_own_public_binding() {
        let (mut crbs, rbs, crs, roles) = healthy();
        crbs.push(ClusterRoleBinding {
            metadata: ObjectMeta {
                name: Some(PUBLIC_INFO_VIEWER.into()),
                ..Default::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: PUBLIC_INFO_VIEWER.into(),
            },
            subjects: Some(vec![Subject {
                kind: "Group".into(),
                name: UNAUTHENTICATED_GROUP.into(),
                ..Default::default()
            }]),
        });
        assert_eq!(check(&crbs, &rbs, &crs, &roles), vec![]);
    }

    #[test]
    fn missing_and_wrong_bindings_are_named_with_the_field() {
        let (mut crbs, mut rbs, crs, mut roles) = healthy();
        crbs.retain(|b| name_of(&b.metadata) != "kubeadm:node-autoapprove-bootstrap");
        let bootstrap = crbs
            .iter_mut()
            .find(|b| name_of(&b.metadata) == "kubeadm:kubelet-bootstrap")
            .unwrap();
        bootstrap.role_ref.name = "view".into();
        let rotation = crbs
            .iter_mut()
            .find(|b| name_of(&b.metadata) == "kubeadm:node-autoapprove-certificate-rotation")
            .unwrap();
        rotation.subjects = Some(vec![]);
        rbs[0].subjects = None;
        roles[0].1 = None;
        let f = check(&crbs, &rbs, &crs, &roles);
        assert_eq!(
            ids(&f),
            [
                "rbac-binding-missing",
                "rbac-binding-wrong",
                "rbac-binding-missing",
                "rbac-binding-wrong",
                "rbac-binding-wrong",
            ],
            "{f:#?}"
        );
        assert_eq!(
            f[0].evidence[0].subject,
            "Role kube-public/kubeadm:bootstrap-signer-clusterinfo"
        );
        assert_eq!(f[1].evidence[0].field.as_deref(), Some("roleRef"));
        assert_eq!(f[1].evidence[0].value.as_deref(), Some("ClusterRole view"));
        assert!(
            f[1].fix
                .contains("kubectl delete clusterrolebinding kubeadm:kubelet-bootstrap"),
            "{}",
            f[1].fix
        );
        assert_eq!(
            f[2].evidence[0].subject,
            "ClusterRoleBinding kubeadm:node-autoapprove-bootstrap"
        );
        assert!(f[2].fix.contains("kubectl create clusterrolebinding kubeadm:node-autoapprove-bootstrap --clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient --group=system:bootstrappers:kubeadm:default-node-token"), "{}", f[2].fix);
        assert_eq!(f[3].evidence[0].value.as_deref(), Some("(none)"));
        assert!(f[4].fix.contains("kubectl -n kube-public create rolebinding kubeadm:bootstrap-signer-clusterinfo --role=kubeadm:bootstrap-signer-clusterinfo --user=system:anonymous"), "{}", f[4].fix);
    }

    #[test]
    fn other_anonymous_bindings_are_too_wide() {
        let (mut crbs, mut rbs, crs, roles) = healthy();
        let mut wide = crbs[0].clone();
        wide.metadata.name = Some("oops".into());
        wide.subjects = Some(vec![Subject {
            kind: "Group".into(),
            name: UNAUTHENTICATED_GROUP.into(),
            ..Default::default()
        }]);
        crbs.push(wide);
        let mut rb = rbs[0].clone();
        rb.metadata.namespace = Some("default".into());
        rbs.push(rb);
        let f = check(&crbs, &rbs, &crs, &roles);
        assert_eq!(
            ids(&f),
            ["rbac-anonymous-too-wide", "rbac-anonymous-too-wide"]
        );
        assert_eq!(f[0].evidence[0].subject, "ClusterRoleBinding oops");
        assert_eq!(
            f[0].evidence[0].value.as_deref(),
            Some("Group system:unauthenticated")
        );
        assert_eq!(
            f[1].evidence[0].subject,
            "RoleBinding default/kubeadm:bootstrap-signer-clusterinfo"
        );
        assert!(f[1].fix.contains("kubectl delete -n default rolebinding"));
    }

    #[test]
    fn grantees_admit_by_user_group_or_system_masters() {
        let (crbs, ..) = healthy();
        let g = grantees(&crbs, NODECLIENT);
        assert!(
            g.admit(
                "system:bootstrap:abcdef",
                [
                    "system:bootstrappers",
                    "system:bootstrappers:kubeadm:default-node-token"
                ]
                .into_iter()
            )
        );
        assert!(!g.admit(
            "system:bootstrap:abcdef",
            ["system:bootstrappers"].into_iter()
        ));
        assert!(g.admit("kubernetes-admin", ["system:masters"].into_iter()));
    }
}
