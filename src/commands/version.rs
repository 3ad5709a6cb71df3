//! `kubestrap version [-o short|json|yaml]`: kubeadm's `version` command (cmd/kubeadm/app/cmd/
//! version.go, search-index id 1712474771) in its four shapes, so that a script written for
//! `kubeadm version -o …` reads kubestrap's the same way.
//!
//! The fields are apimachinery's `version.Info`, filled with what is true of this binary:
//! kubestrap's own version, the Rust compiler, the platform it was built for. kubestrap has no
//! build script, so nothing records the git commit, tree state, build date or compiler
//! version: those fields are empty rather than invented.

use std::process::ExitCode;

use serde::Serialize;

use super::{answer, exit};
use crate::output::{Answer, EventSink, OutputArg};

/// apimachinery's `version.Info`, field for field and in its order (kubeadm's `-o json`
/// keeps it; `-o yaml` sorts the keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Info {
    major: String,
    minor: String,
    git_version: String,
    git_commit: String,
    git_tree_state: String,
    build_date: String,
    go_version: String,
    compiler: String,
    platform: String,
}

/// kubeadm's `-o json|yaml` wrapper: `{"clientVersion": Info}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    client_version: Info,
}

impl Info {
    /// This binary's.
    pub(crate) fn of_this_binary() -> Self {
        Self {
            major: env!("CARGO_PKG_VERSION_MAJOR").to_owned(),
            minor: env!("CARGO_PKG_VERSION_MINOR").to_owned(),
            git_version: format!("v{}", env!("CARGO_PKG_VERSION")),
            git_commit: String::new(),
            git_tree_state: String::new(),
            build_date: String::new(),
            go_version: String::new(),
            compiler: "rustc".to_owned(),
            platform: format!(
                "{}/{}",
                std::env::consts::OS,
                go_arch(std::env::consts::ARCH)
            ),
        }
    }

    /// kubeadm's default line, `kubeadm version: %#v` of the Info (Go's struct syntax with
    /// quoted strings), under kubestrap's name.
    fn text(&self) -> String {
        let fields = [
            ("Major", &self.major),
            ("Minor", &self.minor),
            ("GitVersion", &self.git_version),
            ("GitCommit", &self.git_commit),
            ("GitTreeState", &self.git_tree_state),
            ("BuildDate", &self.build_date),
            ("GoVersion", &self.go_version),
            ("Compiler", &self.compiler),
            ("Platform", &self.platform),
        ];
        let body: Vec<String> = fields
            .iter()
            .map(|(name, value)| format!("{name}:{}", go_quote(value)))
            .collect();
        format!("kubestrap version: &version.Info{{{}}}\n", body.join(", "))
    }

    /// kubeadm's `-o yaml`: sigs.k8s.io/yaml (keys sorted) printed with `Fprintln`, hence the
    /// blank line at the end.
    fn yaml(&self) -> String {
        let value = serde_json::to_value(Version {
            client_version: self.clone(),
        })
        .unwrap_or_default();
        format!("{}\n", kubestrap_phases::config::to_go_yaml(&value))
    }
}

/// Go's `%q` of a string as `%#v` prints it: Rust's `{:?}` agrees for the printable ASCII
/// these fields hold (versions, a platform, a compiler name).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Go's GOARCH name for Rust's target architecture, as `platform` spells it in kubeadm.
fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    }
}

/// Prints the version in the shape `-o` asks for; `-o json` is kubeadm's object on one line
/// (every `-o json` of kubestrap is NDJSON).
pub(crate) fn run(output: OutputArg, events: &dyn EventSink) -> ExitCode {
    let info = Info::of_this_binary();
    let shown = match output {
        OutputArg::Text => Answer::text(info.text()),
        OutputArg::Short => Answer::text(format!("{}\n", info.git_version)),
        OutputArg::Yaml => Answer::text(info.yaml()),
        OutputArg::Json => Answer {
            text: String::new(),
            json: vec![Box::new(Version {
                client_version: info,
            })],
        },
    };
    exit(events, "version", answer(events, "version", shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            major: "0".into(),
            minor: "1".into(),
            git_version: "v0.1.0".into(),
            git_commit: String::new(),
            git_tree_state: String::new(),
            build_date: String::new(),
            go_version: String::new(),
            compiler: "rustc".into(),
            platform: "linux/amd64".into(),
        }
    }

    /// The shapes of the real kubeadm v1.20.2's `version`, `-o json` and `-o yaml` (run
    /// offline), with kubestrap's values.
    #[test]
    fn each_shape_is_kubeadms() {
        assert_eq!(
            info().text(),
            "kubestrap version: &version.Info{Major:\"0\", Minor:\"1\", GitVersion:\"v0.1.0\", GitCommit:\"\", GitTreeState:\"\", BuildDate:\"\", GoVersion:\"\", Compiler:\"rustc\", Platform:\"linux/amd64\"}\n"
        );
        assert_eq!(
            info().yaml(),
            "clientVersion:\n  buildDate: \"\"\n  compiler: rustc\n  gitCommit: \"\"\n  gitTreeState: \"\"\n  gitVersion: v0.1.0\n  goVersion: \"\"\n  major: \"0\"\n  minor: \"1\"\n  platform: linux/amd64\n\n"
        );
        assert_eq!(
            serde_json::to_string(&Version {
                client_version: info()
            })
            .unwrap(),
            r#"{"clientVersion":{"major":"0","minor":"1","gitVersion":"v0.1.0","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"rustc","platform":"linux/amd64"}}"#
        );
    }

    #[test]
    fn this_binary_says_its_own_version_and_no_invented_build_facts() {
        let me = Info::of_this_binary();
        assert_eq!(me.git_version, format!("v{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(
            format!("{}.{}", me.major, me.minor),
            env!("CARGO_PKG_VERSION")
                .rsplit_once('.')
                .map(|(mm, _)| mm.to_owned())
                .unwrap_or_default()
        );
        assert!(me.git_commit.is_empty() && me.build_date.is_empty() && me.go_version.is_empty());
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("s390x"), "s390x");
    }
}
