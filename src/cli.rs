//! The command line, in kubeadm's shape. Parsing only: every flag is handed on as typed by the
//! user and validated by the configuration layer, which names the flag in its errors.
//!
//! `init phase …`, `join phase …`, `reset phase …` and the `phase …` shorthand are generated
//! from the phase trees,
//! so that every group and phase has its own `--help` and the CLI cannot drift from the engine.

use std::path::PathBuf;

use clap::{
    ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum,
};
use kubestrap_phases::config::{CertificateKey, CriSocket, InitFlags, JoinFlags, Secret};

use crate::output::OutputArg;

#[derive(Debug, Parser)]
#[command(
    name = "kubestrap",
    version,
    about = "Bootstraps Kubernetes clusters: a kubeadm-compatible replacement that resumes failed runs, plans before it acts and reports progress as JSON.",
    propagate_version = true
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Resolve every host path under DIR (manifests, kubeconfigs and flags follow it), so a
    /// whole node can live in a directory. Under a root other than `/`, host services are never
    /// touched.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// Change nothing: list every file and API object the run would write. The would-be
    /// files (private keys included) are staged in a private (0700) temporary directory that
    /// is removed when the command ends; --dry-run-dir keeps them.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// With --dry-run, of a command that stages files (init, join, their phases, certs
    /// renew/generate-csr, token): stage the would-be files in DIR and keep them there. DIR
    /// must not exist or be empty; it is made 0700, as it may hold private keys.
    #[arg(long, global = true, value_name = "DIR")]
    pub dry_run_dir: Option<PathBuf>,

    /// `text` for people; `json`: NDJSON on stdout, one object per line (the run's events
    /// ending in a `result`, or kubeadm's own objects for `token list`, `certs
    /// check-expiration` and `version`), human text on stderr; `short` and `yaml`: `version`
    /// only, as kubeadm's `version -o short|yaml`.
    #[arg(long, short = 'o', global = true, value_enum, value_name = "FORMAT", default_value_t = OutputArg::Text)]
    pub output: OutputArg,

    /// More log detail on stderr (repeat for more); in text output, also one line for every
    /// phase skipped as not applicable (without it, a run of them shares one line).
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set up this node as the first control-plane node of a new cluster.
    Init(InitArgs),
    /// Run one init phase or group (shorthand for `init phase`).
    Phase(InitArgs),
    /// Join this node to an existing cluster as a worker or another control plane.
    Join(JoinArgs),
    /// Manage bootstrap tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Inspect and manage the cluster's certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Kubeconfig files for additional users.
    #[command(subcommand)]
    Kubeconfig(KubeconfigCommand),
    /// kubeadm configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Undo what init or join did on this node.
    ///
    /// Removes only the files init and join make (docs/reset.md lists them), under --root:
    /// every path is resolved (`..`, symlinks) first, and one that leads out of the root, is
    /// a system directory or a mount point, or is not init's or join's is refused by name;
    /// the rest of the reset goes on and the exit status is 1.
    Reset(ResetArgs),
    /// Upgrade the cluster or change its configuration: plan first, then apply on the first
    /// control plane and `node` on the others, with backups, automatic rollback and resume.
    ///
    /// A reconfiguration is `upgrade apply --config FILE` without a version: only what the
    /// new configuration changes is touched, and kubeadm-config records it. docs/upgrade.md.
    #[command(subcommand)]
    Upgrade(UpgradeCommand),
    /// Name the broken link in this node's bootstrap and certificate chain, with the fix.
    ///
    /// Reads the node's files (certificates, kubeconfigs, static-pod manifests, the kubelet's
    /// files) and, when it can reach it, the cluster (with admin.conf on a control plane,
    /// kubelet.conf on a worker, or --kubeconfig): bootstrap tokens, cluster-info, the
    /// bootstrap RBAC, CSRs, etcd's members, the Node. Changes nothing, prints no secret; exit
    /// 1 when a finding is an error. docs/doctor.md lists the findings.
    Doctor(DoctorArgs),
    /// Print the version: kubeadm's line, or with `-o short|json|yaml` kubeadm's shapes
    /// (apimachinery's version.Info under `clientVersion`).
    Version,
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UpgradeCommand {
    /// Show what `upgrade apply` would do: each component's version now and after, the version
    /// policy's verdict, the configuration's changes, and the steps that follow.
    Plan(UpgradeTargetArgs),
    /// Upgrade (or reconfigure) the control plane on this control-plane node, then the
    /// cluster's configuration, bootstrap RBAC and addons.
    Apply(UpgradeApplyArgs),
    /// Upgrade this node to the version kubeadm-config names: a control plane's static pods
    /// and certificates, and the kubelet's configuration.
    Node(UpgradeNodeArgs),
    /// Show the unified diff of each static-pod manifest `upgrade apply` would write.
    Diff(UpgradeTargetArgs),
}

