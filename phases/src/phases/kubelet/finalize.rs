//! `kubelet-finalize/enable-client-cert-rotation` (kubeadm ≤ v1.30: `experimental-cert-rotation`):
//! once the kubelet has its own rotating client certificate, kubelet.conf stops embedding the
//! certificate kubeadm issued and points at the kubelet's `kubelet-client-current.pem`
//! instead, so the kubelet keeps working after the first certificate expires.
//!
//! As kubeadm does: the certificate directory is the kubelet's `--cert-dir` extra arg, else
//! `/var/lib/kubelet/pki`; when the PEM is not there (no kubelet has bootstrapped on this
//! node — always so on the test bed) nothing changes; otherwise the current context's user
//! gets `client-certificate` and `client-key` = that file and loses its embedded data, and the
//! kubelet is restarted (real nodes only, see [`super::restart_kubelet`]). kubeadm only logs
//! the missing file at verbosity 1; kubestrap says it as a warning, because it means
//! kubelet.conf will stop working when its embedded certificate expires.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::config::well_known::{KUBELET_CLIENT_CURRENT, KUBERNETES_DIR};
use crate::contract::effects::Effects;
use crate::contract::fingerprint::Fingerprint;
use crate::contract::host::Mode;
use crate::contract::step::{PhaseError, Step};
use crate::domain::kubelet::{KubeletContext, KubeletService, KubeletSpec};
use crate::domain::pki::kubeconfig::KubeConfig;

/// kubelet.conf, resolved under the node root.
pub fn kubelet_conf_path(spec: &KubeletSpec) -> PathBuf {
    spec.root.resolve(KUBERNETES_DIR).join("kubelet.conf")
}

/// Where the kubelet keeps its rotated client certificate: its `--cert-dir` (the last one in
/// `kubeletExtraArgs`), else `<kubelet dir>/pki`; resolved under the node root.
pub fn client_pem_path(spec: &KubeletSpec) -> PathBuf {
    let dir = spec
        .kubelet_extra_args
        .iter()
        .rev()
        .find(|a| a.name == "cert-dir")
        .map(|a| spec.root.resolve(&a.value))
        .unwrap_or_else(|| spec.kubelet_dir.join("pki"));
    dir.join(KUBELET_CLIENT_CURRENT)
}

/// What [`point_at_rotated_cert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finalized {
    /// The kubelet has no rotated certificate yet; kubelet.conf is unchanged.
    NoRotatedCert,
    /// kubelet.conf already points at the file.
    AlreadyPointing,
    /// kubelet.conf was rewritten to point at the file.
    Rewritten,
}

/// Points kubelet.conf's current user at `pem` when that file exists. Errors name kubelet.conf.
pub fn point_at_rotated_cert(
    kubelet_conf: &Path,
    pem: &Path,
    fx: &mut Effects<'_>,
) -> Result<Finalized, PhaseError> {
    if !fx.fs().exists(pem) {
        return Ok(Finalized::NoRotatedCert);
    }
    let bytes = fx.fs().read(kubelet_conf)?;
    let mut kc = KubeConfig::from_yaml(kubelet_conf, &bytes)
        .map_err(|e| PhaseError::failed(e.to_string()))?;
    let invalid = |problem: String| {
        PhaseError::with_hint(
            format!("{}: {problem}", kubelet_conf.display()),
            "kubelet.conf is not as kubeadm writes it: remove it and run `kubestrap init phase kubeconfig kubelet`",
        )
    };
    let user_name = kc
        .contexts
        .iter()
        .find(|c| c.name == kc.current_context)
        .map(|c| c.context.user.clone())
        .ok_or_else(|| {
            invalid(format!(
                "current-context {:?} is not among its contexts",
                kc.current_context
            ))
        })?;
    if user_name.is_empty() {
        return Err(invalid("the current context names no user".into()));
    }
    let user = kc
        .users
        .iter_mut()
        .find(|u| u.name == user_name)
        .map(|u| &mut u.user)
        .ok_or_else(|| invalid(format!("user {user_name:?} is not defined")))?;
    let target = pem.display().to_string();
    if user.client_certificate.as_deref() == Some(target.as_str())
        && user.client_key.as_deref() == Some(target.as_str())
        && user.client_certificate_data.is_empty()
        && user.client_key_data.is_empty()
    {
        return Ok(Finalized::AlreadyPointing);
    }
    user.client_certificate_data.clear();
    user.client_key_data.clear();
    user.client_certificate = Some(target.clone());
    user.client_key = Some(target);
    let yaml = kc
        .to_yaml()
        .map_err(|e| PhaseError::failed(format!("{}: {e}", kubelet_conf.display())))?;
    fx.write_file(kubelet_conf, yaml.as_bytes(), Mode::PRIVATE)?;
    Ok(Finalized::Rewritten)
}

