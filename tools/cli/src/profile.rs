//! Profiles: which stack to talk to and as whom, kept in one file readable by its owner only.
//!
//! `$CLAVIS_CONFIG_DIR/profiles.json` (default `$XDG_CONFIG_HOME/clavis`, else
//! `~/.config/clavis`), created 0600 and replaced atomically. A profile holds the API URL,
//! the operator's client id and secret, and the last access token with its expiry, so a
//! command costs no token request while the token lasts. `CLAVIS_API_URL`,
//! `CLAVIS_CLIENT_ID` and `CLAVIS_CLIENT_SECRET`, all three set, stand in for a profile
//! (for CI), and nothing is written then.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, CliResult};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// One stack and operator.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// The API's base URL, without a trailing slash.
    pub api_url: String,
    /// The operator's client id.
    pub client_id: String,
    /// The operator credential's secret.
    pub client_secret: String,
    /// The last access token, while it may still be valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<CachedToken>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("api_url", &self.api_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// An access token and when it stops being valid (unix seconds).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedToken {
    /// The JWT.
    pub access_token: String,
    /// Its expiry, unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

/// The profiles file.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join("profiles.json"),
        }
    }

    /// The store where the environment says (see the module docs).
    pub fn from_env() -> CliResult<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = var("CLAVIS_CONFIG_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("clavis")))
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config").join("clavis")))
            .ok_or_else(|| {
                CliError::Usage("no place for profiles: set CLAVIS_CONFIG_DIR or HOME".to_owned())
            })?;
        Ok(Self::in_dir(&dir))
    }

    /// Where the profiles live.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> CliResult<File> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                CliError::Usage(format!(
                    "{} is not a profiles file ({e}); remove it and log in again",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(CliError::Usage(format!(
                "cannot read {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn write(&self, file: &File) -> CliResult {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".profiles.{}.tmp", std::process::id()));
        let bytes = serde_json::to_vec_pretty(file)
            .map_err(|e| CliError::Usage(format!("profiles not written: {e}")))?;
        // A temporary left by an interrupted run of this same pid is ours to replace.
        let _ = fs::remove_file(&tmp);
        {
            let mut out = crate::secret_file::create_private(&tmp)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// The profile `name`, if it exists.
    pub fn get(&self, name: &str) -> CliResult<Option<Profile>> {
        Ok(self.read()?.profiles.remove(name))
    }

    /// Stores `profile` as `name`, replacing any before.
    pub fn put(&self, name: &str, profile: Profile) -> CliResult {
        let mut file = self.read()?;
        file.profiles.insert(name.to_owned(), profile);
        self.write(&file)
    }

    /// Removes `name`; whether it existed.
    pub fn remove(&self, name: &str) -> CliResult<bool> {
        let mut file = self.read()?;
        let existed = file.profiles.remove(name).is_some();
        if existed {
            self.write(&file)?;
        }
        Ok(existed)
    }

    /// The names of the stored profiles.
    pub fn names(&self) -> CliResult<Vec<String>> {
        Ok(self.read()?.profiles.into_keys().collect())
    }
}

/// A profile from the three `CLAVIS_*` variables, when all are set.
pub fn from_env_vars() -> Option<Profile> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Profile {
        api_url: var("CLAVIS_API_URL")?.trim_end_matches('/').to_owned(),
        client_id: var("CLAVIS_CLIENT_ID")?,
        client_secret: var("CLAVIS_CLIENT_SECRET")?,
        token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn profile() -> Profile {
        Profile {
            api_url: "http://127.0.0.1:9000/lambda-url/api".into(),
            client_id: "cli_01".into(),
            client_secret: "clv_test_secret".into(),
            token: None,
        }
    }

    #[test]
    fn profiles_round_trip_in_a_file_only_its_owner_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_dir(&dir.path().join("nested"));
        assert_eq!(store.get("default").unwrap(), None);
        store.put("default", profile()).unwrap();
        store.put("prod", profile()).unwrap();
        assert_eq!(store.get("default").unwrap(), Some(profile()));
        assert_eq!(store.names().unwrap(), ["default", "prod"]);
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(store.remove("prod").unwrap());
        assert!(!store.remove("prod").unwrap());
        assert_eq!(store.names().unwrap(), ["default"]);
    }

    #[test]
    fn a_damaged_file_is_a_usage_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_dir(dir.path());
        fs::write(store.path(), "{not json").unwrap();
        let err = store.get("default").unwrap_err();
        assert!(
            matches!(err, CliError::Usage(ref m) if m.contains("log in again")),
            "{err}"
        );
    }

    #[test]
    fn debug_output_never_shows_the_secret_or_the_token() {
        let mut p = profile();
        p.token = Some(CachedToken {
            access_token: "eyJhbGciOi.secret".into(),
            expires_at: 1,
        });
        let text = format!("{p:?} {:?}", p.token);
        assert!(
            !text.contains("clv_test_secret") && !text.contains("eyJ"),
            "{text}"
        );
    }
}
