//! Where a secret may be written: a new file only its owner can read, never one that exists.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{CliError, CliResult};

/// Creates `path` for writing, mode 0600, refusing a file that exists (a secret never
/// overwrites something, nor lands in a file others could already read). A stale temporary
/// of an interrupted run is the caller's to remove.
pub fn create_private(path: &Path) -> CliResult<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CliError::Usage(format!(
                "{} exists: a secret is only written to a new file",
                path.display()
            )),
            _ => CliError::Usage(format!("cannot create {}: {e}", path.display())),
        })
}

/// Writes `secret` and a newline to the new file `path` (see [`create_private`]).
pub fn write_secret(path: &Path, secret: &str) -> CliResult {
    fill(create_private(path)?, secret)
}

/// Writes `secret` and a newline into `file` (made by [`create_private`]) and syncs it.
pub fn fill(mut file: File, secret: &str) -> CliResult {
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_secret_goes_to_a_new_owner_only_file_and_never_over_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_secret(&path, "clv_test_x").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "clv_test_x\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let err = write_secret(&path, "clv_test_y").unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "clv_test_x\n");
    }
}