/// What an upgrade moves to.
#[derive(Debug, Args, Default)]
pub(crate) struct UpgradeTargetArgs {
    /// The Kubernetes version to move to (v1.20.3) [default: the cluster's own: a
    /// reconfiguration].
    #[arg(value_name = "VERSION")]
    pub target_version: Option<String>,
    /// A kubeadm configuration file whose ClusterConfiguration (and KubeletConfiguration,
    /// KubeProxyConfiguration) replaces the cluster's; its kubernetesVersion is not read
    /// (name the version as VERSION).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Reach the cluster with this kubeconfig [default: <root>/etc/kubernetes/admin.conf].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// Flags of `upgrade apply` and `upgrade node`'s.
#[derive(Debug, Args)]
pub(crate) struct UpgradeRunArgs {
    /// Renew each component's certificates as it is upgraded, and admin.conf's after them.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub certificate_renewal: bool,
    /// Upgrade the local etcd member too (after a snapshot).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub etcd_upgrade: bool,
    /// How long each component may take to come back with its new manifest before it is
    /// rolled back (Go duration; kubeadm's timeouts.upgradeManifests).
    #[arg(long, value_name = "DURATION", default_value = "5m0s")]
    pub upgrade_manifests_timeout: String,
    /// Phases to skip, with their children (e.g. `addon/kube-proxy`).
    #[arg(long, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
    /// Start over: ignore what an earlier run recorded in the journal.
    #[arg(long)]
    pub no_resume: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UpgradeApplyArgs {
    #[command(flatten)]
    pub target: UpgradeTargetArgs,
    #[command(flatten)]
    pub run: UpgradeRunArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Go on despite the version policy's skippable findings (a downgrade, kubelet skew); also
    /// implies --yes, as kubeadm's.
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UpgradeNodeArgs {
    #[command(flatten)]
    pub run: UpgradeRunArgs,
    /// Reach the cluster with this kubeconfig [default: admin.conf on a control plane,
    /// kubelet.conf on a worker].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// Flags of `doctor`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// Ask the cluster with this kubeconfig instead of the node's own (admin.conf on a control
    /// plane, kubelet.conf on a worker).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// Flags every workflow (`init`, `join`) and its phases take besides the configuration's
/// own: the file and whether to resume. They are `global` so that `init phase certs all
/// --config …` takes them after the phase name too.
#[derive(Debug, Args, Default)]
pub(crate) struct WorkflowArgs {
    /// A kubeadm configuration file (v1beta3 or v1beta4; Init/Cluster/JoinConfiguration, …).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Start over: ignore what an earlier run recorded in the journal.
    #[arg(long, global = true)]
    pub no_resume: bool,
}

/// Flags of `init` and its phases. The configuration's flags are declared once, by the
/// library ([`InitFlags`], with its `clap` feature), and parsed straight into it: the one
/// mapping from the command line to them is clap's, plus the global `--dry-run`
/// ([`InitArgs::to_flags`]). clap stays out of the library's other layers, and a library user
/// without a command line builds the struct as before.
#[derive(Debug, Args, Default)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    pub workflow: WorkflowArgs,
    #[command(flatten)]
    pub flags: InitFlags,
}

impl InitArgs {
    /// The flags as typed, with the global `--dry-run`; the configuration layer validates
    /// them and names them in its errors.
    pub(crate) fn to_flags(&self, global: &GlobalArgs) -> InitFlags {
        InitFlags {
            dry_run: global.dry_run,
            ..self.flags.clone()
        }
    }
}

/// Flags of `join` and its phases; declared by the library like init's ([`JoinFlags`]).
#[derive(Debug, Args, Default)]
pub(crate) struct JoinArgs {
    #[command(flatten)]
    pub workflow: WorkflowArgs,
    #[command(flatten)]
    pub flags: JoinFlags,
}

impl JoinArgs {
    /// The flags as typed, with the global `--dry-run`.
    pub(crate) fn to_flags(&self, global: &GlobalArgs) -> JoinFlags {
        JoinFlags {
            dry_run: global.dry_run,
            ..self.flags.clone()
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a bootstrap token on the cluster.
    Create(TokenCreateArgs),
    /// List the cluster's bootstrap tokens.
    List(TokenClusterArgs),
    /// Delete bootstrap tokens.
    Delete {
        /// Token ids (abcdef) or whole tokens (abcdef.0123456789abcdef) to delete.
        #[arg(required = true, value_name = "TOKEN_ID|TOKEN")]
        tokens: Vec<Secret>,
        #[command(flatten)]
        cluster: TokenClusterArgs,
    },
    /// Print a new random token (nothing is created on the cluster).
    Generate,
}

/// How `token` commands reach the cluster.
#[derive(Debug, Args)]
pub(crate) struct TokenClusterArgs {
    /// The kubeconfig to talk to the cluster with [default: <root>/etc/kubernetes/admin.conf].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct TokenCreateArgs {
    /// The token to create ([a-z0-9]{6}.[a-z0-9]{16}); a random one when absent.
    #[arg(value_name = "TOKEN")]
    pub token: Option<Secret>,
    /// A kubeadm configuration file (v1beta3 or v1beta4): every token its InitConfiguration's
    /// bootstrapTokens lists is created, with its token, ttl/expires, usages, groups and
    /// description (one random default token when it lists none), and the first is printed,
    /// as kubeadm's `token create --config`. It cannot be combined with TOKEN or the token's
    /// flags (kubeadm: "can not mix '--config' with arguments").
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["token", "ttl", "usages", "groups", "description", "certificate_key"]
    )]
    pub config: Option<PathBuf>,
    /// How long the token is valid (Go duration; 0 = never expires).
    #[arg(long, value_name = "DURATION", default_value = "24h0m0s")]
    pub ttl: String,
    /// What the token may be used for: signing, authentication.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "USAGE,...",
        default_value = "signing,authentication"
    )]
    pub usages: Vec<String>,
    /// Extra groups the token authenticates as (system:bootstrappers:...).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "GROUP,...",
        default_value = "system:bootstrappers:kubeadm:default-node-token"
    )]
    pub groups: Vec<String>,
    /// A human-readable note on what the token is for.
    #[arg(long)]
    pub description: Option<String>,
    /// Print the whole `kubestrap join` command instead of the token alone.
    #[arg(long)]
    pub print_join_command: bool,
    /// With --print-join-command: print the control-plane join instead, with this key (the
    /// one `init phase upload-certs --upload-certs` printed, 64 hex digits), as kubeadm does.
    #[arg(long, value_name = "KEY", requires = "print_join_command")]
    pub certificate_key: Option<CertificateKey>,
    #[command(flatten)]
    pub cluster: TokenClusterArgs,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CertsCommand {
    /// Show when each certificate and kubeconfig expires.
    CheckExpiration(PkiArgs),
    /// Renew certificates with their current subject and SANs, signed by the unchanged CA;
    /// renews the certificates embedded in kubeconfigs too.
    Renew {
        /// `all`, a certificate (`apiserver`, `etcd-server`, …) or a kubeconfig (`admin.conf`, …).
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        pki: PkiArgs,
    },
    /// Write keys and CSRs for every certificate and kubeconfig, for an external CA to sign.
    GenerateCsr(PkiArgs),
    /// Print a new random key for `--upload-certs` (32 bytes, hex).
    CertificateKey,
}

