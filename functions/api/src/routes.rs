//! The route table of the HTTP API: the one list the router and the OpenAPI test both read.

use lambda_http::http::Method;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: liveness, unauthenticated.
    Health,
    /// `POST /v1/clients`: register a client.
    RegisterClient,
    /// `GET /v1/clients`: the clients, paged and filtered.
    ListClients,
    /// `GET /v1/clients/{client_id}`: read a client.
    GetClient,
    /// `PATCH /v1/clients/{client_id}`: change a client's settings.
    UpdateClient,
    /// `GET /v1/clients/{client_id}/credentials`: a client's credentials, paged.
    ListClientCredentials,
    /// `POST /v1/clients/{client_id}/suspend`: stop its credentials authenticating.
    SuspendClient,
    /// `POST /v1/clients/{client_id}/resume`: let them again.
    ResumeClient,
    /// `POST /v1/clients/{client_id}/revoke`: revoke a client and all its credentials.
    RevokeClient,
    /// `POST /v1/clients/{client_id}/credentials`: request issuance.
    RequestCredential,
    /// `GET /v1/requests/{request_id}`: request status.
    GetRequest,
    /// `POST /v1/requests/{request_id}/secret`: one-time secret pickup.
    PickupSecret,
    /// `GET /v1/credentials/{credential_id}`: credential metadata.
    GetCredential,
    /// `POST /v1/credentials/{credential_id}/revoke`: revoke one credential.
    RevokeCredential,
    /// `POST /v1/credentials/{credential_id}/rotate`: rotate a credential with an overlap.
    RotateCredential,
    /// `POST /v1/credentials/{credential_id}/successor`: the successor's secret, once, for the
    /// client authenticated with this credential.
    SuccessorSecret,
    /// `GET /v1/revocations`: the revocation registry.
    ListRevocations,
    /// `GET /v1/revocations/snapshot`: the registry entries still relevant, at one `seq`.
    RevocationSnapshot,
    /// `GET /v1/approvals`: pending approvals, soonest deadline first.
    ListApprovals,
    /// `GET /v1/approvals/{approval_id}`: one approval.
    GetApproval,
    /// `POST /v1/approvals/{approval_id}/approve`: approve a held issuance.
    Approve,
    /// `POST /v1/approvals/{approval_id}/deny`: deny it.
    Deny,
    /// `GET /v1/audit`: a client's audit chain as NDJSON.
    ExportAudit,
    /// `GET /v1/access-review`: per client, credentials, expiry, last use and flags.
    AccessReview,
    /// `GET /v1/status`: the stack's queues and alarms.
    Status,
    /// `POST /v1/replays`: start a replay run.
    StartReplay,
    /// `GET /v1/replays/{replay_id}`: how a replay run stands.
    GetReplay,
    /// `POST /oauth2/introspect`: RFC 7662 introspection.
    Introspect,
    /// `POST /oauth2/token`: client credentials grant.
    Token,
    /// `GET /.well-known/jwks.json`: the public signing keys.
    Jwks,
    /// `GET /.well-known/oauth-authorization-server`: RFC 8414 metadata.
    Metadata,
}

impl Route {
    /// The route's name: the `Route` dimension of the api's metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Health => "Health",
            Self::RegisterClient => "RegisterClient",
            Self::ListClients => "ListClients",
            Self::GetClient => "GetClient",
            Self::UpdateClient => "UpdateClient",
            Self::ListClientCredentials => "ListClientCredentials",
            Self::SuspendClient => "SuspendClient",
            Self::ResumeClient => "ResumeClient",
            Self::RevokeClient => "RevokeClient",
            Self::RequestCredential => "RequestCredential",
            Self::GetRequest => "GetRequest",
            Self::PickupSecret => "PickupSecret",
            Self::GetCredential => "GetCredential",
            Self::RevokeCredential => "RevokeCredential",
            Self::RotateCredential => "RotateCredential",
            Self::SuccessorSecret => "SuccessorSecret",
            Self::ListRevocations => "ListRevocations",
            Self::RevocationSnapshot => "RevocationSnapshot",
            Self::ListApprovals => "ListApprovals",
            Self::GetApproval => "GetApproval",
            Self::Approve => "Approve",
            Self::Deny => "Deny",
            Self::ExportAudit => "ExportAudit",
            Self::AccessReview => "AccessReview",
            Self::Status => "Status",
            Self::StartReplay => "StartReplay",
            Self::GetReplay => "GetReplay",
            Self::Introspect => "Introspect",
            Self::Token => "Token",
            Self::Jwks => "Jwks",
            Self::Metadata => "Metadata",
        }
    }
}

