//! Structured JSON logs for CloudWatch, and the span that ties one invocation's lines together.
//! Log lines carry ids and decisions, never secrets: secret types redact themselves and
//! handlers log ids only.

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

static STAGE: OnceLock<&'static str> = OnceLock::new();

/// Installs the JSON subscriber and the metrics recorder for the function `stage` (its
/// directory name under `functions/`); `RUST_LOG` sets the level (default `info`). Safe to
/// call twice: the first stage named stays.
pub fn init(stage: &'static str) {
    STAGE.get_or_init(|| stage);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .flatten_event(true)
        .try_init();
    crate::metrics::init();
}

/// The function this process serves, as named at [`init`] (`unknown` before).
pub fn stage() -> &'static str {
    STAGE.get().copied().unwrap_or("unknown")
}

/// Starts an invocation and answers its span: every line logged inside it carries, under
/// `span`, the stage, the Lambda request id and the X-Ray trace id, next to the Clavis ids the
/// line names; every metrics document written until it ends carries the same ids.
pub fn invocation_span(context: &lambda_runtime::Context) -> tracing::Span {
    let trace = xray_trace_id(context.xray_trace_id.as_deref());
    crate::metrics::begin(&context.request_id, trace);
    tracing::info_span!(
        "invocation",
        stage = stage(),
        aws_request_id = %context.request_id,
        xray_trace_id = trace.unwrap_or("-"),
    )
}

/// The trace id of an X-Ray header (`Root=1-…;Parent=…;Sampled=…` → `1-…`), as X-Ray and
/// CloudWatch search for it; a header without `Root=` is taken whole.
pub fn xray_trace_id(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    if header.is_empty() {
        return None;
    }
    Some(
        header
            .split(';')
            .find_map(|part| part.trim().strip_prefix("Root="))
            .unwrap_or(header),
    )
}

/// Ends an invocation: writes the metrics it recorded, tagged with its ids.
pub fn finish() {
    crate::metrics::flush();
}

/// The AWS calls this invocation made (`dynamodb.GetItem=3 kms.Encrypt=1`), resetting the
/// count for the next one. Logged once per invocation as the `aws_calls` field.
pub fn aws_calls() -> String {
    clavis_aws::calls::render(&clavis_aws::calls::drain())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_the_root_of_the_header() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert_eq!(
            xray_trace_id(Some(header)),
            Some("1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(xray_trace_id(Some("1-abc")), Some("1-abc"));
        assert_eq!(xray_trace_id(Some("")), None);
        assert_eq!(xray_trace_id(None), None);
    }
}
