//! `kubestrap token …`: bootstrap tokens on a running cluster, as `kubeadm token` does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use kubestrap_phases::HostFs;
use kubestrap_phases::config::token::{
    BootstrapTokenString, TokenError, TokenGroup, TokenId, TokenUsage,
};
use kubestrap_phases::config::well_known::KUBERNETES_DIR;
use kubestrap_phases::config::{BootstrapToken, GoDuration, Secret, TokenExpiry};
use kubestrap_phases::contract::effects::{Effects, Silent};
use kubestrap_phases::domain::apiclient::{ADMIN_CONF, ApiClient, admin_client};
use kubestrap_phases::domain::bootstrap_token::{
    cluster_info_source, join_command, list_tokens, render_json, render_table,
};
use kubestrap_phases::phases::bootstrap_token::{create_token, delete_token};

use serde_json::Value;

use super::{CommandError, Written, answer, exit, result};
use crate::cli::{GlobalArgs, TokenClusterArgs, TokenCommand, TokenCreateArgs};
use crate::output::{Answer, EventSink, JsonObject};
use crate::workflows::host_fs;

/// kubeadm's default for API calls of these commands.
const API_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) async fn run(
    cmd: &TokenCommand,
    global: &GlobalArgs,
    events: &dyn EventSink,
) -> ExitCode {
    let (name, outcome) = match cmd {
        TokenCommand::Generate => ("token generate", generate(events)),
        TokenCommand::Create(args) => ("token create", create(args, global, events).await),
        TokenCommand::List(cluster) => ("token list", list(cluster, global, events).await),
        TokenCommand::Delete { tokens, cluster } => (
            "token delete",
            delete(tokens, cluster, global, events).await,
        ),
    };
    exit(events, name, outcome)
}

/// A new random token, created nowhere. The user asked for a token: printing it is the point.
fn generate(events: &dyn EventSink) -> Result<(), CommandError> {
    let token = BootstrapTokenString::generate();
    let token = token.expose();
    let done = result("token generate", None, [("token", token.as_str().into())]);
    answer(
        events,
        "token generate",
        Answer::with_result(format!("{token}\n"), done),
    )
}

fn kubeconfig_path(args: &TokenClusterArgs, global: &GlobalArgs) -> Result<PathBuf, CommandError> {
    match &args.kubeconfig {
        Some(p) => Ok(p.clone()),
        None => kubestrap_phases::NodeRoot::new(&global.root)
            .map(|r| r.resolve(KUBERNETES_DIR).join(ADMIN_CONF))
            .map_err(|source| CommandError::TokenRoot {
                root: global.root.clone(),
                source,
            }),
    }
}

/// The client the phases use for an admin.conf — which, on a fresh cluster, first grants
/// admin.conf its rights with the super-admin.conf next to it (ClusterRoleBinding
/// kubeadm:cluster-admins) — or, for any other kubeconfig, a plain client, as kubeadm's
/// token commands use it.
async fn client(path: &Path, fx: &mut Effects<'_>) -> Result<ApiClient, CommandError> {
    let fs = fx.fs();
    let is_admin_conf = path.file_name().is_some_and(|n| n == ADMIN_CONF);
    let result = match path.parent() {
        Some(dir) if is_admin_conf => admin_client(fs, dir, API_TIMEOUT, fx).await,
        _ => ApiClient::from_kubeconfig(fs, path, API_TIMEOUT).await,
    };
    Ok(result?)
}

/// The error of a token argument, naming it.
fn token_arg(arg: &'static str) -> impl FnOnce(TokenError) -> CommandError {
    move |source| CommandError::Token { arg, source }
}

