//! What can be wrong with a configuration, with enough context (file, document, field path or
//! flag, expected form) for the user to fix it without reading kubestrap's source.

use std::fmt;
use std::path::PathBuf;

/// Where in a config file a value came from: the file, the 1-based document number and the
/// document's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub file: PathBuf,
    /// 1-based position of the document in the file (empty documents count).
    pub index: usize,
    /// Line of the file on which the document starts.
    pub line: usize,
    /// `kind` of the document, when known.
    pub kind: Option<String>,
    /// `apiVersion` of the document, when known.
    pub api_version: Option<String>,
}

impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "config file {}, document {} (line {}",
            self.file.display(),
            self.index,
            self.line
        )?;
        if let Some(kind) = &self.kind {
            write!(f, ", kind {kind}")?;
        }
        if let Some(api_version) = &self.api_version {
            write!(f, " {api_version}")?;
        }
        f.write_str(")")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A document is not valid YAML (or not a mapping).
    #[error("{doc}: invalid YAML: {message}")]
    Syntax {
        doc: Box<DocumentRef>,
        message: String,
    },

    /// A document lacks apiVersion/kind, or names a kind kubestrap does not know.
    #[error("{doc}: unknown apiVersion/kind {api_version:?}/{kind:?}; expected one of: {accepted}")]
    UnknownKind {
        doc: Box<DocumentRef>,
        api_version: String,
        kind: String,
        accepted: String,
    },

    /// A kubeadm API version that kubeadm itself no longer reads.
    #[error(
        "{doc}: apiVersion {api_version} is no longer supported; use kubeadm.k8s.io/v1beta4 (or v1beta3), e.g. convert it with `kubeadm config migrate`"
    )]
    UnsupportedVersion {
        doc: Box<DocumentRef>,
        api_version: String,
    },

    /// The same kind appears twice in one file.
    #[error("{doc}: {kind} is given twice (first in document {first}); give each kind once")]
    DuplicateKind {
        doc: Box<DocumentRef>,
        kind: String,
        first: usize,
    },

    /// The file holds none of the kinds the command needs.
    #[error("config file {}: no {expected} document found", file.display())]
    MissingKind { file: PathBuf, expected: String },

    /// A field the document's kind and version do not have (often a typo).
    #[error("{doc}: unknown field {field}; expected one of: {expected}")]
    UnknownField {
        doc: Box<DocumentRef>,
        /// Dotted path, e.g. `timeouts.kubenetesAPICall`.
        field: String,
        expected: String,
    },

    /// A field whose value does not have the expected form.
    #[error("{doc}: {field}: {message}")]
    InvalidField {
        doc: Box<DocumentRef>,
        /// Dotted path, e.g. `networking.podSubnet`.
        field: String,
        message: String,
    },

    /// Values that are each valid but cannot be used together.
    #[error("{message}")]
    Conflict {
        /// Every field path or flag involved.
        fields: Vec<String>,
        message: String,
    },

    /// A command-line flag (or, named `<like-this>`, a positional argument) with an invalid
    /// value.
    #[error("{}: {message}", if flag.starts_with('<') { format!("argument {flag}") } else { format!("flag --{flag}") })]
    InvalidFlag { flag: String, message: String },

    /// A value that has to be detected on the host (advertise address, node name) could not be.
    #[error("cannot determine {what}: {reason}; set it with {hint}")]
    Detect {
        what: String,
        reason: String,
        hint: String,
    },
}

/// No separate hint: a configuration error's message already ends with what was expected
/// ("expected one of …", "set it with --node-name …", "use kubeadm.k8s.io/v1beta4"), as
/// kubeadm's do, because it is embedded whole in other errors (the cluster's kubeadm-config,
/// reset's `--config`) that must still say it.
impl crate::contract::diagnostics::Diagnostic for ConfigError {}

impl ConfigError {
    pub(crate) fn flag(flag: &str, err: impl fmt::Display) -> Self {
        ConfigError::InvalidFlag {
            flag: flag.to_owned(),
            message: err.to_string(),
        }
    }

    pub(crate) fn conflict(fields: &[&str], message: impl Into<String>) -> Self {
        ConfigError::Conflict {
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
            message: message.into(),
        }
    }
}
