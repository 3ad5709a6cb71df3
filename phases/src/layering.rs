//! The architecture, checked by reading the sources (a test, not a build step): the library's
//! imports only go down its layers (`contract` → `config` → `domain` → `phases` → `context` →
//! `doctor`),
//! no phase imports another phase, no two modules import each other (directly or round a
//! cycle), the engine in the binary sees only the contract, and no string constant is
//! defined twice. A layer that needs something from a sibling phase gets it moved down into
//! `domain` instead; these tests say which import broke the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The library's layers, lowest first.
const LAYERS: [&str; 7] = [
    "contract", "config", "domain", "phases", "context", "doctor", "upgrade",
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// A module of the library at the granularity the rules speak of: `("phases", "certs")`,
/// or `("context", "")` for a layer's own `mod.rs`.
type Unit = (String, String);

struct Source {
    /// Relative to the crate's `src/`.
    path: PathBuf,
    /// The code before any `#[cfg(test)]`, comments removed.
    code: String,
}

impl Source {
    fn unit(&self) -> Option<Unit> {
        let mut parts = self.path.iter().map(|p| p.to_string_lossy().into_owned());
        let layer = parts.next()?;
        let module = parts.next()?;
        rank(&layer)?;
        let module = module.trim_end_matches(".rs");
        let module = if module == "mod" { "" } else { module };
        Some((layer, module.to_string()))
    }
}

fn read_sources(root: &Path) -> Vec<Source> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<Source>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text =
                    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
                let code = before_tests
                    .lines()
                    .map(|l| match l.find("//") {
                        // Keep `https://` inside strings; a comment starts a line or follows code
                        // after whitespace.
                        Some(i) if i == 0 || l[..i].ends_with(char::is_whitespace) => &l[..i],
                        _ => l,
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                out.push(Source {
                    path: path.strip_prefix(root).expect("under root").to_path_buf(),
                    code,
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// Every path that follows `prefix::` in `code`, as segments; a group import is expanded
/// (`crate::{a::b, c::{d, e}}` gives `a::b`, `c::d` and `c::e`).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    fn ident(s: &[u8], i: &mut usize) -> Option<String> {
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
            *i += 1;
        }
        (start < *i).then(|| String::from_utf8_lossy(&s[start..*i]).into_owned())
    }
    fn skip_ws(s: &[u8], i: &mut usize) {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    /// Parses a path (or group) at `i`, after `base::`.
    fn path(s: &[u8], i: &mut usize, base: Vec<String>, out: &mut Vec<Vec<String>>) {
        skip_ws(s, i);
        if s.get(*i) == Some(&b'{') {
            *i += 1;
            loop {
                skip_ws(s, i);
                match s.get(*i) {
                    Some(b'}') | None => {
                        *i += 1;
                        return;
                    }
                    Some(b',') => *i += 1,
                    _ => {
                        let before = *i;
                        path(s, i, base.clone(), out);
                        if *i == before {
                            *i += 1;
                        }
                    }
                }
            }
        }
        let mut segs = base;
        while let Some(seg) = ident(s, i) {
            segs.push(seg);
            if s[*i..].starts_with(b"::") {
                *i += 2;
                if s.get(*i) == Some(&b'{') {
                    return path(s, i, segs, out);
                }
            } else {
                break;
            }
        }
        if !segs.is_empty() {
            out.push(segs);
        }
    }
    let s = code.as_bytes();
    let needle = format!("{prefix}::");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find(&needle) {
        let at = from + found;
        from = at + needle.len();
        let glued = at > 0 && {
            let c = s[at - 1];
            c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
        };
        if !glued {
            let mut i = from;
            path(s, &mut i, Vec::new(), &mut out);
        }
    }
    out
}

/// `lib.rs`'s shortcuts (`crate::HostFs`) and the layer each comes from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        for segs in paths_after(&line.replacen("pub use ", "crate::", 1), "crate") {
            if let (Some(first), Some(last)) = (segs.first(), segs.last()) {
                map.insert(last.clone(), first.clone());
            }
        }
    }
    map
}

/// The unit a `crate::…` path names, if it is inside a layer.
fn target(src: &Path, segs: &[String], shortcuts: &BTreeMap<String, String>) -> Option<Unit> {
    let first = segs.first()?;
    if rank(first).is_some() {
        let module = segs
            .get(1)
            .filter(|m| {
                let base = src.join(first).join(m);
                base.is_dir() || base.with_extension("rs").is_file()
            })
            .cloned()
            .unwrap_or_default();
        return Some((first.clone(), module));
    }
    let layer = shortcuts.get(first)?;
    rank(layer)?;
    Some((layer.clone(), String::new()))
}

