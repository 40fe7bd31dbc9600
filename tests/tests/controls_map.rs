//! `docs/controls.md` stays true: every test, policy and file it names exists. A control whose
//! proof was renamed or deleted fails here instead of pointing an auditor at nothing.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Every `code span` of the page's table rows.
fn spans(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| #"))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_reference_of_the_controls_map_exists() {
    let page = read("docs/controls.md");
    let (mut tests, mut policies, mut files) = (0, 0, 0);
    for span in spans(&page) {
        if let Some((path, function)) = span.split_once("::") {
            let source = read(path);
            assert!(
                source.contains(&format!("fn {function}(")),
                "docs/controls.md names {span}, which does not exist"
            );
            tests += 1;
        } else if let Some((path, id)) = span.split_once('#') {
            let source = read(path);
            assert!(
                source.contains(&format!("@id(\"{id}\")")),
                "docs/controls.md names policy {span}, which does not exist"
            );
            policies += 1;
        } else if span.contains('/') {
            assert!(
                root().join(span).exists(),
                "docs/controls.md names {span}, which does not exist"
            );
            files += 1;
        }
    }
    assert!(
        tests >= 20 && policies >= 8 && files >= 10,
        "{tests} tests, {policies} policies, {files} files"
    );
}
