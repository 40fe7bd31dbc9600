//! How a [`crate::Verifier`] reaches the issuer: URLs, the registry credential, intervals.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderValue;

use crate::error::ConfigError;
use crate::validation::Validation;

/// Pause between revocation syncs in the background.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Limit on one request to the issuer, connect to last byte.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Least time between two JWKS fetches caused by unknown key ids.
pub const DEFAULT_JWKS_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Age after which the background task refetches the JWKS, so retired keys drop out.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Registry entries asked per page (the registry's maximum).
pub const DEFAULT_PAGE_LIMIT: u32 = 1000;

/// The `Authorization` header value sent to the revocation registry. Never printed.
#[derive(Clone)]
pub struct Authorization(HeaderValue);

impl Authorization {
    /// A header value as given, e.g. `Basic …` or `Bearer …`.
    pub fn new(value: &str) -> Result<Self, ConfigError> {
        let mut value =
            HeaderValue::from_str(value).map_err(|_| ConfigError::InvalidAuthorization)?;
        value.set_sensitive(true);
        Ok(Self(value))
    }

    /// HTTP Basic with a Clavis client id and secret.
    pub fn basic(client_id: &str, client_secret: &str) -> Result<Self, ConfigError> {
        Self::new(&format!(
            "Basic {}",
            STANDARD.encode(format!("{client_id}:{client_secret}"))
        ))
    }

    /// A bearer access token.
    pub fn bearer(token: &str) -> Result<Self, ConfigError> {
        Self::new(&format!("Bearer {token}"))
    }

    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}

/// Everything a [`crate::Verifier`] needs. Build with [`VerifierConfig::new`], then adjust.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifierConfig {
    /// The acceptance rules (issuer, audience, leeway, staleness, policy).
    pub validation: Validation,
    /// Where the JWKS is: `{issuer}/.well-known/jwks.json` by default.
    pub jwks_url: String,
    /// Where the revocation registry is: `{issuer}/v1/revocations` by default.
    pub revocations_url: String,
    /// Sent as `Authorization` to the registry (any authenticated Clavis caller may read it).
    pub revocations_authorization: Option<Authorization>,
    /// Pause between background revocation syncs.
    pub poll_interval: Duration,
    /// Limit on each request to the issuer.
    pub request_timeout: Duration,
    /// Least time between JWKS fetches caused by unknown key ids (a flood of random kids costs
    /// the issuer at most one fetch per interval).
    pub jwks_min_refresh_interval: Duration,
    /// Age after which the background task refetches the JWKS.
    pub jwks_max_age: Duration,
    /// Registry entries asked per page.
    pub page_limit: u32,
    /// Verified tokens remembered (by their SHA-256) so a repeat skips the signature check;
    /// 0 turns the cache off.
    pub token_cache_capacity: usize,
}

impl VerifierConfig {
    /// Configuration for tokens from `issuer` meant for `audience`, with the issuer's standard
    /// paths and the defaults (poll 15 s, timeout 5 s, unknown-kid refresh at most every 30 s,
    /// JWKS refetched hourly, pages of 1000, and [`Validation::new`]'s rules).
    pub fn new(issuer: &str, audience: &str) -> Self {
        let base = issuer.trim_end_matches('/');
        Self {
            validation: Validation::new(issuer, audience),
            jwks_url: format!("{base}/.well-known/jwks.json"),
            revocations_url: format!("{base}/v1/revocations"),
            revocations_authorization: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            jwks_min_refresh_interval: DEFAULT_JWKS_MIN_REFRESH_INTERVAL,
            jwks_max_age: DEFAULT_JWKS_MAX_AGE,
            page_limit: DEFAULT_PAGE_LIMIT,
            token_cache_capacity: crate::cache::DEFAULT_CAPACITY,
        }
    }

    /// The same, sending `authorization` to the registry.
    pub fn with_authorization(mut self, authorization: Authorization) -> Self {
        self.revocations_authorization = Some(authorization);
        self
    }
}

/// Parses an issuer URL setting, refusing schemes other than http(s) and https without TLS.
pub(crate) fn url(name: &'static str, value: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(value).map_err(|_| ConfigError::InvalidUrl { name })?;
    match url.scheme() {
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(ConfigError::InsecureUrl { name }),
        "https" if cfg!(feature = "tls") => Ok(url),
        "https" => Err(ConfigError::TlsUnavailable { name }),
        _ => Err(ConfigError::InvalidUrl { name }),
    }
}

/// Whether `url` names this machine (`localhost`, 127.0.0.0/8 or `::1`), by its parsed host.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_this_machine_only() {
        for ok in [
            "http://127.0.0.1:9000/api",
            "http://127.8.0.1/",
            "http://localhost:8080",
            "http://[::1]:9000",
        ] {
            assert!(url("jwks_url", ok).is_ok(), "{ok}");
        }
        for insecure in [
            "http://issuer.example.com",
            "http://10.0.0.1",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
        ] {
            assert!(
                matches!(
                    url("jwks_url", insecure),
                    Err(ConfigError::InsecureUrl { .. })
                ),
                "{insecure}"
            );
        }
        assert!(
            url("jwks_url", "https://issuer.example.com").is_ok(),
            "tls is on by default"
        );
        assert!(matches!(
            url("jwks_url", "ftp://x"),
            Err(ConfigError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn paths_are_derived_from_the_issuer() {
        let c = VerifierConfig::new("http://127.0.0.1:9000/lambda-url/api/", "orders");
        assert_eq!(
            c.jwks_url,
            "http://127.0.0.1:9000/lambda-url/api/.well-known/jwks.json"
        );
        assert_eq!(
            c.revocations_url,
            "http://127.0.0.1:9000/lambda-url/api/v1/revocations"
        );
        assert_eq!(c.validation.issuer, "http://127.0.0.1:9000/lambda-url/api/");
    }

    #[test]
    fn the_registry_credential_is_never_printed() {
        let c = VerifierConfig::new("http://i", "a")
            .with_authorization(Authorization::basic("cli_1", "hunter2").unwrap());
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("Y2xp"));
        assert!(Authorization::new("Bearer a\nb").is_err());
    }

    #[test]
    fn only_http_urls_are_accepted_and_https_needs_tls() {
        assert!(url("jwks_url", "http://127.0.0.1:9000/x").is_ok());
        assert!(url("jwks_url", "file:///etc/passwd").is_err());
        assert!(url("jwks_url", "not a url").is_err());
        assert_eq!(
            url("jwks_url", "https://issuer.example").is_ok(),
            cfg!(feature = "tls")
        );
    }
}
