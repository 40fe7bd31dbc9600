//! A resource server protecting `GET /orders` with clavis-verify (RFC 6750 bearer tokens).
//!
//! - no `Authorization: Bearer …` → 401 `WWW-Authenticate: Bearer realm="orders"`
//! - a token that fails verification → 401 `Bearer error="invalid_token"`
//! - a valid token without the required scope → 403 `Bearer error="insufficient_scope"`
//! - revocation status unknown (registry unreachable past `max_staleness`) → 503, fail closed
//!
//! Against the local cloud (`make dev`), with a client allowed to read the registry:
//!
//! ```sh
//! ISSUER=http://127.0.0.1:9000/lambda-url/api AUDIENCE=https://orders.example \
//! REVOCATIONS_AUTH="Basic $(printf '%s:%s' "$CLIENT_ID" "$SECRET" | base64 -w0)" \
//! cargo run -p clavis-verify --example resource_server
//! curl -i -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/orders
//! ```
//!
//! Optional: `LISTEN` (default `127.0.0.1:8080`), `REQUIRED_SCOPE` (default `orders:read`).

use std::env;

use axum::Router;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clavis_verify::{Authorization, VerifiedToken, Verifier, VerifierConfig, VerifyError};

#[derive(Clone)]
struct App {
    verifier: Verifier,
    required_scope: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env::var("ISSUER")?;
    let audience = env::var("AUDIENCE")?;
    let mut config = VerifierConfig::new(&issuer, &audience);
    if let Ok(auth) = env::var("REVOCATIONS_AUTH") {
        config = config.with_authorization(Authorization::new(&auth)?);
    }
    let verifier = Verifier::new(config)?;
    // Fail fast on a wrong issuer URL or credential; serving starts either way and stays
    // fail-closed until a sync succeeds.
    if let Err(e) = verifier.sync().await {
        eprintln!("first revocation sync failed (tokens refused until one succeeds): {e}");
    }
    let _background = verifier.spawn_sync();

    let app = App {
        verifier,
        required_scope: env::var("REQUIRED_SCOPE").unwrap_or_else(|_| "orders:read".into()),
    };
    let router = Router::new().route("/orders", get(orders)).with_state(app);
    let listen = env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("listening on http://{listen}/orders");
    axum::serve(listener, router).await?;
    Ok(())
}

async fn orders(State(app): State<App>, headers: HeaderMap) -> Response {
    match authorize(&app, &headers).await {
        Ok(token) => format!(
            "{{\"orders\":[],\"client_id\":\"{}\"}}\n",
            token.client_id()
        )
        .into_response(),
        Err(refusal) => refusal,
    }
}

/// The bearer token of the request, verified and holding the required scope, or the RFC 6750
/// refusal to send.
async fn authorize(app: &App, headers: &HeaderMap) -> Result<VerifiedToken, Response> {
    let Some(token) = bearer(headers) else {
        // RFC 6750 §3.1: no error code when the request carried no credentials.
        return Err(challenge(
            StatusCode::UNAUTHORIZED,
            r#"Bearer realm="orders""#,
        ));
    };
    let token = app.verifier.verify(token).await.map_err(|e| match e {
        VerifyError::RevocationStatusUnknown => {
            // Not the token's fault: say so, and keep refusing until the registry is read.
            (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "5")]).into_response()
        }
        e => challenge(
            StatusCode::UNAUTHORIZED,
            &format!(r#"Bearer realm="orders", error="invalid_token", error_description="{e}""#),
        ),
    })?;
    if !token.has_scope(&app.required_scope) {
        return Err(challenge(
            StatusCode::FORBIDDEN,
            &format!(
                r#"Bearer realm="orders", error="insufficient_scope", scope="{}""#,
                app.required_scope
            ),
        ));
    }
    Ok(token)
}

/// `Authorization: Bearer <token>`, the scheme matched case-insensitively.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
        .filter(|t| !t.is_empty())
}

fn challenge(status: StatusCode, www_authenticate: &str) -> Response {
    let value = www_authenticate.parse().unwrap_or_else(|_| {
        axum::http::HeaderValue::from_static(r#"Bearer error="invalid_token""#)
    });
    (status, [(WWW_AUTHENTICATE, value)]).into_response()
}
