//! The HTTP API as the CLI uses it: bearer tokens fetched through `/oauth2/token` and kept in
//! the profile until shortly before they expire, answers read as JSON, refusals and faults
//! told apart.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{CliError, CliResult, Problem};
use crate::profile::{CachedToken, Profile, Store};

/// A token this close to its expiry is not used for another call.
const TOKEN_MARGIN_SECONDS: i64 = 60;
/// The audience of the tokens Clavis accepts on its own routes.
const AUDIENCE: &str = "clavis";

/// One answer of the API that was a success (2xx).
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body as text (NDJSON and JSON alike).
    pub text: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> CliResult<Value> {
        serde_json::from_str(&self.text).map_err(|e| {
            CliError::Fault(format!("the API answered something that is not JSON: {e}"))
        })
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: i64,
}

/// The API of one stack, as one operator.
pub struct Api {
    http: reqwest::Client,
    profile: Mutex<Profile>,
    /// Where a refreshed token is kept: the store and profile name (none for env profiles).
    saved_as: Option<(Store, String)>,
}

impl Api {
    /// The API `profile` names; `saved_as` keeps refreshed tokens.
    pub fn new(profile: Profile, saved_as: Option<(Store, String)>) -> CliResult<Self> {
        check_url(&profile.api_url)?;
        let http = reqwest::Client::builder()
            // The API never redirects; following one would carry the credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clavis-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Fault(format!("no HTTP client: {e}")))?;
        Ok(Self {
            http,
            profile: Mutex::new(profile),
            saved_as,
        })
    }