/// Parses the flags of `token create` into a token, each error naming its flag.
fn parse_create(args: &TokenCreateArgs) -> Result<BootstrapToken, CommandError> {
    let token = match &args.token {
        Some(t) => t
            .expose()
            .parse::<BootstrapTokenString>()
            .map_err(token_arg("argument TOKEN"))?,
        None => BootstrapTokenString::generate(),
    };
    let ttl: GoDuration = args.ttl.parse().map_err(|source| CommandError::Duration {
        flag: "flag --ttl",
        source,
    })?;
    let usages = args
        .usages
        .iter()
        .map(|u| u.trim().parse::<TokenUsage>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(token_arg("flag --usages"))?;
    if usages.is_empty() {
        return Err(CommandError::NoUsage);
    }
    let groups = args
        .groups
        .iter()
        .filter(|g| !g.trim().is_empty())
        .map(|g| g.trim().parse::<TokenGroup>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(token_arg("flag --groups"))?;
    if !groups.is_empty() && !usages.contains(&TokenUsage::Authentication) {
        return Err(CommandError::GroupsWithoutAuthentication);
    }
    Ok(BootstrapToken {
        token,
        description: args.description.clone().filter(|d| !d.is_empty()),
        expiry: TokenExpiry::Ttl(ttl),
        usages,
        groups,
    })
}

async fn create(
    args: &TokenCreateArgs,
    global: &GlobalArgs,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let tokens = match &args.config {
        Some(file) => kubestrap_phases::config::load_bootstrap_tokens(file)?,
        None => vec![parse_create(args)?],
    };
    // load_bootstrap_tokens returns at least one (kubeadm's default token for an empty list).
    let Some(token) = tokens.first() else {
        return Err(CommandError::NoToken);
    };
    let path = kubeconfig_path(&args.cluster, global)?;
    let fs = host_fs(global)?;
    let mut fx = Effects::new("token create", &fs, &Silent);
    let client = client(&path, &mut fx).await?;
    // kubeadm creates every token of the configuration (CreateNewTokens) and prints the first.
    for t in &tokens {
        create_token(&client, &mut fx, t).await?;
    }
    // The user asked for the token (or the join command holding it): printing it is the point.
    let (field, shown) = if args.print_join_command {
        let cluster = cluster_info_source(&HostFs::real(), &path)?;
        let mut cmd = join_command(&path, &cluster, &token.token)?;
        if let Some(key) = &args.certificate_key {
            cmd.push_str(&format!(
                " --control-plane --certificate-key {}",
                key.expose_hex()
            ));
        }
        ("join_command", cmd)
    } else {
        ("token", token.token.expose().to_string())
    };
    let written = Written::of(fx).staged(fs, events);
    let text = format!("{shown}\n");
    let done = result("token create", Some(written), [(field, shown.into())]);
    answer(events, "token create", Answer::with_result(text, done))
}

/// kubeadm's table; with `-o json`, kubeadm's BootstrapToken objects, one per line (kubeadm
/// indents each).
async fn list(
    cluster: &TokenClusterArgs,
    global: &GlobalArgs,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let path = kubeconfig_path(cluster, global)?;
    let fs = host_fs(global)?;
    let mut fx = Effects::new("token list", &fs, &Silent);
    let tokens = list_tokens(&client(&path, &mut fx).await?).await?;
    let rendered = render_json(&tokens);
    let mut json: Vec<Box<dyn JsonObject>> = Vec::new();
    for object in serde_json::Deserializer::from_str(&rendered).into_iter::<Value>() {
        json.push(Box::new(object.map_err(CommandError::EncodeToken)?));
    }
    let text = render_table(&tokens, time::OffsetDateTime::now_utc());
    answer(events, "token list", Answer { text, json })
}

/// A token id, or the id of a whole token; the error never echoes a would-be secret.
fn parse_id(arg: &str) -> Result<TokenId, CommandError> {
    let bad = token_arg("argument TOKEN_ID|TOKEN");
    if arg.contains('.') {
        arg.parse::<BootstrapTokenString>()
            .map(|t| t.id().clone())
            .map_err(bad)
    } else {
        arg.parse::<TokenId>().map_err(bad)
    }
}

async fn delete(
    tokens: &[Secret],
    cluster: &TokenClusterArgs,
    global: &GlobalArgs,
    events: &dyn EventSink,
) -> Result<(), CommandError> {
    let ids = tokens
        .iter()
        .map(|t| parse_id(t.expose()))
        .collect::<Result<Vec<_>, _>>()?;
    let path = kubeconfig_path(cluster, global)?;
    let fs = host_fs(global)?;
    let mut fx = Effects::new("token delete", &fs, &Silent);
    let client = client(&path, &mut fx).await?;
    let mut deleted = Vec::new();
    for id in ids {
        if delete_token(&client, &mut fx, &id).await? {
            // Said as each goes, in text; JSON lists them in the result.
            let line = format!("bootstrap token {:?} deleted\n", id.as_str());
            answer(events, "token delete", Answer::text(line))?;
            deleted.push(id.as_str().to_string());
        } else {
            // What was deleted before it stays deleted: say so (JSON mode printed nothing yet).
            return Err(CommandError::TokenNotFound {
                id: id.as_str().to_string(),
                deleted_before: deleted,
            });
        }
    }
    let written = Written::of(fx).staged(fs, events);
    let done = result("token delete", Some(written), [("deleted", deleted.into())]);
    answer(events, "token delete", Answer::with_result("", done))
}