/// Where the cluster's PKI is and what it is for: the subset of init's flags that the
/// certificates depend on.
#[derive(Debug, Args, Default)]
pub(crate) struct PkiArgs {
    /// A kubeadm configuration file (InitConfiguration, ClusterConfiguration; v1beta3 or v1beta4).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where certificates are kept (under --root).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
    /// This node's name (default: the hostname).
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// The IP address this node's API server advertises.
    #[arg(long, value_name = "IP")]
    pub apiserver_advertise_address: Option<String>,
    /// The port this node's API server binds to.
    #[arg(long, value_name = "PORT")]
    pub apiserver_bind_port: Option<u16>,
    /// A stable address (host[:port]) for all control-plane nodes.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub control_plane_endpoint: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum KubeconfigCommand {
    /// Print a kubeconfig for a new user, signed by the cluster CA.
    User {
        /// The user's name (the certificate's CN).
        #[arg(long, value_name = "NAME")]
        client_name: String,
        /// A group of the user (the certificate's O).
        #[arg(long = "org", value_name = "ORG")]
        orgs: Vec<String>,
        /// How long the certificate is valid (Go duration, e.g. 8760h); default: certificateValidityPeriod.
        #[arg(long, value_name = "DURATION")]
        validity_period: Option<String>,
        #[command(flatten)]
        pki: PkiArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print kubeadm's default configuration.
    #[command(subcommand)]
    Print(PrintWhat),
    /// The images a cluster of the configured release runs.
    #[command(subcommand)]
    Images(ImagesWhat),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ImagesWhat {
    /// Print the images kubestrap deploys, as `kubeadm config images list` of the same release
    /// prints them (one per line; with `-o json`, kubeadm's Images object).
    List(ImagesListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImagesListArgs {
    /// A kubeadm configuration file; its ClusterConfiguration is used.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The Kubernetes release [default: kubernetesVersion of --config, else v1.37.0].
    #[arg(long, value_name = "VERSION")]
    pub kubernetes_version: Option<String>,
    /// The registry to pull from [default: imageRepository of --config, else the release's
    /// default: k8s.gcr.io up to v1.22.16, v1.23.14 and v1.24.8, registry.k8s.io after].
    #[arg(long, value_name = "REPOSITORY")]
    pub image_repository: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PrintWhat {
    /// The default InitConfiguration and ClusterConfiguration (v1beta4).
    InitDefaults,
    /// The default JoinConfiguration (v1beta4).
    JoinDefaults,
}

/// Flags of `reset` and its phases. They are `global` so that `reset phase cleanup-node
/// --force …` takes them after the phase name too.
#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'f', global = true)]
    pub force: bool,
    /// Where certificates are kept (under --root); only the files the PKI phases make are
    /// removed there [default: certificatesDir of --config, else of the cluster's
    /// kubeadm-config (read with admin.conf), else /etc/kubernetes/pki].
    #[arg(long, value_name = "DIR", global = true)]
    pub cert_dir: Option<PathBuf>,
    /// A kubeadm configuration file whose ClusterConfiguration says where this node's
    /// certificates are (certificatesDir; it counts before the cluster's) and its etcd data
    /// (etcd.local.dataDir; the cluster's counts first), for when the cluster cannot be read.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Phases to skip (e.g. `remove-etcd-member`).
    #[arg(long, global = true, value_delimiter = ',', value_name = "PHASES")]
    pub skip_phases: Vec<String>,
    /// The container runtime whose pods cleanup-node stops and removes (under --root)
    /// [default: the endpoint in the kubelet's kubeadm-flags.env, else containerd's or
    /// CRI-O's socket where one exists].
    #[arg(long, value_name = "SOCKET", global = true)]
    pub cri_socket: Option<CriSocket>,
}

/// A phase tree's shape, for building `phase` subcommands.
pub(crate) struct PhaseCommandTree {
    pub name: &'static str,
    pub help: &'static str,
    pub children: Vec<PhaseCommandTree>,
}

fn phase_subcommands(cmd: clap::Command, nodes: &[PhaseCommandTree]) -> clap::Command {
    nodes.iter().fold(cmd, |cmd, node| {
        let mut sub = clap::Command::new(node.name).about(node.help);
        if !node.children.is_empty() {
            sub = sub.subcommand(
                clap::Command::new("all").about(format!("Run every {} phase", node.name)),
            );
            sub = phase_subcommands(sub, &node.children);
        }
        cmd.subcommand(sub)
    })
}

/// The phase trees of the workflows, for their `phase` subcommands.
pub(crate) struct PhaseTrees {
    pub init: Vec<PhaseCommandTree>,
    pub join: Vec<PhaseCommandTree>,
    pub reset: Vec<PhaseCommandTree>,
}

/// The full command: the derived one plus the generated phase subcommands.
pub(crate) fn command(trees: &PhaseTrees) -> clap::Command {
    let PhaseTrees { init, join, reset } = trees;
    let phase = |cmd: clap::Command, nodes| {
        phase_subcommands(cmd.subcommand_value_name("PHASE"), nodes).subcommand_required(true)
    };
    Cli::command()
        .mut_subcommand("init", |c| {
            c.subcommand(phase(
                clap::Command::new("phase").about(
                    "Run one init phase or group; it runs even if an earlier run completed it",
                ),
                init,
            ))
        })
        .mut_subcommand("phase", |c| phase(c, init))
        .mut_subcommand("join", |c| {
            c.subcommand(phase(
                clap::Command::new("phase").about("Run one join phase or group"),
                join,
            ))
        })
        .mut_subcommand("reset", |c| {
            c.subcommand(phase(
                clap::Command::new("phase").about("Run one reset phase"),
                reset,
            ))
        })
}

/// What was parsed: the derived CLI, and the phase path for `… phase …` commands.
pub(crate) struct Parsed {
    pub cli: Cli,
    /// `Some("certs/ca")` for `init phase certs ca`; `Some("certs")` for `… certs all`.
    pub phase: Option<String>,
}

pub(crate) fn parse(trees: &PhaseTrees) -> Result<Parsed, clap::Error> {
    parse_from(trees, std::env::args_os())
}

fn parse_from<I, T>(trees: &PhaseTrees, args: I) -> Result<Parsed, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = command(trees);
    let matches = cmd.try_get_matches_from_mut(args)?;
    let parsed = from_matches(&matches)?;
    let output = parsed.cli.global.output;
    if output.is_version_only() && !matches!(parsed.cli.command, Command::Version) {
        let name = output
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        // A usage error (exit 2) naming the flag, as clap's own for a value it does not know.
        return Err(cmd.error(
            clap::error::ErrorKind::InvalidValue,
            format!(
                "invalid value '{name}' for '--output <FORMAT>': only `kubestrap version` prints {name}; this command takes text or json"
            ),
        ));
    }
    Ok(parsed)
}

pub(crate) fn from_matches(matches: &ArgMatches) -> Result<Parsed, clap::Error> {
    let cli = Cli::from_arg_matches(matches)?;
    let phase = match matches.subcommand() {
        Some(("phase", m)) => phase_path(m),
        Some(("init" | "join" | "reset", m)) => m.subcommand_matches("phase").and_then(phase_path),
        _ => None,
    };
    Ok(Parsed { cli, phase })
}

fn phase_path(mut m: &ArgMatches) -> Option<String> {
    let mut parts = Vec::new();
    while let Some((name, sub)) = m.subcommand() {
        if name != "all" {
            parts.push(name);
        }
        m = sub;
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `{:?}` of the parsed command line (a debug log, a panic message) must not carry the
    /// secrets the user typed; the values themselves still reach the workflows.
    #[test]
    fn debug_of_parsed_flags_hides_secrets() {
        let token = "abcdef.0123456789abcdef";
        let discovery = "ghijkl.0123456789abcdef";
        let tls = "mnopqr.0123456789abcdef";
        let key = "8f1ca3c1b0e5d6a7f8e9d0c1b2a3948576a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1";
        let cli = Cli::try_parse_from([
            "kubestrap",
            "join",
            "127.0.0.51:6443",
            "--token",
            token,
            "--discovery-token",
            discovery,
            "--tls-bootstrap-token",
            tls,
            "--certificate-key",
            key,
        ])
        .expect("valid command line");
        let shown = format!("{cli:?}");
        for secret in [token, discovery, tls, key] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        let Command::Join(join) = &cli.command else {
            panic!("parsed as {shown}");
        };
        assert_eq!(join.flags.token.as_ref().map(Secret::expose), Some(token));
        assert_eq!(
            join.flags.certificate_key.as_ref().map(Secret::expose),
            Some(key)
        );

        let cli = Cli::try_parse_from(["kubestrap", "token", "delete", token]).expect("valid");
        assert!(!format!("{cli:?}").contains(token));
    }

    /// clap's own consistency checks (unique names, a version flag not shadowed), for every
    /// subcommand: they run only when a subcommand is parsed, so a test parses none.
    #[test]
    fn the_command_line_is_consistent() {
        command(&no_trees()).debug_assert();
    }

    fn no_trees() -> PhaseTrees {
        PhaseTrees {
            init: Vec::new(),
            join: Vec::new(),
            reset: Vec::new(),
        }
    }

    /// `-o short` and `-o yaml` are kubeadm's `version` forms: any other command refuses them
    /// as a usage error naming the flag, and an unknown form is refused everywhere.
    #[test]
    fn version_only_output_forms_are_usage_errors_elsewhere() {
        for form in ["short", "yaml", "json", "text"] {
            let parsed = parse_from(&no_trees(), ["kubestrap", "version", "-o", form]);
            assert!(parsed.is_ok(), "version -o {form}");
        }
        for form in ["short", "yaml"] {
            let err = parse_from(&no_trees(), ["kubestrap", "token", "generate", "-o", form])
                .err()
                .expect("refused");
            assert_eq!(err.exit_code(), 2);
            let shown = err.to_string();
            assert!(
                shown.contains("--output") && shown.contains(form),
                "{shown}"
            );
        }
        let err = parse_from(&no_trees(), ["kubestrap", "version", "-o", "wide"])
            .err()
            .expect("refused");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--output"), "{err}");
    }
}
