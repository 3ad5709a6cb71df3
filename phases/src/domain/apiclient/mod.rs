//! Talking to the cluster's API server: clients from kubeadm's kubeconfig files, the
//! admin-client bootstrap, and idempotent writes that go through [`Effects`].
//!
//! Every write helper records what it did (or, under `--dry-run`, would do) with
//! [`Effects::record_api`]: a request it sent, or an object it found already as wanted
//! (`changed: false`), and only once the request succeeded. Under `--dry-run` it never touches
//! the API, so a dry run works before any API server exists, and lists every request a run
//! would send. Calls are retried with backoff while the server is
//! unreachable or overloaded, up to the configured `timeouts.kubernetesAPICall`; errors name
//! the endpoint and the last answer, never a credential.

use std::borrow::Cow;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ClusterResourceScope, NamespaceResourceScope, ObjectMeta};
use kube::{Client, Config, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::diagnostics::{Diagnostic, hint};
use crate::contract::effects::{ApiChange, ApiVerb, Effects};
use crate::contract::host::{FsError, HostFs};
use crate::contract::step::PhaseError;

/// The field manager of every server-side apply kubestrap makes.
pub const FIELD_MANAGER: &str = "kubestrap";

/// kubeadm's admin kubeconfig (group kubeadm:cluster-admins) and break-glass super-admin one
/// (group system:masters), as file names under the kubeconfig directory.
pub const ADMIN_CONF: &str = "admin.conf";
pub const SUPER_ADMIN_CONF: &str = "super-admin.conf";

/// The group admin.conf's certificate carries from 1.29, and the binding that makes it
/// cluster-admin.
pub use crate::config::release::CLUSTER_ADMINS_GROUP;

/// Why an API operation failed. Messages name the endpoint and what was attempted; they never
/// contain a kubeconfig's credentials or a Secret's data.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `source` names the path.
    #[error("cannot read kubeconfig: {source}")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: FsError,
    },
    /// The file is not a kubeconfig kubestrap can use; `problem` says which part.
    #[error("{}: not a usable kubeconfig: {problem}", path.display())]
    Kubeconfig { path: PathBuf, problem: String },
    /// The server did not answer (or kept answering 5xx/429) until the deadline.
    #[error(
        "{endpoint}: {action}: no usable answer after {attempts} attempt(s) in {waited:?}; last error: {last}"
    )]
    Unreachable {
        endpoint: String,
        action: String,
        attempts: u32,
        waited: Duration,
        last: String,
    },
    /// The server answered with a final error status (403, 404, 409, 422, …).
    #[error("{endpoint}: {action}: {code} {reason}: {message}")]
    Rejected {
        endpoint: String,
        action: String,
        code: u16,
        reason: String,
        message: String,
    },
    /// Anything else the client reported (a request it could not build, an answer it could not
    /// decode).
    #[error("{endpoint}: {action}: {message}")]
    Client {
        endpoint: String,
        action: String,
        message: String,
    },
}

impl ApiError {
    /// The HTTP status of a final rejection, if that is what this is.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

impl Diagnostic for ApiError {
    fn hint(&self) -> Option<Cow<'_, str>> {
        match self {
            ApiError::ReadKubeconfig { source, .. } => source.hint(),
            ApiError::Unreachable { .. } => hint(
                "check that the API server is running and reachable (wait-control-plane), or raise timeouts.kubernetesAPICall",
            ),
            ApiError::Rejected {
                code: 401 | 403, ..
            } => hint(
                "the kubeconfig's identity lacks the rights: check its certificate and the cluster's RBAC (admin.conf needs ClusterRoleBinding kubeadm:cluster-admins)",
            ),
            _ => None,
        }
    }
}

impl From<ApiError> for PhaseError {
    fn from(e: ApiError) -> Self {
        PhaseError::from_diagnostic(&e)
    }
}