/// Every route: method, path template (OpenAPI syntax), route.
pub const ROUTES: &[(Method, &str, Route)] = &[
    (Method::GET, "/healthz", Route::Health),
    (Method::POST, "/v1/clients", Route::RegisterClient),
    (Method::GET, "/v1/clients", Route::ListClients),
    (Method::GET, "/v1/status", Route::Status),
    (Method::POST, "/v1/replays", Route::StartReplay),
    (Method::GET, "/v1/replays/{replay_id}", Route::GetReplay),
    (Method::GET, "/v1/clients/{client_id}", Route::GetClient),
    (
        Method::PATCH,
        "/v1/clients/{client_id}",
        Route::UpdateClient,
    ),
    (
        Method::GET,
        "/v1/clients/{client_id}/credentials",
        Route::ListClientCredentials,
    ),
    (
        Method::POST,
        "/v1/clients/{client_id}/suspend",
        Route::SuspendClient,
    ),
    (
        Method::POST,
        "/v1/clients/{client_id}/resume",
        Route::ResumeClient,
    ),
    (
        Method::POST,
        "/v1/clients/{client_id}/revoke",
        Route::RevokeClient,
    ),
    (
        Method::POST,
        "/v1/clients/{client_id}/credentials",
        Route::RequestCredential,
    ),
    (Method::GET, "/v1/requests/{request_id}", Route::GetRequest),
    (
        Method::POST,
        "/v1/requests/{request_id}/secret",
        Route::PickupSecret,
    ),
    (
        Method::GET,
        "/v1/credentials/{credential_id}",
        Route::GetCredential,
    ),
    (
        Method::POST,
        "/v1/credentials/{credential_id}/revoke",
        Route::RevokeCredential,
    ),
    (
        Method::POST,
        "/v1/credentials/{credential_id}/rotate",
        Route::RotateCredential,
    ),
    (
        Method::POST,
        "/v1/credentials/{credential_id}/successor",
        Route::SuccessorSecret,
    ),
    (Method::GET, "/v1/revocations", Route::ListRevocations),
    (
        Method::GET,
        "/v1/revocations/snapshot",
        Route::RevocationSnapshot,
    ),
    (Method::GET, "/v1/approvals", Route::ListApprovals),
    (
        Method::GET,
        "/v1/approvals/{approval_id}",
        Route::GetApproval,
    ),
    (
        Method::POST,
        "/v1/approvals/{approval_id}/approve",
        Route::Approve,
    ),
    (
        Method::POST,
        "/v1/approvals/{approval_id}/deny",
        Route::Deny,
    ),
    (Method::GET, "/v1/audit", Route::ExportAudit),
    (Method::GET, "/v1/access-review", Route::AccessReview),
    (Method::POST, "/oauth2/introspect", Route::Introspect),
    (Method::POST, "/oauth2/token", Route::Token),
    (Method::GET, "/.well-known/jwks.json", Route::Jwks),
    (
        Method::GET,
        "/.well-known/oauth-authorization-server",
        Route::Metadata,
    ),
];

/// A matched route with its path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The route.
    pub route: Route,
    /// Path parameters by name.
    pub params: Vec<(String, String)>,
}

impl Matched {
    /// The value of path parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request matched no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRoute {
    /// No such path.
    NotFound,
    /// The path exists, not for this method.
    MethodNotAllowed,
}

/// Path → (method → route), built once at init.
pub struct Router {
    inner: matchit::Router<Vec<(Method, Route)>>,
}

impl Router {
    /// The router over [`ROUTES`].
    pub fn new() -> Self {
        let mut by_path: Vec<(&str, Vec<(Method, Route)>)> = Vec::new();
        for (method, path, route) in ROUTES {
            match by_path.iter_mut().find(|(p, _)| p == path) {
                Some((_, methods)) => methods.push((method.clone(), *route)),
                None => by_path.push((path, vec![(method.clone(), *route)])),
            }
        }
        let mut inner = matchit::Router::new();
        for (path, methods) in by_path {
            // The table is a constant checked by tests; a bad template is a build-time bug.
            if let Err(e) = inner.insert(path, methods) {
                panic!("invalid route {path}: {e}");
            }
        }
        Self { inner }
    }

