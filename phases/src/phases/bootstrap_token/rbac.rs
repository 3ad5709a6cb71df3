//! The RBAC objects the phase applies, kept as YAML in `manifests/rbac/`.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

use crate::config::KubeletClientAuthorization;
use crate::contract::effects::Effects;
use crate::domain::apiclient::{ApiClient, ApiError};

/// One of the phase's RBAC objects.
#[derive(Debug, Clone)]
pub enum RbacObject {
    ClusterRole(ClusterRole),
    ClusterRoleBinding(ClusterRoleBinding),
    Role(Role),
    RoleBinding(RoleBinding),
}

impl RbacObject {
    pub async fn apply(&self, client: &ApiClient, fx: &mut Effects<'_>) -> Result<(), ApiError> {
        match self {
            Self::ClusterRole(o) => client.apply(fx, o).await,
            Self::ClusterRoleBinding(o) => client.apply(fx, o).await,
            Self::Role(o) => client.apply(fx, o).await,
            Self::RoleBinding(o) => client.apply(fx, o).await,
        }
    }

    pub fn name(&self) -> &str {
        let meta = match self {
            Self::ClusterRole(o) => &o.metadata,
            Self::ClusterRoleBinding(o) => &o.metadata,
            Self::Role(o) => &o.metadata,
            Self::RoleBinding(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

const MANIFESTS: &[(&str, &str)] = &[
    (
        "get-nodes-clusterrole.yaml",
        include_str!("../../../../manifests/rbac/get-nodes-clusterrole.yaml"),
    ),
    (
        "get-nodes-clusterrolebinding.yaml",
        include_str!("../../../../manifests/rbac/get-nodes-clusterrolebinding.yaml"),
    ),
    (
        "kubelet-bootstrap-clusterrolebinding.yaml",
        include_str!("../../../../manifests/rbac/kubelet-bootstrap-clusterrolebinding.yaml"),
    ),
    (
        "node-autoapprove-bootstrap-clusterrolebinding.yaml",
        include_str!(
            "../../../../manifests/rbac/node-autoapprove-bootstrap-clusterrolebinding.yaml"
        ),
    ),
    (
        "node-autoapprove-certificate-rotation-clusterrolebinding.yaml",
        include_str!(
            "../../../../manifests/rbac/node-autoapprove-certificate-rotation-clusterrolebinding.yaml"
        ),
    ),
    (
        "bootstrap-signer-clusterinfo-role.yaml",
        include_str!("../../../../manifests/rbac/bootstrap-signer-clusterinfo-role.yaml"),
    ),
    (
        "bootstrap-signer-clusterinfo-rolebinding.yaml",
        include_str!("../../../../manifests/rbac/bootstrap-signer-clusterinfo-rolebinding.yaml"),
    ),
];

fn parse(file: &str, yaml: &str) -> RbacObject {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: String,
    }
    // The manifests are compiled in and covered by a test, so a parse failure is a bug in
    // this repository, not bad input.
    fn fail<T>(file: &str, e: impl std::fmt::Display) -> T {
        panic!("manifests/rbac/{file}: {e}")
    }
    let kind: Kind = serde_saphyr::from_str(yaml).unwrap_or_else(|e| fail(file, e));
    let r = match kind.kind.as_str() {
        "ClusterRole" => serde_saphyr::from_str(yaml).map(RbacObject::ClusterRole),
        "ClusterRoleBinding" => serde_saphyr::from_str(yaml).map(RbacObject::ClusterRoleBinding),
        "Role" => serde_saphyr::from_str(yaml).map(RbacObject::Role),
        "RoleBinding" => serde_saphyr::from_str(yaml).map(RbacObject::RoleBinding),
        other => return fail(file, format!("unexpected kind {other}")),
    };
    r.unwrap_or_else(|e| fail(file, e))
}

/// The binding that authorises the API server's kubelet client by its user, where the
/// release authorises it that way (kubeadm's AllowAPIServerToAccessKubeletAPI).
const KUBELET_API_ADMIN: (&str, &str) = (
    "apiserver-kubelet-client-clusterrolebinding.yaml",
    include_str!("../../../../manifests/rbac/apiserver-kubelet-client-clusterrolebinding.yaml"),
);

/// kubeadm's bootstrap-token RBAC, roles before their bindings, for a cluster whose API server
/// reaches kubelets as `kubelet_client` says.
pub fn rbac_objects(kubelet_client: KubeletClientAuthorization) -> Vec<RbacObject> {
    let mut objects: Vec<RbacObject> = MANIFESTS.iter().map(|(f, y)| parse(f, y)).collect();
    if kubelet_client == KubeletClientAuthorization::KubeletApiAdmin {
        objects.push(parse(KUBELET_API_ADMIN.0, KUBELET_API_ADMIN.1));
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_manifests_parse_with_kubeadms_names() {
        let objs = rbac_objects(KubeletClientAuthorization::Group("kubeadm:cluster-admins"));
        let names: Vec<(&str, &str)> = objs
            .iter()
            .map(|o| {
                let kind = match o {
                    RbacObject::ClusterRole(_) => "ClusterRole",
                    RbacObject::ClusterRoleBinding(_) => "ClusterRoleBinding",
                    RbacObject::Role(_) => "Role",
                    RbacObject::RoleBinding(_) => "RoleBinding",
                };
                (kind, o.name())
            })
            .collect();
        assert_eq!(
            names,
            [
                ("ClusterRole", "kubeadm:get-nodes"),
                ("ClusterRoleBinding", "kubeadm:get-nodes"),
                ("ClusterRoleBinding", "kubeadm:kubelet-bootstrap"),
                ("ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap"),
                (
                    "ClusterRoleBinding",
                    "kubeadm:node-autoapprove-certificate-rotation"
                ),
                ("Role", "kubeadm:bootstrap-signer-clusterinfo"),
                ("RoleBinding", "kubeadm:bootstrap-signer-clusterinfo"),
            ]
        );
        let RbacObject::RoleBinding(rb) = &objs[6] else {
            unreachable!()
        };
        assert_eq!(rb.metadata.namespace.as_deref(), Some("kube-public"));
        let subject = &rb.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.name.as_str()),
            ("User", "system:anonymous")
        );
    }

    #[test]
    fn the_kubelet_api_admin_binding_comes_with_the_user_authorised_client() {
        let objs = rbac_objects(KubeletClientAuthorization::KubeletApiAdmin);
        let Some(RbacObject::ClusterRoleBinding(crb)) = objs.last() else {
            panic!("no binding last: {objs:?}")
        };
        assert_eq!(
            crb.metadata.name.as_deref(),
            Some("kubeadm:apiserver-kubelet-client")
        );
        assert_eq!(crb.role_ref.name, "system:kubelet-api-admin");
        let subject = &crb.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (subject.kind.as_str(), subject.name.as_str()),
            ("User", "kube-apiserver-kubelet-client")
        );
        assert_eq!(objs.len(), 8);
    }
}