/// Why kube could not build a client from a configuration (its TLS set-up, its credentials).
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(.0))]
pub struct ClientBuildError(#[source] pub kube::Error);

impl Diagnostic for ClientBuildError {}

/// A connected client plus what its errors need: the endpoint, and how long to keep retrying.
#[derive(Clone)]
pub struct ApiClient {
    client: Client,
    endpoint: String,
    timeout: Duration,
}

impl Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The first pause between attempts, doubled after each failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause between attempts: a server that comes back is noticed within this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What one attempt of a retried call came to.
enum Attempt<T> {
    Done(T),
    /// May go away by itself; the error in words.
    Transient(String),
    Final(kube::Error),
}

/// Whether an error may go away by itself (the server is starting, restarting, overloaded).
fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// A kube error in words, without its `Debug` noise.
fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        kube::Error::Service(inner) => {
            // The tower error chain carries the useful part (connection refused, TLS …).
            let mut msg = inner.to_string();
            let mut src = std::error::Error::source(inner.as_ref());
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            msg
        }
        other => other.to_string(),
    }
}

impl ApiClient {
    /// A client from a kubeconfig file on the node (read through `fs`, so a dry run sees the
    /// staged file). `timeout` bounds every retried call (`timeouts.kubernetesAPICall`).
    pub async fn from_kubeconfig(
        fs: &HostFs,
        path: &Path,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let bytes = fs.read(path).map_err(|source| ApiError::ReadKubeconfig {
            path: path.to_path_buf(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ApiError::Kubeconfig {
            path: path.to_path_buf(),
            problem: "not UTF-8 text".into(),
        })?;
        Self::from_kubeconfig_yaml(&text, path, timeout).await
    }

    /// A client from kubeconfig text; `origin` names it in errors.
    pub async fn from_kubeconfig_yaml(
        yaml: &str,
        origin: &Path,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let bad = |problem: String| ApiError::Kubeconfig {
            path: origin.to_path_buf(),
            problem,
        };
        // The parser's message may quote a value, and values include keys: say only what
        // was expected.
        let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|_| {
            bad("cannot parse it as a kubeconfig (YAML with clusters, users and contexts)".into())
        })?;
        let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| bad(redacted_kubeconfig_problem(&e)))?;
        config.connect_timeout = Some(timeout.min(Duration::from_secs(10)));
        config.read_timeout = Some(timeout.min(Duration::from_secs(30)));
        Self::from_config(config, timeout).map_err(|e| bad(e.to_string()))
    }

