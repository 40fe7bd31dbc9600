//! A tiny in-process stand-in for the Clavis issuer's HTTP side: serves a JWKS that tests can
//! rotate, a revocation registry paged exactly like `/v1/revocations` and, once enabled, its
//! snapshot like `/v1/revocations/snapshot`, and records requests.

use std::sync::{Arc, Mutex};

use clavis_verify::RevocationEntry;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    jwks: String,
    jwks_status: u16,
    registry: Vec<RevocationEntry>,
    registry_status: u16,
    /// Whether `/v1/revocations/snapshot` is served (an older issuer answers 404).
    snapshot: bool,
    seen: Vec<Seen>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct FakeIssuer {
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeIssuer {
    /// Starts serving `jwks` and an empty registry on an ephemeral port.
    pub async fn start(jwks: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/lambda-url/api", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            jwks,
            jwks_status: 200,
            registry_status: 200,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { base, state }
    }

    /// Publishes another JWKS.
    pub fn set_jwks(&self, jwks: String) {
        self.state.lock().unwrap().jwks = jwks;
    }

    /// Makes the JWKS answer this status (with an empty body unless 200).
    pub fn set_jwks_status(&self, status: u16) {
        self.state.lock().unwrap().jwks_status = status;
    }

    /// Makes the registry answer this status.
    pub fn set_registry_status(&self, status: u16) {
        self.state.lock().unwrap().registry_status = status;
    }

    /// Serves the registry's snapshot from now on.
    pub fn enable_snapshot(&self) {
        self.state.lock().unwrap().snapshot = true;
    }

    /// Appends a revocation of `credential_id`, whose credential expires at `expires_at`
    /// (RFC 3339), with the next seq.
    pub fn revoke_expiring(&self, credential_id: &str, expires_at: &str) -> u64 {
        let seq = self.revoke(credential_id);
        let mut state = self.state.lock().unwrap();
        if let Some(last) = state.registry.last_mut() {
            last.expires_at = Some(expires_at.to_owned());
        }
        seq
    }

    /// Appends a revocation of `credential_id` with the next seq.
    pub fn revoke(&self, credential_id: &str) -> u64 {
        let mut state = self.state.lock().unwrap();
        let seq = state.registry.len() as u64 + 1;
        state.registry.push(RevocationEntry {
            seq,
            credential_id: credential_id.to_owned(),
            client_id: "cli_01jdxyzabcdefghjkmnpqrstvw".into(),
            reason: "key_compromise".into(),
            revoked_at: "2026-11-27T16:00:00Z".into(),
            expires_at: None,
        });
        seq
    }

    /// Requests seen so far on `path` (relative to the base).
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let full = format!("{}{path}", self.base_path());
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|s| s.path == full)
            .cloned()
            .collect()
    }

    fn base_path(&self) -> &str {
        let after_scheme = &self.base["http://".len()..];
        &after_scheme[after_scheme.find('/').unwrap()..]
    }
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let target = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim().to_owned());
    let (path, query) = target
        .split_once('?')
        .map_or((target.clone(), String::new()), |(p, q)| {
            (p.to_owned(), q.to_owned())
        });
    let (status, body) = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            path: path.clone(),
            query: query.clone(),
            authorization,
        });
        answer(&state, &path, &query)
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn answer(state: &State, path: &str, query: &str) -> (u16, String) {
    if path.ends_with("/.well-known/jwks.json") {
        return match state.jwks_status {
            200 => (200, state.jwks.clone()),
            status => (status, String::new()),
        };
    }
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let published = |e: &RevocationEntry| {
        json!({"seq": e.seq, "credential_id": e.credential_id, "client_id": e.client_id,
               "reason": e.reason, "revoked_at": e.revoked_at, "expires_at": e.expires_at})
    };
    if path.ends_with("/v1/revocations/snapshot") && state.snapshot {
        // The cursor is the index of the next entry to look at; the snapshot is at the last seq.
        let from = param("cursor").unwrap_or(0) as usize;
        let limit = param("limit").unwrap_or(1000) as usize;
        let now = time::OffsetDateTime::now_utc();
        let relevant = |e: &&RevocationEntry| {
            e.expires_at.as_deref().is_none_or(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .is_ok_and(|t| t > now)
            })
        };
        let page: Vec<_> = state.registry.iter().skip(from).take(limit).collect();
        let next =
            (from + page.len() < state.registry.len()).then(|| (from + page.len()).to_string());
        let items: Vec<_> = page.into_iter().filter(relevant).map(published).collect();
        return (
            200,
            json!({"seq": state.registry.len(), "items": items, "next": next}).to_string(),
        );
    }
    if path.ends_with("/v1/revocations") {
        if state.registry_status != 200 {
            return (state.registry_status, "{}".into());
        }
        let since = param("since").unwrap_or(0);
        let limit = param("limit").unwrap_or(100) as usize;
        let items: Vec<_> = state
            .registry
            .iter()
            .filter(|e| e.seq > since)
            .take(limit)
            .map(published)
            .collect();
        let next = (items.len() == limit).then(|| items.last().map(|i| i["seq"].clone()));
        return (
            200,
            json!({"items": items, "next": next.flatten()}).to_string(),
        );
    }
    (404, "{}".into())
}
