//! `policy-check [DIR]`: validates the Cedar policies of DIR (default `infra/policies`) against
//! its schema, strictly, and prints the set's version. Exit 0 when valid, 1 when not, 2 when DIR
//! cannot be read. `make policy-check` runs it; so does `make test`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clavis_policy::{PolicyEngine, PolicyFile};

fn read_dir(dir: &Path) -> std::io::Result<Vec<PolicyFile>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".cedar") || name.ends_with(".cedarschema") {
            files.push(PolicyFile::new(name, std::fs::read_to_string(&path)?));
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("infra/policies"));
    let files = match read_dir(&dir) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("policy-check: cannot read {}: {e}", dir.display());
            return ExitCode::from(2);
        }
    };
    // The stage does not change validity: the schema types it as any string.
    match PolicyEngine::load(&files, "check") {
        Ok(engine) => {
            println!(
                "policy-check: {} policies in {} files of {} validate; policy_version {}",
                engine.len(),
                files.len(),
                dir.display(),
                engine.version()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("policy-check: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
