//! The policy files: those shipped in `infra/policies/` (compiled in) and the version a set of
//! files hashes to.

use sha2::{Digest, Sha256};

/// The schema's file name; every other file is a policy file (`*.cedar`).
pub const SCHEMA_FILE: &str = "clavis.cedarschema";

/// One file of a policy set: its name in the policy folder and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// File name, e.g. `guardrails.cedar`.
    pub name: String,
    /// Its contents.
    pub text: String,
}

impl PolicyFile {
    /// A file from its name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// Whether the file is the schema.
    pub fn is_schema(&self) -> bool {
        self.name == SCHEMA_FILE
    }
}

/// The files of `infra/policies/`, as built into every function that decides. A test holds
/// this list to the folder, so a policy added there is never silently left out.
const SHIPPED: [(&str, &str); 6] = [
    (
        SCHEMA_FILE,
        include_str!("../../../infra/policies/clavis.cedarschema"),
    ),
    (
        "anomaly.cedar",
        include_str!("../../../infra/policies/anomaly.cedar"),
    ),
    (
        "approvals.cedar",
        include_str!("../../../infra/policies/approvals.cedar"),
    ),
    (
        "guardrails.cedar",
        include_str!("../../../infra/policies/guardrails.cedar"),
    ),
    (
        "risk.cedar",
        include_str!("../../../infra/policies/risk.cedar"),
    ),
    (
        "roles.cedar",
        include_str!("../../../infra/policies/roles.cedar"),
    ),
];

/// The shipped files.
pub fn shipped() -> Vec<PolicyFile> {
    SHIPPED
        .iter()
        .map(|(name, text)| PolicyFile::new(*name, *text))
        .collect()
}

/// The version of a set of files: the first 16 hex digits of SHA-256 over every file, in name
/// order, as `name NUL text NUL`. Any change to any file (a policy, a comment, the schema)
/// is a new version; the order the files were read in is not.
pub fn version(files: &[PolicyFile]) -> String {
    let mut sorted: Vec<&PolicyFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut h = Sha256::new();
    for f in sorted {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(h.finalize());
    digest[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_is_the_policy_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/policies");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("infra/policies")
            .map(|e| e.expect("entry").path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).expect("readable"))
            })
            .collect();
        on_disk.sort();
        let mut shipped: Vec<(String, String)> =
            shipped().into_iter().map(|f| (f.name, f.text)).collect();
        shipped.sort();
        assert_eq!(
            shipped.iter().map(|f| &f.0).collect::<Vec<_>>(),
            on_disk.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "every file of infra/policies is compiled in (files.rs SHIPPED)"
        );
        assert_eq!(shipped, on_disk);
    }

    #[test]
    fn any_change_is_a_new_version_and_order_is_not() {
        let files = shipped();
        let v = version(&files);
        assert_eq!(v.len(), 16);
        let mut reversed = files.clone();
        reversed.reverse();
        assert_eq!(version(&reversed), v);
        let mut edited = files.clone();
        edited[1].text.push(' ');
        assert_ne!(version(&edited), v);
        let mut renamed = files;
        renamed[1].name.push('x');
        assert_ne!(version(&renamed), v);
    }
}