    fn profile(&self) -> Profile {
        self.profile
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The profile as it stands, with the last token.
    pub fn snapshot(&self) -> Profile {
        self.profile()
    }

    /// The operator this API acts as.
    pub fn client_id(&self) -> String {
        self.profile().client_id
    }

    /// The API's base URL.
    pub fn base_url(&self) -> String {
        self.profile().api_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Asks `/oauth2/token` for a new token for the audience `clavis` with every scope the
    /// operator holds, and keeps it.
    pub async fn fetch_token(&self) -> CliResult<CachedToken> {
        let token = self.request_token(AUDIENCE, None).await?;
        self.keep(Some(token.clone()))?;
        Ok(token)
    }

    /// Asks `/oauth2/token` for a token for `audience`, with `scope` (space-separated) or
    /// every scope the credential holds; keeps nothing.
    pub async fn request_token(
        &self,
        audience: &str,
        scope: Option<&str>,
    ) -> CliResult<CachedToken> {
        let profile = self.profile();
        let mut form = vec![("grant_type", "client_credentials"), ("audience", audience)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let resp = self
            .http
            .post(self.url("/oauth2/token"))
            .basic_auth(&profile.client_id, Some(&profile.client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable(&profile.api_url, &e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| unreachable(&profile.api_url, &e))?;
        if status == StatusCode::UNAUTHORIZED {
            let problem = Problem::from_body(status.as_u16(), &bytes);
            return Err(classify(problem).with_hint(
                "the profile's credential no longer gets a token (revoked, expired or suspended?): \
                 run `clavis login` with a valid credential",
            ));
        }
        if !status.is_success() {
            // invalid_scope, invalid_target: what was asked for, not who asked.
            return Err(classify(Problem::from_body(status.as_u16(), &bytes)));
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Fault(format!("unreadable token answer: {e}")))?;
        Ok(CachedToken {
            access_token: answer.access_token,
            expires_at: now() + answer.expires_in,
        })
    }

    fn keep(&self, token: Option<CachedToken>) -> CliResult {
        let profile = {
            let mut p = self
                .profile
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            p.token = token;
            p.clone()
        };
        if let Some((store, name)) = &self.saved_as {
            store.put(name, profile)?;
        }
        Ok(())
    }

    async fn bearer(&self) -> CliResult<String> {
        match self.profile().token {
            Some(t) if t.expires_at - TOKEN_MARGIN_SECONDS > now() => Ok(t.access_token),
            _ => Ok(self.fetch_token().await?.access_token),
        }
    }

    /// Sends a request with a bearer token; a 2xx is the answer, a 4xx a refusal, anything
    /// else a fault. A token the API no longer accepts is replaced once.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> CliResult<Answer> {
        let mut retried = false;
        // A read that met a fault (5xx, no answer) is asked once more after a pause: it
        // changes nothing, and a busy API often answers the second time.
        let mut faults_left = u8::from(method == Method::GET);
        loop {
            let token = self.bearer().await?;
            let mut req = self
                .http
                .request(method.clone(), self.url(path))
                .bearer_auth(token);
            for (name, value) in headers {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| CliError::Usage(format!("{name} is not a valid header value")))?;
                req = req.header(*name, value);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(_) if faults_left > 0 => {
                    faults_left -= 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(unreachable(&self.base_url(), &e)),
            };
            let status = resp.status();
            if status.is_server_error() && faults_left > 0 {
                faults_left -= 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            let headers = resp.headers().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| unreachable(&self.base_url(), &e))?;
            if status == StatusCode::UNAUTHORIZED && !retried {
                // The cached token expired early or its key was retired: one fresh token.
                retried = true;
                self.keep(None)?;
                continue;
            }
            if status.is_success() {
                return Ok(Answer {
                    status,
                    headers,
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            return Err(classify(Problem::from_body(status.as_u16(), &bytes)));
        }
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> CliResult<Value> {
        self.send(Method::GET, path, None, &[]).await?.json()
    }

    /// `PATCH path` with a JSON (merge patch) body, as JSON.
    pub async fn patch(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.send(Method::PATCH, path, Some(body), &[])
            .await?
            .json()
    }

    /// `POST path` with a JSON body, as JSON.
    pub async fn post(&self, path: &str, body: &Value) -> CliResult<Value> {
        self.send(Method::POST, path, Some(body), &[]).await?.json()
    }
}

/// Only `https://`, or plain `http://` to this machine (the local cloud): credentials never
/// cross a network in clear.
pub fn check_url(url: &str) -> CliResult {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| CliError::Usage(format!("{url:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{url:?}: the API URL must be https:// (http:// only for this machine)"
        )))
    }
}

/// A refusal for 4xx, a fault for anything else.
fn classify(problem: Problem) -> CliError {
    if (400..500).contains(&problem.status) {
        CliError::refused(problem)
    } else {
        CliError::Fault(problem.to_string())
    }
}

fn unreachable(base: &str, e: &reqwest::Error) -> CliError {
    // reqwest's message names the URL, never a header or body, so no secret reaches it.
    CliError::Fault(format!("{base} could not be reached: {e}"))
}

/// Unix seconds now.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Percent-encodes one query value.
pub fn query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `path?k=v&…` of the parameters that are set.
pub fn with_query(path: &str, params: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", query_value(v))))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// Checks that `id` is one path segment of ids' characters, so nothing typed reaches
/// another route.
pub fn path_id<'a>(what: &str, id: &'a str) -> CliResult<&'a str> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(id)
    } else {
        Err(CliError::Usage(format!("{id:?} is not a {what} id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded_and_unset_ones_left_out() {
        assert_eq!(
            with_query(
                "/v1/x",
                &[
                    ("a", Some("b c&d".into())),
                    ("e", None),
                    ("f", Some("1".into()))
                ]
            ),
            "/v1/x?a=b%20c%26d&f=1"
        );
        assert_eq!(with_query("/v1/x", &[("e", None)]), "/v1/x");
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert!(path_id("client", "cli_01KABC").is_ok());
        for bad in ["", "../oauth2/token", "cli_1/revoke", "a?b", "a b"] {
            assert!(
                matches!(path_id("client", bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_https_or_this_machine_may_be_the_api() {
        assert!(check_url("https://clavis.example.com").is_ok());
        assert!(check_url("http://127.0.0.1:9000/lambda-url/api").is_ok());
        assert!(check_url("http://localhost:9000").is_ok());
        assert!(check_url("http://[::1]:9000").is_ok());
        for bad in [
            "http://clavis.example.com",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "ftp://x",
            "clavis.example.com",
        ] {
            assert!(matches!(check_url(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn four_hundreds_are_refusals_and_the_rest_faults() {
        let p = |status| Problem {
            status,
            ..Problem::default()
        };
        assert!(matches!(classify(p(404)), CliError::Refused { .. }));
        assert!(matches!(classify(p(503)), CliError::Fault(_)));
        assert!(matches!(classify(p(302)), CliError::Fault(_)));
    }
}