    /// The route for `method` and `path`.
    pub fn at(&self, method: &Method, path: &str) -> Result<Matched, NoRoute> {
        let found = self.inner.at(path).map_err(|_| NoRoute::NotFound)?;
        let route = found
            .value
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, r)| *r)
            .ok_or(NoRoute::MethodNotAllowed)?;
        Ok(Matched {
            route,
            params: found
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        })
    }
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_own_metric_name() {
        let names: std::collections::BTreeSet<&str> =
            ROUTES.iter().map(|(_, _, route)| route.name()).collect();
        let routes: std::collections::BTreeSet<String> = ROUTES
            .iter()
            .map(|(_, _, route)| format!("{route:?}"))
            .collect();
        assert_eq!(names.len(), routes.len());
        for (_, _, route) in ROUTES {
            assert_eq!(route.name(), format!("{route:?}"));
        }
    }

    #[test]
    fn paths_methods_and_params_are_matched() {
        let r = Router::new();
        assert_eq!(r.at(&Method::GET, "/healthz").unwrap().route, Route::Health);
        let m = r.at(&Method::GET, "/v1/clients/cli_1").unwrap();
        assert_eq!(
            (m.route, m.param("client_id")),
            (Route::GetClient, Some("cli_1"))
        );
        assert_eq!(
            r.at(&Method::DELETE, "/v1/clients"),
            Err(NoRoute::MethodNotAllowed)
        );
        assert_eq!(r.at(&Method::GET, "/v2/nothing"), Err(NoRoute::NotFound));
    }
}

#[cfg(test)]
mod openapi {
    use std::collections::BTreeSet;

    use super::ROUTES;

    const HTTP_METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn documented() -> BTreeSet<(String, String)> {
        let text = include_str!("../../../openapi.yaml");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("openapi.yaml parses");
        assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
        let paths = doc["paths"].as_mapping().expect("paths");
        let mut ops = BTreeSet::new();
        for (path, item) in paths {
            for (method, op) in item.as_mapping().expect("path item") {
                let method = method.as_str().expect("method").to_owned();
                if HTTP_METHODS.contains(&method.as_str()) {
                    assert!(
                        op["responses"].is_mapping(),
                        "{method} {path:?} has no responses"
                    );
                    ops.insert((
                        method.to_uppercase(),
                        path.as_str().expect("path").to_owned(),
                    ));
                }
            }
        }
        ops
    }

    /// Every `$ref` names something the document holds (a schema filed under `responses`
    /// once left half the references dangling).
    #[test]
    fn every_reference_resolves() {
        let text = include_str!("../../../openapi.yaml");
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("openapi.yaml parses");
        let mut dangling = BTreeSet::new();
        for reference in text.split("$ref: \"#/").skip(1) {
            let path = reference.split('"').next().unwrap_or_default();
            let mut node = &doc;
            for part in path.split('/') {
                node = &node[part];
            }
            if node.is_null() {
                dangling.insert(path.to_owned());
            }
        }
        assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    }

    #[test]
    fn every_served_route_is_documented_and_nothing_else_is() {
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p, _)| (m.as_str().to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(served, documented());
    }
}

#[cfg(test)]
mod samples {
    use lambda_http::RequestExt;

    use super::{Route, Router};

    /// The sample events in `events/` stay real API Gateway events that reach their routes.
    #[test]
    fn sample_events_parse_and_route() {
        let router = Router::new();
        for (text, route) in [
            (
                include_str!("../../../events/api-get-healthz.json"),
                Route::Health,
            ),
            (
                include_str!("../../../events/api-post-clients.json"),
                Route::RegisterClient,
            ),
        ] {
            let req = lambda_http::request::from_str(text).expect("an API Gateway event");
            let matched = router
                .at(req.method(), req.raw_http_path())
                .expect("a route");
            assert_eq!(matched.route, route);
        }
    }
}
