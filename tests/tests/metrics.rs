//! Metrics: the functions write valid CloudWatch EMF documents with the catalogued names and
//! dimensions, tied to the invocation's Lambda request id and X-Ray trace id, and the alarms
//! and dashboard in `template.yaml` read exactly those metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use clavis_core::ids::ClientId;
use clavis_lambda::metrics::{CATALOGUE, MetricSpec};
use clavis_tests::{
    credential_request, function_name, get_as, inject_fault, invoke, issue_credential,
    operator_auth, register_client, revoke_request, settled_request, stack, stack_path,
    token_request,
};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

/// `(metric name, dimension keys)`: how CloudWatch tells one metric from another.
type MetricId = (String, BTreeSet<String>);

fn spec(name: &str) -> Option<&'static MetricSpec> {
    CATALOGUE.iter().find(|s| s.name == name)
}

fn id_of(spec: &MetricSpec) -> MetricId {
    (
        spec.name.to_owned(),
        spec.dimensions.iter().map(|d| (*d).to_owned()).collect(),
    )
}

// ------------------------------------------------------------------ template (no stack)

fn template() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The text of `!Sub` (or a plain string).
fn sub_text(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        other => other.as_str(),
    }
}

fn is_clavis_namespace(value: &Yaml) -> bool {
    sub_text(value) == Some("Clavis/${Stage}")
}

/// A metric with its dimension values, as an alarm reads it.
type Reading = (String, BTreeMap<String, String>);

fn id_of_reading((name, dims): &Reading) -> MetricId {
    (name.clone(), dims.keys().cloned().collect())
}

/// Every Clavis metric an alarm reads (directly or inside metric math), by alarm.
fn alarm_metrics() -> Vec<(String, Reading)> {
    let mut found = Vec::new();
    let resources = template()["Resources"].as_mapping().unwrap().clone();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let id = id.as_str().unwrap().to_owned();
        let p = &resource["Properties"];
        let mut metrics = vec![(
            p["Namespace"].clone(),
            p["MetricName"].clone(),
            p["Dimensions"].clone(),
        )];
        for m in p["Metrics"].as_sequence().into_iter().flatten() {
            let metric = &m["MetricStat"]["Metric"];
            metrics.push((
                metric["Namespace"].clone(),
                metric["MetricName"].clone(),
                metric["Dimensions"].clone(),
            ));
        }
        for (namespace, name, dimensions) in metrics {
            if !is_clavis_namespace(&namespace) {
                continue;
            }
            let dims = dimensions
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|d| {
                    let value = d["Value"].as_str().expect("a literal dimension value");
                    (d["Name"].as_str().unwrap().to_owned(), value.to_owned())
                })
                .collect();
            found.push((id.clone(), (name.as_str().unwrap().to_owned(), dims)));
        }
    }
    found
}

/// Every Clavis metric the dashboard graphs.
fn dashboard_metrics() -> Vec<MetricId> {
    let resources = template()["Resources"].clone();
    let body = sub_text(&resources["SloDashboard"]["Properties"]["DashboardBody"])
        .expect("the dashboard's body")
        .to_owned();
    // `${…}` stands for ARNs, queue names and numbers: any number keeps the JSON valid.
    let mut json = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        json.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        json.push('0');
        rest = &rest[end + 1..];
    }
    json.push_str(rest);
    let body: Value = serde_json::from_str(&json).expect("the dashboard body is JSON");
    let mut found = Vec::new();
    for widget in body["widgets"].as_array().unwrap() {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let row = row.as_array().unwrap();
            if row.first().and_then(Value::as_str) != Some("Clavis/0") {
                continue;
            }
            let name = row[1].as_str().unwrap().to_owned();
            let strings: Vec<&str> = row[2..].iter().filter_map(Value::as_str).collect();
            let keys = strings.chunks(2).map(|kv| kv[0].to_owned()).collect();
            found.push((name, keys));
        }
    }
    found
}

