//! Operator scopes: what a caller of the operator API may do (openapi.yaml).

/// Register and manage clients.
pub const ADMIN: &str = "clavis.admin";
/// Request credentials for clients.
pub const ISSUER: &str = "clavis.issuer";
/// Approve or deny held issuances.
pub const APPROVER: &str = "clavis.approver";
/// Revoke credentials and clients.
pub const REVOKER: &str = "clavis.revoker";
/// Read and export the audit trail.
pub const AUDITOR: &str = "clavis.auditor";
/// Introspect secrets and tokens (RFC 7662): for resource servers.
pub const INTROSPECT: &str = "clavis.introspect";
/// Read the revocation registry: for resource servers and their verifiers.
pub const REGISTRY: &str = "clavis.registry";

/// Every operator scope: what the bootstrap administrator holds.
pub const ALL: [&str; 7] = [
    ADMIN, ISSUER, APPROVER, REVOKER, AUDITOR, INTROSPECT, REGISTRY,
];

/// The audience of credentials that call Clavis itself.
pub const CLAVIS_AUDIENCE: &str = "clavis";