/// The library's import graph between units, and each edge's first witness (file).
fn import_graph() -> BTreeMap<Unit, BTreeMap<Unit, PathBuf>> {
    let src = src_dir();
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let shortcuts = root_reexports(&lib);
    let mut graph: BTreeMap<Unit, BTreeMap<Unit, PathBuf>> = BTreeMap::new();
    for file in read_sources(&src) {
        let Some(from) = file.unit() else { continue };
        let edges = graph.entry(from.clone()).or_default();
        for segs in paths_after(&file.code, "crate") {
            if let Some(to) = target(&src, &segs, &shortcuts)
                && to != from
            {
                edges.entry(to).or_insert_with(|| file.path.clone());
            }
        }
    }
    graph
}

fn name((layer, module): &Unit) -> String {
    if module.is_empty() {
        layer.clone()
    } else {
        format!("{layer}::{module}")
    }
}

#[test]
fn imports_only_go_down_the_layers() {
    let mut wrong = Vec::new();
    for (from, edges) in import_graph() {
        for (to, file) in edges {
            if rank(&to.0) > rank(&from.0) {
                wrong.push(format!(
                    "{}: {} imports {}",
                    file.display(),
                    name(&from),
                    name(&to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "upward imports:\n{}", wrong.join("\n"));
}

#[test]
fn no_phase_imports_another_phase() {
    let mut wrong = Vec::new();
    for (from, edges) in import_graph() {
        for (to, file) in edges {
            if from.0 == "phases" && to.0 == "phases" && !to.1.is_empty() && !from.1.is_empty() {
                wrong.push(format!(
                    "{}: {} imports {}",
                    file.display(),
                    name(&from),
                    name(&to)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "phase-to-phase imports (move what they share into domain):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_cycle() {
    let graph = import_graph();
    // A layer's mod.rs declares its children; its edges to them are declarations, not uses.
    let uses = |from: &Unit, to: &Unit| !(from.0 == to.0 && from.1.is_empty());
    fn reach(
        graph: &BTreeMap<Unit, BTreeMap<Unit, PathBuf>>,
        uses: &dyn Fn(&Unit, &Unit) -> bool,
        start: &Unit,
    ) -> BTreeSet<Unit> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.clone()];
        while let Some(u) = stack.pop() {
            for to in graph.get(&u).into_iter().flat_map(|e| e.keys()) {
                if uses(&u, to) && seen.insert(to.clone()) {
                    stack.push(to.clone());
                }
            }
        }
        seen
    }
    let cyclic: Vec<String> = graph
        .keys()
        .filter(|u| reach(&graph, &uses, u).contains(*u))
        .map(name)
        .collect();
    assert!(cyclic.is_empty(), "modules on an import cycle: {cyclic:?}");
}

#[test]
fn the_engine_sees_only_the_contract() {
    let src = src_dir();
    let lib = fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let shortcuts = root_reexports(&lib);
    let engine = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/engine");
    let mut wrong = Vec::new();
    for file in read_sources(&engine) {
        for segs in paths_after(&file.code, "kubestrap_phases") {
            let layer = segs
                .first()
                .map(|s| shortcuts.get(s).unwrap_or(s).as_str())
                .unwrap_or_default();
            if layer != "contract" && layer != "async_trait" {
                wrong.push(format!(
                    "src/engine/{}: {}",
                    file.path.display(),
                    segs.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the engine reaches past the contract:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_string_constant_is_defined_twice() {
    let crates = [
        src_dir(),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../src"),
    ];
    let mut by_value: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in &crates {
        for file in read_sources(dir) {
            for line in file.code.lines() {
                let line = line.trim_start();
                let line = line.strip_prefix("pub(crate) ").unwrap_or(line);
                let line = line.strip_prefix("pub ").unwrap_or(line);
                let Some(rest) = line.strip_prefix("const ") else {
                    continue;
                };
                let Some((name, value)) = rest.split_once(": &str = ") else {
                    continue;
                };
                let value = value.trim_end_matches(';');
                if value.starts_with('"') {
                    by_value.entry(value.to_string()).or_default().push(format!(
                        "{} in {}",
                        name,
                        file.path.display()
                    ));
                }
            }
        }
    }
    let twice: Vec<String> = by_value
        .into_iter()
        .filter(|(_, defs)| defs.len() > 1)
        .map(|(value, defs)| format!("{value}: {}", defs.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "defined more than once:\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // Group imports are expanded, glued names are not paths, and a phase's sideways import
    // would be seen.
    let paths = paths_after(
        "use crate::{domain::pki::{A, b::C}, phases::certs};\nlet x = krate::y;",
        "crate",
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        ["domain::pki::A", "domain::pki::b::C", "phases::certs"]
    );
    let graph = import_graph();
    assert!(graph.len() > 30, "every module is read: {}", graph.len());
    let phases = graph.keys().filter(|u| u.0 == "phases").count();
    assert!(phases >= 15, "phase modules found: {phases}");
}