    /// A client from an already-built kube [`Config`].
    pub fn from_config(config: Config, timeout: Duration) -> Result<Self, ClientBuildError> {
        let endpoint = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(ClientBuildError)?;
        Ok(Self {
            client,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    /// The underlying kube client, for reads the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The API server URL, as errors name it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `call` until it succeeds, fails for good, or `timeouts.kubernetesAPICall` has
    /// passed; transient failures (connection errors, timeouts, 5xx, 429) are retried with
    /// exponential backoff (200 ms doubling, capped at [`MAX_BACKOFF`]). The timeout bounds
    /// the whole: each attempt gets only the time that is left, so a server that hangs
    /// cannot stretch it.
    ///
    /// After a failure the server must first answer `GET /version` for this identity before
    /// the call is made again. A precaution: a kube-apiserver that restarts accepts
    /// connections before its post-start hooks are done (what `/readyz` reports), and an
    /// answer it gives then (a 403 while authorization is not in place) must not end the
    /// phase as if it were final.
    pub async fn retry<T, F, Fut>(&self, action: &str, mut call: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let start = Instant::now();
        let mut delay = FIRST_BACKOFF;
        let mut attempts = 0;
        let mut was_down = false;
        loop {
            attempts += 1;
            let remaining = self
                .timeout
                .saturating_sub(start.elapsed())
                .max(FIRST_BACKOFF);
            let last = match self.attempt(&mut call, was_down, remaining).await {
                Attempt::Done(v) => return Ok(v),
                Attempt::Final(e) => return Err(self.final_error(action, e)),
                Attempt::Transient(last) => last,
            };
            was_down = true;
            if start.elapsed() + delay >= self.timeout {
                return Err(ApiError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    action: action.to_string(),
                    attempts,
                    waited: start.elapsed(),
                    last,
                });
            }
            tracing::debug!(endpoint = %self.endpoint, action, attempts, error = %last, ?delay, "retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_BACKOFF);
        }
    }

    /// One attempt within `budget`: the readiness check first when the server was down.
    async fn attempt<T, F, Fut>(&self, call: &mut F, was_down: bool, budget: Duration) -> Attempt<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let deadline = tokio::time::Instant::now() + budget;
        let timed_out = || Attempt::Transient(format!("no answer within {budget:?}"));
        if was_down {
            match tokio::time::timeout_at(deadline, self.client.apiserver_version()).await {
                Err(_) => return timed_out(),
                Ok(Err(e)) => {
                    return Attempt::Transient(format!(
                        "not serving yet (GET /version: {})",
                        describe(&e)
                    ));
                }
                Ok(Ok(_)) => {}
            }
        }
        match tokio::time::timeout_at(deadline, call()).await {
            Err(_) => timed_out(),
            Ok(Ok(v)) => Attempt::Done(v),
            Ok(Err(e)) if is_transient(&e) => Attempt::Transient(describe(&e)),
            Ok(Err(e)) => Attempt::Final(e),
        }
    }

    fn final_error(&self, action: &str, e: kube::Error) -> ApiError {
        match e {
            kube::Error::Api(s) => ApiError::Rejected {
                endpoint: self.endpoint.clone(),
                action: action.to_string(),
                code: s.code,
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            e => ApiError::Client {
                endpoint: self.endpoint.clone(),
                action: action.to_string(),
                message: describe(&e),
            },
        }
    }

    fn api_for<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = ()>,
        K::Scope: ApiScope,
    {
        <K::Scope as ApiScope>::api::<K>(self.client.clone(), namespace)
    }

    /// Reads an object; `None` when it does not exist.
    pub async fn get_opt<K>(
        &self,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<K>, ApiError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
        K::Scope: ApiScope,
    {
        let api = self.api_for::<K>(namespace);
        let action = format!("get {}", object_label::<K>(namespace, name));
        self.retry(&action, || api.get_opt(name)).await
    }

    /// Server-side applies `obj` (field manager [`FIELD_MANAGER`], forced), leaving fields
    /// other managers own (the bootstrap signer's `jws-kubeconfig-*` keys) alone. Under
    /// `--dry-run` only records it.
    ///
    /// An object whose live state already holds every field of `obj` is not applied: a
    /// server-side apply of identical content is not always a no-op. kube-apiserver (v1.20)
    /// rewrites the manager's managedFields timestamp when the applied configuration holds a
    /// field the server does not store, and re-adds a `before-first-apply` entry to objects
    /// whose managedFields a controller dropped (the token controller's ServiceAccount
    /// updates). Either bumps the resourceVersion, so a re-run would "change" objects it did
    /// not change. Comparing first keeps a converged cluster untouched.
    pub async fn apply<K>(&self, fx: &mut Effects<'_>, obj: &K) -> Result<(), ApiError>
    where
        K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
        K::Scope: ApiScope,
    {
        let (namespace, name) = identity(obj);
        let change = change::<K>(ApiVerb::Apply, namespace.as_deref(), &name);
        if fx.is_dry_run() {
            fx.record_api(change);
            return Ok(());
        }
        let live: Option<K> = self.get_opt(namespace.as_deref(), &name).await?;
        if is_as_wanted(live.as_ref(), obj) {
            fx.record_api(change.unchanged());
            return Ok(());
        }
        let api = self.api_for::<K>(namespace.as_deref());
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(obj);
        let action = format!("apply {}", object_label::<K>(namespace.as_deref(), &name));
        self.retry(&action, || api.patch(&name, &params, &patch))
            .await?;
        fx.record_api(change);
        Ok(())
    }

    /// Creates `obj`; an existing object of that name is an error (409, see
    /// [`ApiError::is_conflict`]). Under `--dry-run` only records it.
    pub async fn create<K>(&self, fx: &mut Effects<'_>, obj: &K) -> Result<(), ApiError>
    where
        K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
        K::Scope: ApiScope,
    {
        let (namespace, name) = identity(obj);
        let change = change::<K>(ApiVerb::Create, namespace.as_deref(), &name);
        if !fx.is_dry_run() {
            let api = self.api_for::<K>(namespace.as_deref());
            let post = PostParams::default();
            let action = format!("create {}", object_label::<K>(namespace.as_deref(), &name));
            self.retry(&action, || api.create(&post, obj)).await?;
        }
        fx.record_api(change);
        Ok(())
    }

    /// Creates `obj`, or replaces the existing one (keeping its resourceVersion check) when
    /// it already exists — kubeadm's CreateOrUpdate, for objects whose every field is ours.
    /// Under `--dry-run` only records it.
    pub async fn create_or_update<K>(&self, fx: &mut Effects<'_>, obj: &K) -> Result<(), ApiError>
    where
        K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + Debug,
        K::Scope: ApiScope,
    {
        let (namespace, name) = identity(obj);
        let api = self.api_for::<K>(namespace.as_deref());
        let label = object_label::<K>(namespace.as_deref(), &name);
        if fx.is_dry_run() {
            fx.record_api(change::<K>(ApiVerb::Create, namespace.as_deref(), &name));
            return Ok(());
        }
        let post = PostParams::default();
        let created = self
            .retry(&format!("create {label}"), || api.create(&post, obj))
            .await;
        match created {
            Ok(_) => {
                fx.record_api(change::<K>(ApiVerb::Create, namespace.as_deref(), &name));
                Ok(())
            }
            Err(e) if e.is_conflict() => {
                let current: K = self
                    .retry(&format!("get {label}"), || api.get(&name))
                    .await?;
                let mut replacement = obj.clone();
                replacement.meta_mut().resource_version = current.resource_version();
                self.retry(&format!("update {label}"), || {
                    api.replace(&name, &post, &replacement)
                })
                .await?;
                fx.record_api(change::<K>(ApiVerb::Update, namespace.as_deref(), &name));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; `Ok(false)` when it was already gone (recorded as unchanged). Under
    /// `--dry-run` only records it.
    pub async fn delete<K>(
        &self,
        fx: &mut Effects<'_>,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<bool, ApiError>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
        K::Scope: ApiScope,
    {
        let change = change::<K>(ApiVerb::Delete, namespace, name);
        if fx.is_dry_run() {
            fx.record_api(change);
            return Ok(true);
        }
        let api = self.api_for::<K>(namespace);
        let action = format!("delete {}", object_label::<K>(namespace, name));
        let params = DeleteParams::default();
        match self.retry(&action, || api.delete(name, &params)).await {
            Ok(_) => {
                fx.record_api(change);
                Ok(true)
            }
            Err(e) if e.is_not_found() => {
                fx.record_api(change.unchanged());
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

/// `Kind namespace/name`, as errors and logs name an object.
fn object_label<K: Resource<DynamicType = ()>>(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{} {ns}/{name}", K::kind(&())),
        None => format!("{} {name}", K::kind(&())),
    }
}

fn identity<K: Resource>(obj: &K) -> (Option<String>, String) {
    let meta: &ObjectMeta = obj.meta();
    (
        meta.namespace.clone(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// A request for `K` `namespace/name` (see [`ApiChange::unchanged`] for one found as wanted).
pub fn change<K: Resource<DynamicType = ()>>(
    verb: ApiVerb,
    namespace: Option<&str>,
    name: &str,
) -> ApiChange {
    ApiChange::sent(verb, K::kind(&()), namespace, name)
}

/// A kubeconfig error without any value from the file (those may be keys).
fn redacted_kubeconfig_problem(e: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError as E;
    match e {
        E::CurrentContextNotSet => "current-context is not set".into(),
        E::FindPath | E::ReadConfig(..) => "cannot read a file it refers to".into(),
        _ => {
            // Most variants name a context/cluster/user or a file, none carries key bytes;
            // the PEM/data ones are summarised by their kind alone.
            let text = e.to_string();
            if text.contains("-----BEGIN") {
                "unusable client certificate or key data".into()
            } else {
                text
            }
        }
    }
}

/// How to address a kind: namespaced kinds by their object's namespace, cluster-scoped
/// ones without. Implemented for kube's two static scopes, so the helpers take any typed
/// object.
pub trait ApiScope {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = Self>;
}

impl ApiScope for NamespaceResourceScope {
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = Self>,
    {
        Api::namespaced(client, namespace.unwrap_or("default"))
    }
}

impl ApiScope for ClusterResourceScope {
    fn api<K>(client: Client, _namespace: Option<&str>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = Self>,
    {
        Api::all(client)
    }
}

/// A client for admin.conf that is allowed to do what admin.conf is for.
///
/// admin.conf's certificate is in group kubeadm:cluster-admins, which is powerless until
/// ClusterRoleBinding kubeadm:cluster-admins grants it cluster-admin. When the API answers
/// 403 for admin.conf, this creates that binding with super-admin.conf (group
/// system:masters) and returns the admin client — kubeadm's EnsureAdminClusterRoleBinding.
/// Under `--dry-run` the client is built but nothing is asked of the API.
pub async fn admin_client(
    fs: &HostFs,
    kubeconfig_dir: &Path,
    timeout: Duration,
    fx: &mut Effects<'_>,
) -> Result<ApiClient, ApiError> {
    let admin = ApiClient::from_kubeconfig(fs, &kubeconfig_dir.join(ADMIN_CONF), timeout).await?;
    let super_admin_conf = kubeconfig_dir.join(SUPER_ADMIN_CONF);
    if !fs.exists(&super_admin_conf) {
        // kubeadm up to 1.28 makes no super-admin.conf: its admin.conf is in system:masters
        // and needs no binding (and a joining control plane's admin.conf is bound already).
        return Ok(admin);
    }
    if fx.is_dry_run() {
        // Listed in the plan: a real run creates it unless it exists already.
        fx.record_api(change::<ClusterRoleBinding>(
            ApiVerb::Create,
            None,
            CLUSTER_ADMINS_GROUP,
        ));
        return Ok(admin);
    }
    let binding = cluster_admins_binding();
    let crbs = Api::<ClusterRoleBinding>::all(admin.client.clone());
    let post = PostParams::default();
    // A write of the binding itself is the probe kubeadm uses: it succeeds when admin.conf
    // already has the rights (and then changes nothing), and answers 403 when it does not.
    match admin
        .retry("create ClusterRoleBinding kubeadm:cluster-admins", || {
            crbs.create(&post, &binding)
        })
        .await
    {
        Ok(_) => {
            fx.record_api(change::<ClusterRoleBinding>(
                ApiVerb::Create,
                None,
                CLUSTER_ADMINS_GROUP,
            ));
            return Ok(admin);
        }
        Err(e) if e.is_conflict() => {
            fx.record_api(
                change::<ClusterRoleBinding>(ApiVerb::Create, None, CLUSTER_ADMINS_GROUP)
                    .unchanged(),
            );
            return Ok(admin);
        }
        Err(e) if e.is_forbidden() => {}
        Err(e) => return Err(e),
    }
    let super_admin = ApiClient::from_kubeconfig(fs, &super_admin_conf, timeout).await?;
    super_admin.create_or_update(fx, &binding).await?;
    // RBAC is cached in the API server: wait until admin.conf's rights are visible.
    admin
        .retry(
            "read ClusterRoleBinding kubeadm:cluster-admins as admin.conf",
            || async {
                match crbs.get(CLUSTER_ADMINS_GROUP).await {
                    // Treat "still forbidden" as transient while the RBAC cache catches up.
                    Err(kube::Error::Api(s)) if s.code == 403 => {
                        Err(kube::Error::Api(Box::new(kube::core::Status {
                            code: 503,
                            ..*s
                        })))
                    }
                    other => other,
                }
            },
        )
        .await?;
    Ok(admin)
}

/// Whether the live object (`None`: there is none) already holds every field of `want`, so
/// that [`ApiClient::apply`] sends nothing and records the object as unchanged. An object that
/// cannot be serialised is never taken as wanted: applying it is the safe side.
fn is_as_wanted<K: Serialize>(live: Option<&K>, want: &K) -> bool {
    let Some(live) = live else {
        return false;
    };
    match (serde_json::to_value(want), serde_json::to_value(live)) {
        (Ok(want), Ok(have)) => holds(&have, &want),
        _ => false,
    }
}

/// Whether `have` holds every field of `want` with the same value (lists element by element).
fn holds(have: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| h.get(k).is_some_and(|hv| holds(hv, wv))),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(hv, wv)| holds(hv, wv))
        }
        (h, w) => h == w,
    }
}

/// ClusterRoleBinding kubeadm:cluster-admins → cluster-admin for the group admin.conf is in.
pub fn cluster_admins_binding() -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(CLUSTER_ADMINS_GROUP.to_string()),
            ..Default::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: "cluster-admin".into(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Group".into(),
            name: CLUSTER_ADMINS_GROUP.into(),
            namespace: None,
        }]),
    }
}

/// How a phase reaches the cluster as its administrator: admin.conf (and super-admin.conf to
/// grant admin.conf its rights) under this directory, calls retried up to `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub kubeconfig_dir: PathBuf,
    /// `timeouts.kubernetesAPICall`.
    pub timeout: Duration,
}

impl ClusterAccess {
    /// The admin client, making ClusterRoleBinding kubeadm:cluster-admins first if needed.
    pub async fn admin(&self, fx: &mut Effects<'_>) -> Result<ApiClient, PhaseError> {
        Ok(admin_client(fx.fs(), &self.kubeconfig_dir, self.timeout, fx).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::effects::Silent;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn holds_needs_every_wanted_field_with_its_value() {
        use serde_json::json;
        let live = json!({"a": 1, "b": {"c": [ {"x": 1, "y": 2} ], "d": "s"}, "status": {}});
        assert!(holds(&live, &json!({"b": {"c": [ {"x": 1} ]}})));
        assert!(holds(&live, &json!({})));
        assert!(!holds(&live, &json!({"b": {"c": [ {"x": 2} ]}})));
        assert!(!holds(&live, &json!({"b": {"c": [ {"x": 1}, {"x": 1} ]}})));
        assert!(!holds(&live, &json!({"e": false})));
        assert!(!holds(&live, &json!({"b": {"d": "t"}})));
    }

    #[test]
    fn apply_sends_only_for_an_object_missing_or_lacking_a_field() {
        let wanted = ConfigMap {
            metadata: ObjectMeta {
                name: Some("cm".into()),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            data: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        // What the server holds: our fields plus its own.
        let mut live = wanted.clone();
        live.metadata.resource_version = Some("7".into());
        live.metadata.uid = Some("u".into());
        assert!(is_as_wanted(Some(&live), &wanted), "recorded as unchanged");
        assert!(!is_as_wanted(None, &wanted), "absent: created");
        let mut other = live.clone();
        other.data = Some([("k".to_string(), "w".to_string())].into());
        assert!(!is_as_wanted(Some(&other), &wanted), "differs: applied");
        other.data = None;
        assert!(
            !is_as_wanted(Some(&other), &wanted),
            "lacks a field: applied"
        );
    }

    const KUBECONFIG: &str = r#"apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
  name: c
contexts:
- context: {cluster: c, user: u}
  name: ctx
current-context: ctx
users:
- name: u
  user: {token: not-a-real-token}
"#;

    #[tokio::test]
    async fn unreachable_server_is_retried_until_the_timeout_and_named() {
        let client = ApiClient::from_kubeconfig_yaml(
            KUBECONFIG,
            Path::new("/x/admin.conf"),
            Duration::from_millis(900),
        )
        .await
        .unwrap();
        let start = Instant::now();
        let err = client
            .get_opt::<ConfigMap>(Some("kube-system"), "x")
            .await
            .unwrap_err();
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        let msg = err.to_string();
        assert!(
            matches!(err, ApiError::Unreachable { attempts, .. } if attempts >= 2),
            "{msg}"
        );
        assert!(msg.contains("https://127.0.0.1:1"), "{msg}");
        assert!(msg.contains("ConfigMap kube-system/x"), "{msg}");
        assert!(!msg.contains("not-a-real-token"), "{msg}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_fails_within_the_timeout() {
        // Accepts connections and never says a word: the TLS handshake hangs.
        let listener = std::net::TcpListener::bind("127.0.0.118:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _keep = std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s);
            }
        });
        let yaml = KUBECONFIG.replace(
            "https://127.0.0.1:1",
            &format!("https://127.0.0.118:{port}"),
        );
        let timeout = Duration::from_millis(1500);
        let client = ApiClient::from_kubeconfig_yaml(&yaml, Path::new("/x/admin.conf"), timeout)
            .await
            .unwrap();
        let start = Instant::now();
        let err = client
            .get_opt::<ConfigMap>(Some("kube-system"), "x")
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert!(took < timeout + Duration::from_millis(500), "{took:?}");
        let msg = err.to_string();
        assert!(matches!(err, ApiError::Unreachable { .. }), "{msg}");
        assert!(
            msg.contains(&format!("https://127.0.0.118:{port}")),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn dry_run_records_without_calling_the_api() {
        let client = ApiClient::from_kubeconfig_yaml(
            KUBECONFIG,
            Path::new("/x/admin.conf"),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
        let staging = tempfile::tempdir().unwrap();
        let fs = HostFs::staged(staging.path());
        let mut fx = Effects::new("t", &fs, &Silent);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some("cm".into()),
                namespace: Some("kube-public".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let start = Instant::now();
        client.apply(&mut fx, &cm).await.unwrap();
        client
            .create_or_update(&mut fx, &cluster_admins_binding())
            .await
            .unwrap();
        assert!(
            client
                .delete::<ConfigMap>(&mut fx, Some("kube-public"), "cm")
                .await
                .unwrap()
        );
        assert!(start.elapsed() < Duration::from_millis(200));
        let (_, api) = fx.into_record();
        assert!(
            api.iter().all(|c| c.changed),
            "a dry run lists every request a run would send: {api:?}"
        );
        let got: Vec<(ApiVerb, &str, Option<&str>, &str)> = api
            .iter()
            .map(|c| {
                (
                    c.verb,
                    c.kind.as_str(),
                    c.namespace.as_deref(),
                    c.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (ApiVerb::Apply, "ConfigMap", Some("kube-public"), "cm"),
                (
                    ApiVerb::Create,
                    "ClusterRoleBinding",
                    None,
                    "kubeadm:cluster-admins"
                ),
                (ApiVerb::Delete, "ConfigMap", Some("kube-public"), "cm"),
            ]
        );
    }

    #[tokio::test]
    async fn malformed_kubeconfig_is_named_without_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("admin.conf");
        std::fs::write(&p, "clusters: [secret-key-material").unwrap();
        let err = ApiClient::from_kubeconfig(&HostFs::real(), &p, Duration::from_secs(1))
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("admin.conf"), "{msg}");
        assert!(!msg.contains("secret-key-material"), "{msg}");
        let missing = ApiClient::from_kubeconfig(
            &HostFs::real(),
            &dir.path().join("none.conf"),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(missing, ApiError::ReadKubeconfig { .. }));
    }
}
