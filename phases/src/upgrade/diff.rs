//! The unified diff of a file an upgrade would change, as `kubeadm upgrade diff` prints a
//! manifest's (it uses go-difflib's unified diff with three lines of context).

use std::path::Path;

/// `before` → `after` of the file at `path`, with three lines of context; empty when equal.
pub fn unified_diff(path: &Path, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    let name = path.display().to_string();
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&name, &name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_line_shows_as_removed_and_added() {
        let d = unified_diff(Path::new("/m.yaml"), "a\nb\nc\n", "a\nB\nc\n");
        assert!(d.starts_with("--- /m.yaml\n+++ /m.yaml\n"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(unified_diff(Path::new("/m.yaml"), "x\n", "x\n"), "");
    }
}
