//! Key layout of the single table. One place decides every `pk`/`sk`.

use clavis_core::ids::{ApprovalId, ClientId, CredentialId, RequestId};

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// Optimistic-concurrency version attribute.
pub const VERSION: &str = "version";
/// Entity kind attribute, for humans reading the table.
pub const ENTITY: &str = "entity";

/// Key of a client item.
pub fn client(id: &ClientId) -> (String, String) {
    (format!("CLIENT#{id}"), "CLIENT".into())
}

/// Key of the claim on a delivery target (its address): one client per vault secret.
pub fn delivery_target(address: &str) -> (String, String) {
    (format!("DELIVERY#{address}"), "TARGET".into())
}

/// Key of a client's audit chain head.
pub fn chain_head(id: &ClientId) -> (String, String) {
    (format!("CLIENT#{id}"), "AUDIT_HEAD".into())
}

/// Key of the marker saying a client's revocation finished (its event is queued).
pub fn client_revocation_done(id: &ClientId) -> (String, String) {
    (format!("CLIENT#{id}"), "REVOCATION_DONE".into())
}

/// Key of a credential item.
pub fn credential(id: &CredentialId) -> (String, String) {
    (format!("CREDENTIAL#{id}"), "CREDENTIAL".into())
}

/// Key of the stored JWKS of one key set (by its fingerprint).
pub fn published_jwks(fingerprint: &str) -> (String, String) {
    (format!("JWKS#{fingerprint}"), "JWKS".into())
}

/// Key of the record of a replay run started through the API.
pub fn replay_run(id: &str) -> (String, String) {
    (format!("REPLAY#{id}"), "RUN".into())
}

/// Key of the marker that says the first operator exists.
pub fn bootstrap_marker() -> (String, String) {
    ("BOOTSTRAP".into(), "OPERATOR".into())
}

/// Key of the item naming the active policy version.
pub fn active_policy() -> (String, String) {
    ("POLICY".into(), "ACTIVE".into())
}

/// Partition of a client's per-minute issuance counters.
pub fn rate_partition(id: &ClientId) -> String {
    format!("RATE#{id}")
}

/// Sort key of the counter of `minute` (`YYYY-MM-DDTHH:MM`, UTC): keys sort by time.
pub fn rate_minute(minute: &str) -> String {
    format!("MIN#{minute}")
}

/// Key of the expiry sweep's checkpoint (the first day not yet drained).
pub fn expiry_checkpoint() -> (String, String) {
    ("SWEEP".into(), "EXPIRY".into())
}

/// Key of the renewal phase's checkpoint (the first day whose renewals are not all announced).
pub fn renewal_checkpoint() -> (String, String) {
    ("SWEEP".into(), "RENEWAL".into())
}

/// Key of an issuance request item.
pub fn request(id: &RequestId) -> (String, String) {
    (format!("REQUEST#{id}"), "REQUEST".into())
}

/// Key of an approval item.
pub fn approval(id: &ApprovalId) -> (String, String) {
    (format!("APPROVAL#{id}"), "APPROVAL".into())
}

/// Key of a request's one-time secret pickup copy.
pub fn pickup(id: &RequestId) -> (String, String) {
    (format!("PICKUP#{id}"), "PICKUP".into())
}

/// Key of an outbox entry (one event waiting to be published).
pub fn outbox(event_id: &str) -> (String, String) {
    (format!("OUTBOX#{event_id}"), "EVENT".into())
}

/// Partition of the revocation registry: entries sorted by zero-padded `seq`.
pub const REVOCATIONS: &str = "REVOCATIONS";

/// Key of the registry's counter (the last `seq` handed out).
pub fn revocation_counter() -> (String, String) {
    (REVOCATIONS.into(), "COUNTER".into())
}

/// Key of registry entry `seq`.
pub fn revocation(seq: u64) -> (String, String) {
    (REVOCATIONS.into(), revocation_sort_key(seq))
}

/// The sort key of registry entry `seq`: zero-padded, so the order of keys is the order of seqs.
pub fn revocation_sort_key(seq: u64) -> String {
    format!("SEQ#{seq:020}")
}

/// The `seq` a registry sort key names (`None` for the counter or anything else).
pub fn seq_of_sort_key(sk: &str) -> Option<u64> {
    sk.strip_prefix("SEQ#")?.parse().ok()
}

/// Partition of the copies of registry entries whose credentials expire in `month`
/// (`YYYY-MM`): what a snapshot of the entries still relevant reads.
pub fn revocations_expiring(month: &str) -> String {
    format!("REVOKED#{month}")
}
