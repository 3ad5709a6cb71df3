//! Splitting a config file into its YAML documents and sorting them by apiVersion/kind.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ConfigError, DocumentRef};

pub(super) const KUBEADM_GROUP: &str = "kubeadm.k8s.io";
pub(super) const KUBELET_API: &str = "kubelet.config.k8s.io/v1beta1";
pub(super) const KUBE_PROXY_API: &str = "kubeproxy.config.k8s.io/v1alpha1";

/// The kinds this loader reads, for "expected one of" messages.
pub(super) const ACCEPTED: &str = "kubeadm.k8s.io/v1beta4 or v1beta3 InitConfiguration, ClusterConfiguration, JoinConfiguration; kubelet.config.k8s.io/v1beta1 KubeletConfiguration; kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApiVersion {
    V1beta3,
    V1beta4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Init(ApiVersion),
    Cluster(ApiVersion),
    Join(ApiVersion),
    Kubelet,
    KubeProxy,
    /// A kubeadm kind this loader knows but does not use (Reset/UpgradeConfiguration).
    OtherKubeadm,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Init(_) => "InitConfiguration",
            Kind::Cluster(_) => "ClusterConfiguration",
            Kind::Join(_) => "JoinConfiguration",
            Kind::Kubelet => "KubeletConfiguration",
            Kind::KubeProxy => "KubeProxyConfiguration",
            Kind::OtherKubeadm => "kubeadm document",
        }
    }
}

/// One non-empty document, its body without apiVersion/kind.
#[derive(Debug, Clone)]
pub(super) struct Document {
    pub at: DocumentRef,
    pub kind: Kind,
    pub api_version: String,
    pub body: serde_json::Map<String, Value>,
}

impl Document {
    /// Deserialises the body into a wire type, mapping serde's failures to errors that
    /// name the field path.
    pub(super) fn decode<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        serde_path_to_error::deserialize(Value::Object(self.body.clone())).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner().to_string();
            if let Some(rest) = inner.strip_prefix("unknown field `") {
                let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
                let expected = expected
                    .trim_start_matches(", expected one of ")
                    .trim_start_matches(", expected ")
                    .replace('`', "");
                let field = if field.ends_with(name) {
                    field
                } else if field == "." {
                    name.to_owned()
                } else {
                    format!("{field}.{name}")
                };
                return ConfigError::UnknownField {
                    doc: Box::new(self.at.clone()),
                    field,
                    expected,
                };
            }
            ConfigError::InvalidField {
                doc: Box::new(self.at.clone()),
                field: if field == "." {
                    "(document)".to_owned()
                } else {
                    field
                },
                message: without_string_values(&inner),
            }
        })
    }
}