/// `init phase kubelet-finalize enable-client-cert-rotation`.
#[derive(Default)]
pub struct EnableClientCertRotation {
    pub kubelet: KubeletService,
}

#[async_trait]
impl<C: KubeletContext> Step<C> for EnableClientCertRotation {
    fn name(&self) -> &'static str {
        "enable-client-cert-rotation"
    }

    fn help(&self) -> &'static str {
        "Point kubelet.conf at the kubelet's rotated client certificate (/var/lib/kubelet/pki/kubelet-client-current.pem) once it exists."
    }

    fn inputs(&self, ctx: &C, fp: &mut Fingerprint<'_>) {
        let spec = ctx.kubelet();
        fp.value("pem", &client_pem_path(spec))
            .file(&kubelet_conf_path(spec));
    }

    /// The kubelet writes the PEM whenever its bootstrap completes: look again every run.
    fn always_run(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &C, fx: &mut Effects<'_>) -> Result<(), PhaseError> {
        let spec = ctx.kubelet();
        let conf = kubelet_conf_path(spec);
        let pem = client_pem_path(spec);
        match point_at_rotated_cert(&conf, &pem, fx)? {
            Finalized::NoRotatedCert => {
                fx.warn(format!(
                    "{} does not exist (the kubelet has not completed its TLS bootstrap here): {} keeps its embedded client certificate, which is not rotated",
                    pem.display(),
                    conf.display()
                ));
                Ok(())
            }
            Finalized::AlreadyPointing => Ok(()),
            Finalized::Rewritten => {
                fx.progress(format!(
                    "{} now points at the rotatable client certificate {}",
                    conf.display(),
                    pem.display()
                ));
                self.kubelet.restart(&spec.root, fx).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::effects::Silent;
    use crate::contract::host::HostFs;

    const CONF: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0E=
    server: https://10.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: system:node:n1
  name: system:node:n1@kubernetes
current-context: system:node:n1@kubernetes
kind: Config
preferences: {}
users:
- name: system:node:n1
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
";

    #[test]
    fn rewrites_the_user_once_the_pem_exists_and_then_leaves_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("kubelet.conf");
        let pem = dir.path().join("pki").join(KUBELET_CLIENT_CURRENT);
        std::fs::write(&conf, CONF).unwrap();
        let fs = HostFs::real();

        let mut fx = Effects::new("t", &fs, &Silent);
        assert_eq!(
            point_at_rotated_cert(&conf, &pem, &mut fx).unwrap(),
            Finalized::NoRotatedCert
        );
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), CONF);

        std::fs::create_dir_all(pem.parent().unwrap()).unwrap();
        std::fs::write(&pem, "pem").unwrap();
        assert_eq!(
            point_at_rotated_cert(&conf, &pem, &mut fx).unwrap(),
            Finalized::Rewritten
        );
        let text = std::fs::read_to_string(&conf).unwrap();
        let kc = KubeConfig::from_yaml(&conf, text.as_bytes()).unwrap();
        let user = &kc.users[0].user;
        assert_eq!(user.client_certificate.as_deref(), pem.to_str());
        assert_eq!(user.client_key.as_deref(), pem.to_str());
        assert!(!text.contains("client-certificate-data") && !text.contains("client-key-data"));
        assert_eq!(kc.clusters[0].cluster.server, "https://10.0.0.1:6443");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert_eq!(
            point_at_rotated_cert(&conf, &pem, &mut fx).unwrap(),
            Finalized::AlreadyPointing
        );
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), text);
    }

    #[test]
    fn a_kubeconfig_without_the_current_user_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("kubelet.conf");
        let pem = dir.path().join(KUBELET_CLIENT_CURRENT);
        std::fs::write(&pem, "pem").unwrap();
        std::fs::write(
            &conf,
            CONF.replace("- name: system:node:n1", "- name: other"),
        )
        .unwrap();
        let fs = HostFs::real();
        let mut fx = Effects::new("t", &fs, &Silent);
        let e = point_at_rotated_cert(&conf, &pem, &mut fx).unwrap_err();
        assert!(e.to_string().contains("kubelet.conf"), "{e}");
        assert!(e.to_string().contains("system:node:n1"), "{e}");
    }
}
