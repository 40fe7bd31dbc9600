//! A policy set that does not hold together is refused, with a message that names the fault:
//! what `make policy-check` (and so CI) relies on.

use clavis_policy::files::{self, PolicyFile};
use clavis_policy::{PolicyEngine, PolicyError};

fn with_extra(name: &str, text: &str) -> Vec<PolicyFile> {
    let mut files = files::shipped();
    files.push(PolicyFile::new(name, text));
    files
}

#[test]
fn a_policy_that_breaks_the_schema_is_refused() {
    let files = with_extra(
        "broken.cedar",
        r#"@id("uses-an-unknown-attribute")
permit (principal, action == Clavis::Action::"ReadClient", resource)
when { principal.is_superuser };"#,
    );
    match PolicyEngine::load(&files, "dev") {
        Err(PolicyError::Invalid(errors)) => {
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("uses-an-unknown-attribute")),
                "{errors:?}"
            )
        }
        other => panic!("expected a validation failure, got {other:?}"),
    }
}

#[test]
fn an_unknown_action_is_refused() {
    let files = with_extra(
        "broken.cedar",
        r#"@id("grants-nothing-real")
permit (principal, action == Clavis::Action::"MintAnything", resource);"#,
    );
    assert!(matches!(
        PolicyEngine::load(&files, "dev"),
        Err(PolicyError::Invalid(_))
    ));
}

#[test]
fn syntax_errors_missing_and_duplicate_ids_and_a_missing_schema_are_refused() {
    let syntax = with_extra(
        "broken.cedar",
        "permit (principal, action, resource) when {",
    );
    assert!(matches!(
        PolicyEngine::load(&syntax, "dev"),
        Err(PolicyError::Syntax { file, .. }) if file == "broken.cedar"
    ));
    let anonymous = with_extra("broken.cedar", "permit (principal, action, resource);");
    assert!(matches!(
        PolicyEngine::load(&anonymous, "dev"),
        Err(PolicyError::Identity { .. })
    ));
    let twice = with_extra(
        "broken.cedar",
        r#"@id("scope-ceiling") forbid (principal, action, resource);"#,
    );
    assert!(matches!(
        PolicyEngine::load(&twice, "dev"),
        Err(PolicyError::Identity { .. })
    ));
    let no_schema: Vec<PolicyFile> = files::shipped()
        .into_iter()
        .filter(|f| !f.is_schema())
        .collect();
    assert_eq!(
        PolicyEngine::load(&no_schema, "dev").unwrap_err(),
        PolicyError::NoSchema
    );
}

#[test]
fn the_check_command_fails_on_a_broken_folder_and_passes_the_shipped_one() {
    let bin = env!("CARGO_BIN_EXE_policy-check");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/policies");
    let ok = std::process::Command::new(bin)
        .arg(shipped)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains(&files::version(&files::shipped())), "{out}");

    let dir = std::env::temp_dir().join(format!("clavis-policy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in with_extra(
        "broken.cedar",
        r#"@id("typo") permit (principal, action == Clavis::Action::"ReadClient", resource) when { resource.ownr == "x" };"#,
    ) {
        std::fs::write(dir.join(&f.name), f.text).unwrap();
    }
    let failed = std::process::Command::new(bin).arg(&dir).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("typo"));
}

#[test]
fn an_unusable_approval_annotation_is_refused() {
    let files = with_extra(
        "broken.cedar",
        r#"@id("hold-forever") @approval_timeout_seconds("soon")
forbid (principal, action == Clavis::Action::"IssueWithoutApproval", resource);"#,
    );
    assert!(matches!(
        PolicyEngine::load(&files, "dev"),
        Err(PolicyError::Annotation { .. })
    ));
}