#[test]
fn alarms_read_catalogued_metrics_by_their_exact_dimensions() {
    let metrics = alarm_metrics();
    let alarms: BTreeSet<&str> = metrics.iter().map(|(a, _)| a.as_str()).collect();
    for slo in [
        "IssuanceSuccessSloAlarm",
        "IssuanceFaultsAlarm",
        "IssuanceLatencySloAlarm",
        "TokenLatencySloAlarm",
        "RevocationPropagationSloAlarm",
    ] {
        assert!(alarms.contains(slo), "{slo} reads no Clavis metric");
    }
    for (alarm, reading) in metrics {
        let (name, keys) = id_of_reading(&reading);
        let spec = spec(&name).unwrap_or_else(|| panic!("{alarm}: {name} is not emitted"));
        assert_eq!(
            id_of(spec).1,
            keys,
            "{alarm}: {name} is emitted with other dimensions"
        );
    }
}

#[test]
fn the_dashboard_graphs_catalogued_metrics_by_their_exact_dimensions() {
    let metrics = dashboard_metrics();
    assert!(metrics.len() >= 10, "{metrics:?}");
    for (name, keys) in metrics {
        let spec = spec(&name).unwrap_or_else(|| panic!("dashboard: {name} is not emitted"));
        assert_eq!(
            id_of(spec).1,
            keys,
            "dashboard: {name} has other dimensions"
        );
    }
}

// ------------------------------------------------------------------ logs (the local cloud)

/// Checks `doc` against the EMF specification and the catalogue; answers the metrics it
/// carries with their dimension values.
fn validated(doc: &Value) -> Vec<(MetricId, BTreeMap<String, String>)> {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some(), "Timestamp: {doc}");
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics");
    assert!(!directives.is_empty(), "{doc}");
    let mut carried = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("Namespace");
        assert!(namespace.starts_with("Clavis/"), "{namespace}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        assert!(!sets.is_empty(), "{doc}");
        for set in sets {
            let keys: BTreeSet<String> = set
                .as_array()
                .expect("a dimension set")
                .iter()
                .map(|k| k.as_str().expect("a dimension key").to_owned())
                .collect();
            assert!(keys.len() <= 30, "{doc}");
            let values: BTreeMap<String, String> = keys
                .iter()
                .map(|k| {
                    let v = doc[k]
                        .as_str()
                        .unwrap_or_else(|| panic!("{k} has no value: {doc}"));
                    assert!(!v.is_empty() && v.len() <= 1024, "{k}: {doc}");
                    (k.clone(), v.to_owned())
                })
                .collect();
            for metric in directive["Metrics"].as_array().expect("Metrics") {
                let name = metric["Name"].as_str().expect("Name");
                let spec = spec(name).unwrap_or_else(|| panic!("{name} is not catalogued"));
                assert_eq!(metric["Unit"], spec.cloudwatch_unit(), "{doc}");
                assert_eq!(id_of(spec).1, keys, "{name}: {doc}");
                let value = &doc[name];
                let numbers = match value {
                    Value::Array(values) => {
                        values.iter().all(Value::is_number) && !values.is_empty()
                    }
                    other => other.is_number(),
                };
                assert!(
                    numbers,
                    "{name} is not a number or a list of numbers: {doc}"
                );
                carried.push(((name.to_owned(), keys.clone()), values.clone()));
            }
        }
    }
    carried
}

/// The function log's lines as JSON (the local cloud writes every function to one file).
fn log_lines() -> Vec<Value> {
    let path = stack_path().with_file_name("logs").join("lambda.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.find('{').map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Milliseconds since the epoch: EMF timestamps, to tell this test's documents from earlier ones.
fn now_ms() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// The EMF documents written at or after `since` (milliseconds since the epoch).
fn emf_documents(lines: &[Value], since: u64) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["_aws"]["Timestamp"].as_u64().is_some_and(|t| t >= since))
        .collect()
}

/// The EMF documents of the invocation `aws_request_id`.
fn documents_of<'a>(docs: &[&'a Value], aws_request_id: &str) -> Vec<&'a Value> {
    docs.iter()
        .copied()
        .filter(|d| d["aws_request_id"] == aws_request_id)
        .collect()
}