/// serde's type errors quote the rejected string (`invalid type: string "…", expected …`);
/// that string may be a token or key put at the wrong level, so the message drops it (the
/// field path already says where to look).
fn without_string_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("string \"") {
        out.push_str(&rest[..at]);
        out.push_str("string (value not shown)");
        let quoted = &rest[at + "string \"".len()..];
        // serde_json escapes quotes inside the value as \".
        let mut end = None;
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        match end {
            Some(i) => rest = &quoted[i + 1..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Splits on `---` lines (as kubeadm's YAML reader does) and returns the raw chunks with
/// their 1-based start lines.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t") {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs
}

fn is_blank(chunk: &str) -> bool {
    chunk
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

fn classify(api_version: &str, kind: &str) -> Option<Result<Kind, ()>> {
    if let Some(version) = api_version
        .strip_prefix(KUBEADM_GROUP)
        .and_then(|v| v.strip_prefix('/'))
    {
        let v = match version {
            "v1beta4" => ApiVersion::V1beta4,
            "v1beta3" => ApiVersion::V1beta3,
            "v1alpha1" | "v1alpha2" | "v1alpha3" | "v1beta1" | "v1beta2" => return Some(Err(())),
            _ => return None,
        };
        return match kind {
            "InitConfiguration" => Some(Ok(Kind::Init(v))),
            "ClusterConfiguration" => Some(Ok(Kind::Cluster(v))),
            "JoinConfiguration" => Some(Ok(Kind::Join(v))),
            "ResetConfiguration" | "UpgradeConfiguration" if v == ApiVersion::V1beta4 => {
                Some(Ok(Kind::OtherKubeadm))
            }
            _ => None,
        };
    }
    match (api_version, kind) {
        (KUBELET_API, "KubeletConfiguration") => Some(Ok(Kind::Kubelet)),
        (KUBE_PROXY_API, "KubeProxyConfiguration") => Some(Ok(Kind::KubeProxy)),
        _ => None,
    }
}

/// Reads and classifies every document of `path`.
pub(super) fn read_documents(path: &Path) -> Result<Vec<Document>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_documents(path, &text)
}

/// Classifies the documents of `text` (read from `path`, used in messages).
pub(super) fn parse_documents(path: &Path, text: &str) -> Result<Vec<Document>, ConfigError> {
    let mut out = Vec::new();
    for (n, (line, chunk)) in split_documents(text).into_iter().enumerate() {
        let mut at = DocumentRef {
            file: path.to_path_buf(),
            index: n + 1,
            line,
            kind: None,
            api_version: None,
        };
        if is_blank(&chunk) {
            continue;
        }
        let value: Value = serde_saphyr::from_str(&chunk).map_err(|e| {
            let msg = match e.location() {
                Some(loc) => format!(
                    "{} (at line {}, column {} of the file)",
                    e.to_string().lines().next().unwrap_or_default(),
                    loc.line() as usize + line - 1,
                    loc.column()
                ),
                None => e.to_string(),
            };
            ConfigError::Syntax {
                doc: Box::new(at.clone()),
                message: msg,
            }
        })?;
        let Value::Object(mut body) = value else {
            if value.is_null() {
                continue;
            }
            return Err(ConfigError::Syntax {
                doc: Box::new(at),
                message: "expected a mapping with apiVersion and kind".to_owned(),
            });
        };
        let text_of = |v: Option<Value>| match v {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let api_version = text_of(body.remove("apiVersion"));
        let kind_name = text_of(body.remove("kind"));
        at.kind = (!kind_name.is_empty()).then(|| kind_name.clone());
        at.api_version = (!api_version.is_empty()).then(|| api_version.clone());
        let kind = match classify(&api_version, &kind_name) {
            Some(Ok(kind)) => kind,
            Some(Err(())) => {
                return Err(ConfigError::UnsupportedVersion {
                    doc: Box::new(at),
                    api_version,
                });
            }
            None => {
                return Err(ConfigError::UnknownKind {
                    doc: Box::new(at),
                    api_version,
                    kind: kind_name,
                    accepted: ACCEPTED.to_owned(),
                });
            }
        };
        if let Some(prev) = out
            .iter()
            .find(|d: &&Document| d.at.kind == at.kind && d.kind != Kind::OtherKubeadm)
        {
            return Err(ConfigError::DuplicateKind {
                kind: kind_name,
                first: prev.at.index,
                doc: Box::new(at),
            });
        }
        out.push(Document {
            at,
            kind,
            api_version,
            body,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_errors_do_not_echo_string_values() {
        assert_eq!(
            without_string_values(
                r#"invalid type: string "abcdef.0123456789abcdef", expected a sequence"#
            ),
            "invalid type: string (value not shown), expected a sequence"
        );
        assert_eq!(
            without_string_values(r#"a string "x\"y" and string "z"."#),
            "a string (value not shown) and string (value not shown)."
        );
        assert_eq!(
            without_string_values("string \"open"),
            "string (value not shown)"
        );
        assert_eq!(without_string_values("plain"), "plain");
    }

    #[test]
    fn splits_and_counts_empty_documents() {
        let docs = split_documents("---\na: 1\n---\n\n--- # c\nb: 2\n");
        let lines: Vec<usize> = docs.iter().map(|d| d.0).collect();
        assert_eq!(lines, vec![1, 2, 4, 6]);
        assert!(is_blank(&docs[0].1) && is_blank(&docs[2].1));
    }
}
