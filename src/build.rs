//! Build script: names the commit in `outdial --version`.
//!
//! Reads `git rev-parse --short HEAD` when the build happens in a git checkout, and says
//! `unknown` otherwise (a tarball, a vendored copy). It lives under `src/` because the project's
//! top level holds only Cargo.toml, src/, campaigns/, tests/, benches/ and README.md.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|hash| hash.trim().to_owned())
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=OUTDIAL_COMMIT={commit}");
    // A new commit moves HEAD (or the branch it names); rebuild then, and only then.
    if let Some(git_dir) = git_dir() {
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let Ok(text) = std::fs::read_to_string(&head)
            && let Some(reference) = text.trim().strip_prefix("ref: ")
        {
            // A ref lives in its own file or in packed-refs; watch whichever exists (a missing
            // path would make cargo rerun this script, and rebuild outdial, on every build).
            let common = common_dir(&git_dir);
            for path in [common.join(reference), common.join("packed-refs")] {
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
    }
    println!("cargo:rerun-if-changed=src/build.rs");
}

/// The checkout's git directory (a worktree's own, not always `.git/`).
fn git_dir() -> Option<std::path::PathBuf> {
    let out = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(Path::new(dir.trim()).to_owned())
}

/// Where branches live: the main repository's git directory for a linked worktree.
fn common_dir(git_dir: &Path) -> std::path::PathBuf {
    match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(common) => git_dir.join(common.trim()),
        Err(_) => git_dir.to_owned(),
    }
}
