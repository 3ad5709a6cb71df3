//! The phase tree, in kubeadm's shape: groups (`certs`) of leaves (`certs/ca`), run in order;
//! `all` runs a group; `--skip-phases` disables a phase and its children. A workflow may name
//! a few leaves that a run takes first ([`PhaseTree::run_first`]); the tree's shape, and so
//! what `init phase certs all` selects, stays kubeadm's.

use super::step::Step;
use crate::contract::diagnostics::Diagnostic;

pub enum Node<C: Sync> {
    Leaf(Box<dyn Step<C>>),
    Group {
        name: &'static str,
        help: &'static str,
        children: Vec<Node<C>>,
    },
}

impl<C: Sync> Node<C> {
    pub fn leaf(step: impl Step<C> + 'static) -> Self {
        Self::Leaf(Box::new(step))
    }

    pub fn group(name: &'static str, help: &'static str, children: Vec<Node<C>>) -> Self {
        Self::Group {
            name,
            help,
            children,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Leaf(s) => s.name(),
            Self::Group { name, .. } => name,
        }
    }

    pub fn help(&self) -> &'static str {
        match self {
            Self::Leaf(s) => s.help(),
            Self::Group { help, .. } => help,
        }
    }

    pub fn children(&self) -> &[Node<C>] {
        match self {
            Self::Leaf(_) => &[],
            Self::Group { children, .. } => children,
        }
    }
}

/// A workflow's phases (`init` or `join`).
pub struct PhaseTree<C: Sync> {
    pub workflow: &'static str,
    pub nodes: Vec<Node<C>>,
    /// Leaves (full paths) that a run takes before all others, in this order; the rest follow
    /// in tree order. Init uses it to start the kubelet as soon as the few files it needs
    /// exist, so that the kubelet's boot hides the making of the rest of the PKI. A path that
    /// names no leaf is ignored; each workflow's tests check its own list.
    pub run_first: &'static [&'static str],
}

/// A leaf with its full name (`certs/ca`).
pub struct Leaf<'t, C: Sync> {
    pub path: String,
    pub step: &'t dyn Step<C>,
}

impl<C: Sync> PhaseTree<C> {
    /// Every leaf in run order: [`PhaseTree::run_first`], then the others in tree order.
    pub fn leaves(&self) -> Vec<Leaf<'_, C>> {
        let mut rest = self.leaves_in_tree_order();
        let mut out = Vec::with_capacity(rest.len());
        for first in self.run_first {
            if let Some(i) = rest.iter().position(|l| l.path == *first) {
                out.push(rest.remove(i));
            }
        }
        out.append(&mut rest);
        out
    }

    /// Every leaf in the tree's own order (how `--help` lists them).
    fn leaves_in_tree_order(&self) -> Vec<Leaf<'_, C>> {
        fn walk<'t, C: Sync>(prefix: &str, nodes: &'t [Node<C>], out: &mut Vec<Leaf<'t, C>>) {
            for node in nodes {
                let path = if prefix.is_empty() {
                    node.name().to_string()
                } else {
                    format!("{prefix}/{}", node.name())
                };
                match node {
                    Node::Leaf(step) => out.push(Leaf {
                        path,
                        step: step.as_ref(),
                    }),
                    Node::Group { children, .. } => walk(&path, children, out),
                }
            }
        }
        let mut out = Vec::new();
        walk("", &self.nodes, &mut out);
        out
    }

    /// Every phase name a user may write: groups and leaves, with full paths.
    pub fn names(&self) -> Vec<String> {
        fn walk<C: Sync>(prefix: &str, nodes: &[Node<C>], out: &mut Vec<String>) {
            for node in nodes {
                let path = if prefix.is_empty() {
                    node.name().to_string()
                } else {
                    format!("{prefix}/{}", node.name())
                };
                out.push(path.clone());
                walk(&path, node.children(), out);
            }
        }
        let mut out = Vec::new();
        walk("", &self.nodes, &mut out);
        out
    }

    /// Parses a user's phase name (`certs`, `certs/ca`, `certs/all`) into the path it selects.
    /// Names are matched case-insensitively, as kubeadm does.
    pub fn parse_name(&self, name: &str) -> Result<String, UnknownPhase> {
        let wanted = name.trim().trim_end_matches("/all").to_ascii_lowercase();
        self.names()
            .into_iter()
            .find(|n| *n == wanted)
            .ok_or_else(|| UnknownPhase {
                name: name.to_string(),
                workflow: self.workflow,
                known: self.names(),
            })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown {workflow} phase {name:?}; known phases: {}", known.join(", "))]
pub struct UnknownPhase {
    pub name: String,
    pub workflow: &'static str,
    pub known: Vec<String>,
}

/// The message lists the known phases; what to check depends on where the name was written.
impl Diagnostic for UnknownPhase {}

/// Whether `path` is `selector` or lies inside it (`certs/ca` is inside `certs`).
pub fn within(path: &str, selector: &str) -> bool {
    path == selector
        || path
            .strip_prefix(selector)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::within;

    #[test]
    fn within_matches_whole_segments_only() {
        assert!(within("certs/ca", "certs"));
        assert!(within("certs", "certs"));
        assert!(!within("certs-x/ca", "certs"));
        assert!(!within("certs", "certs/ca"));
    }
}
