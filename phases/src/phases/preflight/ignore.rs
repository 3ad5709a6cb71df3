//! `--ignore-preflight-errors`: which failed checks become warnings.
//!
//! kubeadm lower-cases every name, merges the flag with the config file's
//! `nodeRegistration.ignorePreflightErrors`, and treats `all` as "every check". A name that
//! matches no check is accepted and simply never matches (so scripts written for another
//! kubeadm version keep working), but `all` next to individual names is rejected, because
//! the user clearly meant something narrower than what `all` does.

use std::collections::BTreeSet;

/// Check names whose errors are reported as warnings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreSet {
    all: bool,
    /// Lower-cased names.
    names: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreSetError {
    /// kubeadm: `ignore-preflight-errors: Invalid value: "all,swap": don't specify individual
    /// checks if 'all' is used`.
    #[error(
        "--ignore-preflight-errors: invalid value {given:?}: don't specify individual checks if 'all' is used"
    )]
    AllWithOthers { given: String },
}

impl crate::contract::diagnostics::Diagnostic for IgnoreSetError {}

impl IgnoreSet {
    /// Ignores nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Ignores every check.
    pub fn all() -> Self {
        Self {
            all: true,
            names: BTreeSet::new(),
        }
    }

    /// Parses the names from the flag (already split at commas) and the config file, in any
    /// order. Names are trimmed and case-insensitive; empty entries are skipped.
    pub fn parse<I, S>(names: I) -> Result<Self, IgnoreSetError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let set: BTreeSet<String> = names
            .into_iter()
            .map(|n| n.as_ref().trim().to_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        if set.contains("all") {
            if set.len() > 1 {
                return Err(IgnoreSetError::AllWithOthers {
                    given: set.into_iter().collect::<Vec<_>>().join(","),
                });
            }
            return Ok(Self::all());
        }
        Ok(Self {
            all: false,
            names: set,
        })
    }

    /// Whether a failure of the check called `name` is only a warning.
    pub fn ignores(&self, name: &str) -> bool {
        self.all || self.names.contains(&name.to_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        let set = IgnoreSet::parse(["isprivilegeduser", "Port-6443", " swap "]).unwrap();
        assert!(set.ignores("IsPrivilegedUser"));
        assert!(set.ignores("port-6443"));
        assert!(set.ignores("Swap"));
        assert!(!set.ignores("Port-10250"));
        assert!(!set.ignores("Mem"));
    }

    #[test]
    fn unknown_names_are_accepted_and_match_nothing_else() {
        let set = IgnoreSet::parse(["NoSuchCheck"]).unwrap();
        assert!(set.ignores("nosuchcheck"));
        assert!(!set.ignores("NumCPU"));
    }

    #[test]
    fn all_ignores_everything() {
        let set = IgnoreSet::parse(["ALL"]).unwrap();
        assert!(set.ignores("NumCPU"));
        assert!(set.ignores("FileAvailable--etc-kubernetes-manifests-etcd.yaml"));
        // Repeating `all` is still just `all`.
        assert_eq!(IgnoreSet::parse(["all", "All"]).unwrap(), IgnoreSet::all());
    }

    #[test]
    fn all_with_individual_names_is_an_error() {
        let err = IgnoreSet::parse(["all", "Swap"]).unwrap_err();
        assert_eq!(
            err,
            IgnoreSetError::AllWithOthers {
                given: "all,swap".into()
            }
        );
        assert!(
            err.to_string()
                .contains("don't specify individual checks if 'all' is used")
        );
    }

    #[test]
    fn empty_entries_are_skipped() {
        let set = IgnoreSet::parse(["", " "]).unwrap();
        assert!(set.is_empty());
        assert!(IgnoreSet::parse(["all", ""]).is_ok());
    }
}
