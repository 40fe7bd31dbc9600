//! Strict JSON request bodies: media type, size limit, well-formedness, then schema.
//!
//! Each failure is its own user error: 415 for a non-JSON media type, 413 past the limit, 400
//! for malformed JSON, 422 (naming the field) for unknown, missing or mistyped fields.

use clavis_core::{FieldViolation, UserError};
use lambda_http::Body;
use lambda_http::http::HeaderMap;
use lambda_http::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// Default limit for request bodies.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

/// Whether the body is declared `application/x-www-form-urlencoded` (parameters ignored).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The media type of a JSON merge patch (RFC 7396), which `PATCH` routes also accept.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// Parses a JSON body into `T`, refusing anything that is not exactly a valid `T`.
pub fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Body,
    limit: usize,
) -> Result<T, UserError> {
    parse_json_of(headers, body, limit, &["application/json"])
}

/// [`parse_json`] for a `PATCH`: `application/merge-patch+json` or `application/json`.
pub fn parse_merge_patch<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Body,
    limit: usize,
) -> Result<T, UserError> {
    parse_json_of(headers, body, limit, &["application/json", MERGE_PATCH])
}

fn parse_json_of<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &Body,
    limit: usize,
    media_types: &[&str],
) -> Result<T, UserError> {
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| media_types.iter().any(|t| m.trim().eq_ignore_ascii_case(t)));
    if !is_json {
        return Err(UserError::UnsupportedMediaType);
    }
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > limit {
        return Err(UserError::PayloadTooLarge { limit });
    }
    let Some(first) = bytes.iter().find(|b| !b.is_ascii_whitespace()) else {
        return Err(UserError::MalformedBody("the body is empty".into()));
    };
    // Every body of this API is an object; serde would also read a struct from an array of
    // its fields in order (`["x"]` as `{"reason": "x"}`), which no caller means.
    if *first != b'{' && serde_json::from_slice::<serde_json::Value>(bytes).is_ok() {
        return Err(UserError::Invalid(vec![FieldViolation::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            let field = if path == "." { "body".to_owned() } else { path };
            UserError::Invalid(vec![FieldViolation::new(field, describe(&inner))])
        } else {
            UserError::MalformedBody(format!(
                "invalid JSON at line {} column {}",
                inner.line(),
                inner.column()
            ))
        }
    })?;
    Ok(value)
}

/// serde's message without its position suffix (the field path says where).
fn describe(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_struct_is_never_read_from_an_array() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Reason {
            reason: String,
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let err =
            parse_json::<Reason>(&headers, &Body::from(r#" ["x"]"#), DEFAULT_LIMIT).unwrap_err();
        assert_eq!(err.code(), "invalid-request");
        assert!(
            parse_json::<Reason>(&headers, &Body::from(r#"{"reason":"x"}"#), DEFAULT_LIMIT).is_ok()
        );
        let malformed =
            parse_json::<Reason>(&headers, &Body::from(r#"{"reason": "#), DEFAULT_LIMIT)
                .unwrap_err();
        assert_eq!(malformed.code(), "malformed-body");
    }
    use lambda_http::http::HeaderValue;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        count: u8,
    }

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h
    }

    fn parse(body: &str) -> Result<Thing, UserError> {
        parse_json(&json_headers(), &Body::Text(body.into()), 64)
    }

    #[test]
    fn each_failure_gets_its_own_error() {
        assert_eq!(parse("{\"name\":").unwrap_err().code(), "malformed-body");
        assert_eq!(parse("").unwrap_err().code(), "malformed-body");
        let unknown = parse(r#"{"name":"a","count":1,"extra":2}"#).unwrap_err();
        assert_eq!(unknown.code(), "invalid-request");
        assert!(unknown.violations()[0].reason.contains("extra"));
        let wrong = parse(r#"{"name":"a","count":999}"#).unwrap_err();
        assert_eq!(wrong.violations()[0].field, "count");
        let missing = parse(r#"{"name":"a"}"#).unwrap_err();
        assert!(missing.violations()[0].reason.contains("count"));
        let big = format!(r#"{{"name":"{}","count":1}}"#, "a".repeat(100));
        assert_eq!(parse(&big).unwrap_err().code(), "payload-too-large");
        assert!(parse(r#"{"name":"a","count":1}"#).is_ok());
    }

    #[test]
    fn other_media_types_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let err = parse_json::<Thing>(&h, &Body::Text("{}".into()), 64).unwrap_err();
        assert_eq!(err.code(), "unsupported-media-type");
        let err = parse_json::<Thing>(&HeaderMap::new(), &Body::Text("{}".into()), 64).unwrap_err();
        assert_eq!(err.code(), "unsupported-media-type");
    }

    #[test]
    fn only_a_patch_takes_a_merge_patch() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(MERGE_PATCH));
        let body = Body::Text(r#"{"name":"a","count":1}"#.into());
        let err = parse_json::<Thing>(&h, &body, 64).unwrap_err();
        assert_eq!(err.code(), "unsupported-media-type");
        assert!(parse_merge_patch::<Thing>(&h, &body, 64).is_ok());
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(parse_merge_patch::<Thing>(&h, &body, 64).is_ok());
    }
}
