//! `token list`: the cluster's token Secrets read back, shown as kubeadm shows them.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::secret::{
    BOOTSTRAP_TOKEN_SECRET_TYPE, KEY_DESCRIPTION, KEY_EXPIRATION, KEY_GROUPS, KEY_ID, KEY_SECRET,
    USAGE_PREFIX,
};
use crate::config::token::BootstrapTokenString;
use crate::config::well_known::KUBE_SYSTEM;
use crate::domain::apiclient::{ApiClient, ApiError};
use crate::domain::kubeadm_output::{self, OUTPUT_API_VERSION, short_human_duration};

/// A token as stored in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub token: BootstrapTokenString,
    pub description: Option<String>,
    pub expires: Option<OffsetDateTime>,
    /// Sorted, as kubeadm lists them.
    pub usages: Vec<String>,
    pub groups: Vec<String>,
}

impl TokenInfo {
    /// Reads a token Secret; `None` when it does not hold a well-formed token (kubeadm skips
    /// those too).
    pub fn from_secret(s: &Secret) -> Option<Self> {
        let data = s.data.as_ref()?;
        let get = |k: &str| {
            data.get(k)
                .and_then(|v| String::from_utf8(v.0.clone()).ok())
        };
        let token: BootstrapTokenString = format!("{}.{}", get(KEY_ID)?, get(KEY_SECRET)?)
            .parse()
            .ok()?;
        let mut usages: Vec<String> = data
            .iter()
            .filter(|(_, v)| v.0 == b"true")
            .filter_map(|(k, _)| k.strip_prefix(USAGE_PREFIX).map(str::to_string))
            .collect();
        usages.sort();
        Some(Self {
            token,
            description: get(KEY_DESCRIPTION).filter(|d| !d.is_empty()),
            expires: get(KEY_EXPIRATION).and_then(|e| OffsetDateTime::parse(&e, &Rfc3339).ok()),
            usages,
            groups: get(KEY_GROUPS)
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// The cluster's bootstrap tokens, ordered by id.
pub async fn list_tokens(client: &ApiClient) -> Result<Vec<TokenInfo>, ApiError> {
    let api: Api<Secret> = Api::namespaced(client.client().clone(), KUBE_SYSTEM);
    let params = ListParams::default().fields(&format!("type={BOOTSTRAP_TOKEN_SECRET_TYPE}"));
    let list = client
        .retry("list bootstrap token Secrets in kube-system", || {
            api.list(&params)
        })
        .await?;
    let mut tokens: Vec<TokenInfo> = list
        .items
        .iter()
        .filter_map(TokenInfo::from_secret)
        .collect();
    tokens.sort_by(|a, b| a.token.id().cmp(b.token.id()));
    Ok(tokens)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "<invalid>".into())
}

/// kubeadm's `token list` table ([`kubeadm_output::table`]). The full tokens are shown:
/// listing them for an admin is the point of the command.
pub fn render_table(tokens: &[TokenInfo], now: OffsetDateTime) -> String {
    let mut tw = kubeadm_output::table(Vec::new());
    let mut text = String::from("TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS\n");
    for t in tokens {
        let (ttl, expires) = match t.expires {
            Some(e) => (short_human_duration((e - now).whole_seconds()), rfc3339(e)),
            None => ("<forever>".into(), "<never>".into()),
        };
        text.push_str(&format!(
            "{}\t{ttl}\t{expires}\t{}\t{}\t{}\n",
            t.token.expose(),
            t.usages.join(","),
            t.description.as_deref().unwrap_or("<none>"),
            t.groups.join(","),
        ));
    }
    // Writing to memory cannot fail, and what goes in is UTF-8.
    let laid_out = std::io::Write::write_all(&mut tw, text.as_bytes())
        .and_then(|()| std::io::Write::flush(&mut tw))
        .ok()
        .and_then(|()| tw.into_inner().ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    laid_out.unwrap_or(text)
}

/// `token list -o json`: one kubeadm output object (output.kubeadm.k8s.io/v1alpha3
/// BootstrapToken) per token.
pub fn render_json(tokens: &[TokenInfo]) -> String {
    let mut out = String::new();
    for t in tokens {
        let mut obj = serde_json::json!({
            "kind": "BootstrapToken",
            "apiVersion": OUTPUT_API_VERSION,
            "token": t.token.expose(),
            "usages": t.usages,
            "groups": t.groups,
        });
        if let Some(d) = &t.description {
            obj["description"] = d.clone().into();
        }
        if let Some(e) = t.expires {
            obj["expires"] = rfc3339(e).into();
        }
        out.push_str(&serde_json::to_string_pretty(&obj).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::token::{TokenGroup, TokenUsage};
    use crate::config::{BootstrapToken, GoDuration, TokenExpiry};
    use crate::domain::bootstrap_token::token_secret;

    #[test]
    fn secret_round_trips_and_renders_like_kubeadm() {
        let now = OffsetDateTime::parse("2026-11-23T14:00:00Z", &Rfc3339).unwrap();
        let t = BootstrapToken {
            token: "abcdef.0123456789abcdef".parse().unwrap(),
            description: None,
            expiry: TokenExpiry::Ttl(GoDuration::from_secs(24 * 3600)),
            usages: TokenUsage::defaults(),
            groups: vec![TokenGroup::default_node_token()],
        };
        let forever = BootstrapToken {
            token: "zzzzzz.0123456789abcdef".parse().unwrap(),
            description: Some("ci".into()),
            expiry: TokenExpiry::Ttl(GoDuration::from_secs(0)),
            usages: vec![TokenUsage::Authentication],
            groups: vec![],
        };
        let infos: Vec<TokenInfo> = [&t, &forever]
            .iter()
            .map(|t| TokenInfo::from_secret(&token_secret(t, now)).unwrap())
            .collect();
        assert_eq!(infos[0].usages, ["authentication", "signing"]);
        let later = now + time::Duration::minutes(90);
        let table = render_table(&infos, later);
        assert_eq!(
            table,
            "TOKEN                     TTL         EXPIRES                USAGES                   DESCRIPTION   EXTRA GROUPS\n\
             abcdef.0123456789abcdef   22h         2026-11-24T14:00:00Z   authentication,signing   <none>        system:bootstrappers:kubeadm:default-node-token\n\
             zzzzzz.0123456789abcdef   <forever>   <never>                authentication           ci            \n"
        );
        let json = render_json(&infos[..1]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["token"], "abcdef.0123456789abcdef");
        assert_eq!(v["expires"], "2026-11-24T14:00:00Z");
    }
}