/// Whether `docs` carry `name` with the dimension values `dims`.
fn carries(docs: &[&Value], name: &str, dims: &[(&str, &str)]) -> bool {
    docs.iter()
        .any(|d| d.get(name).is_some() && dims.iter().all(|(k, v)| d[*k] == *v))
}

/// Polls the function log until `found` answers something (the log is written asynchronously).
async fn eventually<T>(what: &str, found: impl Fn(&[Value]) -> Option<T>) -> T {
    for _ in 0..90 {
        if let Some(t) = found(&log_lines()) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("never logged: {what}");
}

const STAGES: [&str; 5] = [
    "validate-request",
    "verify-identity",
    "assess-risk",
    "mint-credential",
    "activate-credential",
];

/// For each stage, its log line naming `request_id` and that invocation's EMF documents
/// (`None` until every stage has both).
fn invocations_of(
    lines: &[Value],
    request_id: &str,
    since: u64,
) -> Option<Vec<(Value, Vec<Value>)>> {
    let docs = emf_documents(lines, since);
    STAGES
        .iter()
        .map(|stage| {
            let line = lines
                .iter()
                .find(|l| l["span"]["stage"] == *stage && l["request_id"] == request_id)?;
            let invocation = line["span"]["aws_request_id"].as_str()?;
            let mine: Vec<Value> = documents_of(&docs, invocation)
                .into_iter()
                .cloned()
                .collect();
            carries(&mine.iter().collect::<Vec<_>>(), "StepInvocations", &[])
                .then(|| (line.clone(), mine))
        })
        .collect()
}

fn issuance_body() -> Value {
    serde_json::json!({
        "ttl_seconds": 3600,
        "scopes": ["orders:read"],
        "audiences": ["https://orders.example"],
        "justification": "metrics test",
    })
}

/// A token for `client_id` (200) and a read of an unknown client (a 404 refusal).
async fn token_and_refusal(client_id: &str, secret: &str) {
    let (status, _) = token_request(
        client_id,
        secret,
        &[
            ("grant_type", "client_credentials"),
            ("audience", "https://orders.example"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let unknown = format!("/v1/clients/{}", clavis_core::ids::ClientId::generate());
    assert_eq!(get_as(&unknown, &operator_auth()).await.0, 404);
}

#[tokio::test]
async fn an_issuance_is_measured_at_every_step_under_its_invocation_and_trace() {
    let since = now_ms();
    let client_id =
        register_client("standard", &["orders:read"], &["https://orders.example"]).await;
    let key = format!("metrics-{}", clavis_core::ids::RequestId::generate().ulid());
    let resp = credential_request(&client_id, Some(&key), &issuance_body())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    let request_id = body["request_id"].as_str().unwrap().to_owned();
    let credential_id = body["credential_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();

    let invocations = eventually("every step's metrics", |lines| {
        invocations_of(lines, &request_id, since)
    })
    .await;
    for (stage, (line, mine)) in STAGES.iter().zip(&invocations) {
        // A line naming the request carries the invocation's ids...
        let trace = line["span"]["xray_trace_id"]
            .as_str()
            .expect("xray_trace_id");
        assert!(
            trace.starts_with("1-") && trace.len() == 35,
            "{stage}: trace {trace}"
        );
        // ...and that invocation's metrics carry the same ones.
        let mine: Vec<&Value> = mine.iter().collect();
        assert!(
            carries(
                &mine,
                "StepInvocations",
                &[("Stage", stage), ("Outcome", "ok")]
            ),
            "{stage}: {mine:?}"
        );
        assert!(
            carries(&mine, "StepDuration", &[("Stage", stage)]),
            "{stage}"
        );
        assert!(
            mine.iter().all(|d| d["xray_trace_id"] == trace),
            "{stage}: {mine:?}"
        );
        for doc in &mine {
            validated(doc);
        }
        if *stage == "activate-credential" {
            assert!(carries(
                &mine,
                "IssuanceSettled",
                &[("Outcome", "completed")]
            ));
            assert!(carries(
                &mine,
                "IssuanceLatency",
                &[("Outcome", "completed"), ("Path", "direct")]
            ));
        }
    }

    // The token endpoint, a refusal, and a revocation are measured too.
    token_and_refusal(&client_id, &secret).await;
    let revoked = revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    eventually("the revocation's propagation", |lines| {
        let docs = emf_documents(lines, since);
        (carries(&docs, "RevocationPropagation", &[])
            && carries(&docs, "ApiLatency", &[("Route", "Token")])
            && carries(
                &docs,
                "ApiRequests",
                &[("Route", "Token"), ("Outcome", "ok")],
            )
            && carries(&docs, "ApiAnswers", &[("Outcome", "refused")])
            && carries(&docs, "EventsPublished", &[("Publisher", "stream")]))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn every_metric_an_alarm_reads_is_written_with_the_values_it_reads() {
    let since = now_ms();
    let client_id =
        register_client("standard", &["orders:read"], &["https://orders.example"]).await;
    let (credential_id, secret) =
        issue_credential(&client_id, &["orders:read"], &["https://orders.example"]).await;
    token_and_refusal(&client_id, &secret).await;
    revoke_request(&credential_id, "key_compromise")
        .send()
        .await
        .unwrap();

    // A fault the api answers as 503.
    let broken = clavis_core::ids::ClientId::generate().to_string();
    let read_fault = inject_fault("dynamodb", "GetItem", &broken).await;
    assert_eq!(
        get_as(&format!("/v1/clients/{broken}"), &operator_auth())
            .await
            .0,
        503
    );
    drop(read_fault);

    // An issuance that fails on a fault: the secret cannot be sealed.
    let key = format!(
        "metrics-fault-{}",
        clavis_core::ids::RequestId::generate().ulid()
    );
    let client: ClientId = client_id.parse().unwrap();
    let operator: ClientId = stack().operator_client_id.parse().unwrap();
    let request_id = clavis_core::issuance::request_id_for(&client, &operator, &key).to_string();
    let seal_fault = inject_fault("kms", "Encrypt", &request_id).await;
    credential_request(&client_id, Some(&key), &issuance_body())
        .send()
        .await
        .unwrap();
    let failed = settled_request(&request_id).await;
    drop(seal_fault);
    assert_eq!(failed["status"], "failed", "{failed}");

    // An event the bus refuses is parked.
    let (parked_credential, _) =
        issue_credential(&client_id, &["orders:read"], &["https://orders.example"]).await;
    let bus_fault = inject_fault("events", "PutEvents", &parked_credential).await;
    revoke_request(&parked_credential, "key_compromise")
        .send()
        .await
        .unwrap();

    let wanted: BTreeSet<Reading> = alarm_metrics().into_iter().map(|(_, r)| r).collect();
    let written = |lines: &[Value]| -> BTreeSet<Reading> {
        emf_documents(lines, since)
            .iter()
            .flat_map(|d| validated(d))
            .map(|((name, _), values)| (name, values))
            .collect()
    };
    eventually(
        "every metric an alarm reads, with the values it reads",
        |lines| wanted.is_subset(&written(lines)).then_some(()),
    )
    .await;
    drop(bus_fault);
}

#[tokio::test]
async fn scheduled_functions_write_their_metrics() {
    let since = now_ms();
    let cases = [
        ("reap-requests", serde_json::json!({})),
        ("reconcile-outbox", serde_json::json!({})),
        ("expiry-sweep", serde_json::json!({"max_expirations": 1})),
    ];
    for (binary, payload) in &cases {
        let answer = invoke(&function_name(binary), payload).await;
        assert_eq!(answer.function_error, None, "{binary}: {:?}", answer.body);
    }
    let lines = eventually("the scheduled functions' metrics", |lines| {
        let docs = emf_documents(lines, since);
        (cases
            .iter()
            .all(|(stage, _)| carries(&docs, "StepInvocations", &[("Stage", stage)]))
            && carries(&docs, "PendingApprovalAge", &[]))
        .then(|| lines.to_vec())
    })
    .await;
    for doc in emf_documents(&lines, since) {
        validated(doc);
    }
}
