//! The `kubestrap` binary under test, and file trees (copied, listed).

use assert_cmd::Command;

/// The `kubestrap` binary cargo built for the integration tests of the root crate (the
/// tests of other crates have no such binary).
pub fn kubestrap() -> Command {
    Command::cargo_bin("kubestrap").expect("the kubestrap binary is built")
}

/// Copies the tree `from` to `to`, modes included.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
        let mode = e.metadata().unwrap().permissions().mode();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// Every file under `dir` (recursively), relative to it.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
