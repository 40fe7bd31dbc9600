//! The alarms in `template.yaml` and `docs/runbooks/` in step: every alarm goes to the alarm
//! topic (when it fires and when it clears) and names a runbook page that exists and says what
//! it means, how to confirm, contain, recover and verify; every page is named by an alarm or is
//! an incident playbook; the api is watched by what it answers, not by Lambda errors it never
//! raises. Reads files only: no stack needed.

use std::path::Path;

use serde_yaml_ng::Value;

const SECTIONS: [&str; 5] = [
    "## What it means",
    "## Confirm",
    "## Contain",
    "## Recover",
    "## Verify",
];
const PLAYBOOKS: [&str; 3] = [
    "compromised-credential",
    "compromised-signing-key",
    "lost-operator",
];

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("template.yaml")).unwrap())
        .unwrap()
}

/// `(logical id, properties)` of every alarm.
fn alarms() -> Vec<(String, Value)> {
    template()["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r["Properties"].clone()))
        .collect()
}

/// Whether `value` is `!Ref <target>`.
fn is_ref_to(value: &Value, target: &str) -> bool {
    match value {
        Value::Tagged(tagged) => tagged.tag == "Ref" && tagged.value == target,
        _ => false,
    }
}

/// The runbook page an alarm's description names (`docs/runbooks/<page>.md`).
fn runbook_of(properties: &Value) -> String {
    let description = properties["AlarmDescription"].as_str().unwrap_or_default();
    let start = description
        .find("docs/runbooks/")
        .unwrap_or_else(|| panic!("no runbook named in {description:?}"))
        + "docs/runbooks/".len();
    let end = description[start..].find(".md").expect(".md") + start;
    description[start..end].to_owned()
}

#[test]
fn every_alarm_reaches_the_alarm_topic_and_names_a_runbook_that_says_what_to_do() {
    let alarms = alarms();
    assert!(alarms.len() >= 19, "{} alarms", alarms.len());
    let index = std::fs::read_to_string(root().join("docs/runbooks/README.md")).unwrap();
    for (id, properties) in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let listed = properties[actions]
                .as_sequence()
                .cloned()
                .unwrap_or_default();
            assert!(
                listed.iter().any(|a| is_ref_to(a, "AlarmTopic")),
                "{id}: {actions} do not reach AlarmTopic"
            );
        }
        let page = runbook_of(properties);
        let text = std::fs::read_to_string(root().join(format!("docs/runbooks/{page}.md")))
            .unwrap_or_else(|e| panic!("{id}: docs/runbooks/{page}.md: {e}"));
        for section in SECTIONS {
            assert!(text.contains(section), "{page}.md lacks {section:?}");
        }
        assert!(
            index.contains(&format!("`{id}`")),
            "the runbook index lacks {id}"
        );
    }
}

#[test]
fn every_runbook_page_is_named_by_an_alarm_or_is_a_playbook() {
    let named: std::collections::BTreeSet<String> =
        alarms().iter().map(|(_, p)| runbook_of(p)).collect();
    for entry in std::fs::read_dir(root().join("docs/runbooks")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(page) = name.strip_suffix(".md") else {
            continue;
        };
        if page == "README" {
            continue;
        }
        assert!(
            named.contains(page) || PLAYBOOKS.contains(&page),
            "docs/runbooks/{name} is named by no alarm"
        );
    }
    for playbook in PLAYBOOKS {
        let text =
            std::fs::read_to_string(root().join(format!("docs/runbooks/{playbook}.md"))).unwrap();
        for section in SECTIONS {
            assert!(text.contains(section), "{playbook}.md lacks {section:?}");
        }
    }
}

#[test]
fn the_api_is_watched_by_what_it_answers() {
    let alarms = alarms();
    let api: Vec<&Value> = alarms
        .iter()
        .filter(|(id, _)| id.starts_with("Api"))
        .map(|(_, p)| p)
        .collect();
    // Faults are answered as 503 problems, never raised as Lambda errors: they are watched by
    // what API Gateway saw and by the api's own answers. The function's `Errors` only count
    // crashes and timeouts, so an alarm on them may exist, but never alone.
    assert!(
        api.iter()
            .any(|p| p["Namespace"] == "AWS/ApiGateway" && p["MetricName"] == "5xx")
    );
    assert!(
        api.iter()
            .any(|p| p["Namespace"] == "AWS/ApiGateway" && p["MetricName"] == "Latency")
    );
    let reads_its_answers = |p: &&Value| {
        p["Metrics"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|m| m["MetricStat"]["Metric"]["MetricName"] == "ApiAnswers")
    };
    assert!(api.iter().any(reads_its_answers));
    for p in &api {
        if p["Namespace"] == "AWS/Lambda" && p["MetricName"] == "Errors" {
            let description = p["AlarmDescription"].as_str().unwrap_or_default();
            assert!(description.contains("crash"), "{description}");
        }
    }
}
