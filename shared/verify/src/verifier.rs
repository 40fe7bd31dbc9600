//! The networked verifier: a cheap-to-clone handle that caches the issuer's JWKS (refetched on an
//! unknown `kid`, at most once per interval), keeps the revocation set current from the
//! registry and from events, and can do both in the background.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Instant, SystemTime};

use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use crate::cache::{TokenCache, digest_of};
use crate::claims::VerifiedToken;
use crate::config::{self, VerifierConfig};
use crate::error::{ConfigError, FetchError, PageError, VerifyError};
use crate::fetch;
use crate::jwks::KeySet;
use crate::revocations::{
    EventOutcome, PageOutcome, RevocationEvent, RevocationPage, RevocationSet, SnapshotOutcome,
    SnapshotPage,
};
use crate::validation::RevocationPolicy;
use crate::verify::verify_signed_by;

/// Largest JWKS answer read.
const JWKS_LIMIT: usize = 256 * 1024;
/// Largest registry page read (a page of 1000 entries is about 200 KB).
const PAGE_LIMIT: usize = 4 * 1024 * 1024;

/// Verifies tokens against the issuer's current keys and revocations. Clones share one cache.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    http: reqwest::Client,
    jwks_url: reqwest::Url,
    revocations_url: reqwest::Url,
    /// `{revocations_url}/snapshot`.
    snapshot_url: reqwest::Url,
    keys: RwLock<Arc<KeySet>>,
    /// Serializes JWKS fetches and remembers when they happened.
    key_fetches: Mutex<KeyFetches>,
    revocations: RwLock<RevocationSet>,
    /// One registry sync at a time.
    syncing: Mutex<()>,
    /// Wakes the background task early (an event revealed a gap).
    wake: Notify,
    /// Tokens verified before (their signature is not checked again).
    cache: std::sync::Mutex<TokenCache>,
}

#[derive(Default)]
struct KeyFetches {
    last_attempt: Option<Instant>,
    last_success: Option<Instant>,
}

/// What one registry sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    /// Pages fetched, snapshot pages included.
    pub pages: u32,
    /// Entries the snapshot brought (0 when the set already had its baseline).
    pub from_snapshot: usize,
    /// Entries forgotten because their credentials expired.
    pub forgotten: usize,
    /// The registry position now covered.
    pub last_seq: u64,
    /// Credentials now known revoked.
    pub revoked: usize,
}

/// The revocation set's health, for a readiness probe or metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationStatus {
    /// The registry position covered.
    pub last_seq: u64,
    /// Credentials known revoked.
    pub revoked: usize,
    /// Request time of the last successful sync.
    pub synced_at: Option<SystemTime>,
    /// Whether an event revealed a gap not yet backfilled.
    pub needs_backfill: bool,
    /// Whether the set is within `max_staleness` now (if not, tokens are refused unless the
    /// policy is fail-open).
    pub fresh: bool,
}

impl Verifier {
    /// A verifier for `config`. No I/O: keys are fetched on first use (or by
    /// [`Verifier::refresh_keys`]), revocations by [`Verifier::sync`] or [`Verifier::spawn_sync`];
    /// until the first sync every token is refused as [`VerifyError::RevocationStatusUnknown`]
    /// (unless fail-open).
    pub fn new(config: VerifierConfig) -> Result<Self, ConfigError> {
        let jwks_url = config::url("jwks_url", &config.jwks_url)?;
        let revocations_url = config::url("revocations_url", &config.revocations_url)?;
        let mut snapshot_url = revocations_url.clone();
        snapshot_url
            .path_segments_mut()
            .map_err(|()| ConfigError::InvalidUrl {
                name: "revocations_url",
            })?
            .pop_if_empty()
            .push("snapshot");
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            // The issuer answers directly; a redirect would be somebody else's keys.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("clavis-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Client)?;
        let cache = std::sync::Mutex::new(TokenCache::new(config.token_cache_capacity));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                http,
                jwks_url,
                revocations_url,
                snapshot_url,
                keys: RwLock::new(Arc::new(KeySet::default())),
                key_fetches: Mutex::new(KeyFetches::default()),
                revocations: RwLock::new(RevocationSet::new()),
                syncing: Mutex::new(()),
                wake: Notify::new(),
                cache,
            }),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// Verifies `token` now.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.verify_at(token, SystemTime::now()).await
    }

    /// Verifies `token` at `now`. An unknown `kid` triggers one JWKS fetch, unless one happened
    /// less than `jwks_min_refresh_interval` ago.
    pub async fn verify_at(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let validation = &self.inner.config.validation;
        let keys = self.keys();
        let digest = digest_of(token);
        let cached = self.cache().hit(&digest, &keys);
        let verified = match cached {
            Some(cached) => {
                validation.check_claims(&cached, now)?;
                cached
            }
            None => {
                let (verified, kid) = match verify_signed_by(token, &keys, validation, now) {
                    Err(VerifyError::UnknownKey) if self.refetch_for_unknown_key(&keys).await => {
                        verify_signed_by(token, &self.keys(), validation, now)?
                    }
                    other => other?,
                };
                self.cache().insert(digest, verified.clone(), kid);
                verified
            }
        };
        self.revocations()
            .check(verified.credential_id(), now, validation)?;
        Ok(verified)
    }

    /// Fetches the JWKS now and replaces the cached keys (keys no longer published are
    /// dropped). Answers how many keys there are.
    pub async fn refresh_keys(&self) -> Result<usize, FetchError> {
        let mut fetches = self.inner.key_fetches.lock().await;
        self.fetch_keys(&mut fetches).await
    }

    /// Brings the revocation set up to date: the first time, reads the registry's snapshot of
    /// entries still relevant (an issuer without one is read from `seq` 0); then pages
    /// `/v1/revocations?since=<last seq>` until a page without `next`, marks the set synced as
    /// of the last page's request, and forgets entries whose credentials have expired.
    pub async fn sync(&self) -> Result<SyncReport, FetchError> {
        let _one_at_a_time = self.inner.syncing.lock().await;
        let mut pages = 0;
        let mut from_snapshot = 0;
        if self.revocations().needs_snapshot() {
            match self.take_snapshot(&mut pages).await {
                Ok(entries) => from_snapshot = entries,
                // An issuer from before snapshots: the registry from the start is the baseline.
                Err(FetchError::Status { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let mut since = self.revocations().last_seq();
        loop {
            let requested_at = SystemTime::now();
            let page = self.fetch_page(since).await?;
            pages += 1;
            let outcome = self.revocations_mut().apply_page(&page, requested_at)?;
            match outcome {
                PageOutcome::Complete => break,
                PageOutcome::More { since: next } if next > since => since = next,
                PageOutcome::More { .. } => return Err(PageError::NoProgress { since }.into()),
            }
        }
        let forgotten = self
            .revocations_mut()
            .forget_expired(SystemTime::now(), self.inner.config.validation.leeway);
        let set = self.revocations();
        Ok(SyncReport {
            pages,
            from_snapshot,
            forgotten,
            last_seq: set.last_seq(),
            revoked: set.len(),
        })
    }

    /// Reads the whole snapshot into the set; answers how many entries it brought.
    async fn take_snapshot(&self, pages: &mut u32) -> Result<usize, FetchError> {
        let mut cursor: Option<String> = None;
        let mut entries = 0;
        loop {
            let page = self.fetch_snapshot_page(cursor.as_deref()).await?;
            *pages += 1;
            entries += page.items.len();
            match self.revocations_mut().apply_snapshot_page(&page) {
                SnapshotOutcome::Complete => return Ok(entries),
                SnapshotOutcome::More { cursor: next } => {
                    if cursor.as_deref() == Some(next.as_str()) {
                        return Err(PageError::NoProgress { since: page.seq }.into());
                    }
                    cursor = Some(next);
                }
            }
        }
    }

    /// Syncs only if the last successful sync is older than `poll_interval` (or there is none,
    /// or a gap awaits backfill); answers `None` when no sync was due. For hosts whose
    /// background tasks do not run between requests (AWS Lambda freezes them): call it at the
    /// start of each invocation.
    pub async fn sync_if_due(&self) -> Result<Option<SyncReport>, FetchError> {
        let due = {
            let set = self.revocations();
            set.needs_backfill()
                || set
                    .age(SystemTime::now())
                    .is_none_or(|age| age >= self.inner.config.poll_interval)
        };
        if due {
            self.sync().await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// Applies a `Credential Revoked` event's `detail`. Its credential is refused from now on;
    /// a gap before it wakes the background sync to backfill.
    pub fn apply_event(&self, event: &RevocationEvent) -> EventOutcome {
        let outcome = self.revocations_mut().apply_event(event);
        if matches!(outcome, EventOutcome::Gap { .. }) {
            self.inner.wake.notify_one();
        }
        outcome
    }

    /// The revocation set's health now.
    pub fn revocation_status(&self) -> RevocationStatus {
        let set = self.revocations();
        let max = self.inner.config.validation.max_staleness;
        RevocationStatus {
            last_seq: set.last_seq(),
            revoked: set.len(),
            synced_at: set.synced_at(),
            needs_backfill: set.needs_backfill(),
            fresh: set.age(SystemTime::now()).is_some_and(|age| age <= max),
        }
    }

    /// The ids of the cached keys.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys().kids().map(str::to_owned).collect()
    }

    /// Keeps revocations and keys current on the current tokio runtime: syncs now, then every
    /// `poll_interval` after the previous round ends (at once when an event revealed a gap), and
    /// refetches the JWKS when older than `jwks_max_age`. Failures are logged and retried next
    /// round. Runs until the handle is aborted.
    pub fn spawn_sync(&self) -> JoinHandle<()> {
        let config = &self.inner.config;
        let round = config
            .poll_interval
            .saturating_add(config.request_timeout.saturating_mul(2));
        if config.validation.revocation_policy == RevocationPolicy::FailClosed
            && config.validation.max_staleness < round
        {
            tracing::warn!(
                ?round,
                max_staleness = ?config.validation.max_staleness,
                "clavis-verify: max_staleness is shorter than a sync round; tokens will be \
                 refused between syncs"
            );
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                // Concurrently, so a slow JWKS fetch never delays a revocation sync.
                let ((), ()) = tokio::join!(this.sync_logged(), this.refresh_old_keys());
                tokio::select! {
                    () = tokio::time::sleep(this.inner.config.poll_interval) => {}
                    () = this.inner.wake.notified() => {}
                }
            }
        })
    }

    async fn sync_logged(&self) {
        match self.sync().await {
            Ok(report) => tracing::debug!(
                pages = report.pages,
                last_seq = report.last_seq,
                revoked = report.revoked,
                "clavis-verify: revocations synced"
            ),
            Err(error) => {
                let status = self.revocation_status();
                tracing::warn!(
                    %error,
                    last_seq = status.last_seq,
                    fresh = status.fresh,
                    "clavis-verify: revocation sync failed"
                );
            }
        }
    }

    async fn refresh_old_keys(&self) {
        // A fetch already under way (for an unknown kid) does the job; waiting for it could
        // stretch this round, and so the revocation staleness bound, by a request timeout.
        let Ok(mut fetches) = self.inner.key_fetches.try_lock() else {
            return;
        };
        let max_age = self.inner.config.jwks_max_age;
        let current =
            !self.keys().is_empty() && fetches.last_success.is_some_and(|t| t.elapsed() < max_age);
        if current {
            return;
        }
        if let Err(error) = self.fetch_keys(&mut fetches).await {
            tracing::warn!(%error, "clavis-verify: JWKS refresh failed");
        }
    }

    /// Whether a retry can find the key: another task replaced the keys meanwhile, or this one
    /// fetched them now. At most one fetch per `jwks_min_refresh_interval`.
    async fn refetch_for_unknown_key(&self, seen: &Arc<KeySet>) -> bool {
        let mut fetches = self.inner.key_fetches.lock().await;
        if !Arc::ptr_eq(seen, &self.keys()) {
            return true;
        }
        let interval = self.inner.config.jwks_min_refresh_interval;
        if fetches.last_attempt.is_some_and(|t| t.elapsed() < interval) {
            return false;
        }
        match self.fetch_keys(&mut fetches).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "clavis-verify: JWKS fetch for an unknown kid failed");
                false
            }
        }
    }

    async fn fetch_keys(&self, fetches: &mut KeyFetches) -> Result<usize, FetchError> {
        fetches.last_attempt = Some(Instant::now());
        let body = fetch::get(
            &self.inner.http,
            self.inner.jwks_url.clone(),
            None,
            "jwks",
            JWKS_LIMIT,
        )
        .await?;
        let keys = KeySet::from_jwks_json(&body)?;
        if keys.skipped() > 0 {
            tracing::warn!(
                skipped = keys.skipped(),
                "clavis-verify: JWKS has keys this verifier cannot use"
            );
        }
        let count = keys.len();
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        fetches.last_success = Some(Instant::now());
        Ok(count)
    }

    async fn fetch_page(&self, since: u64) -> Result<RevocationPage, FetchError> {
        let mut url = self.inner.revocations_url.clone();
        url.query_pairs_mut()
            .append_pair("since", &since.to_string())
            .append_pair("limit", &self.inner.config.page_limit.to_string());
        self.fetch_registry(url, "revocations").await
    }

    async fn fetch_snapshot_page(&self, cursor: Option<&str>) -> Result<SnapshotPage, FetchError> {
        let mut url = self.inner.snapshot_url.clone();
        url.query_pairs_mut()
            .append_pair("limit", &self.inner.config.page_limit.to_string());
        if let Some(cursor) = cursor {
            url.query_pairs_mut().append_pair("cursor", cursor);
        }
        self.fetch_registry(url, "revocation snapshot").await
    }

    /// GETs one registry document with the registry's authorization.
    async fn fetch_registry<T: serde::de::DeserializeOwned>(
        &self,
        url: reqwest::Url,
        what: &'static str,
    ) -> Result<T, FetchError> {
        let authorization = self
            .inner
            .config
            .revocations_authorization
            .as_ref()
            .map(|a| a.header());
        let body = fetch::get(&self.inner.http, url, authorization, what, PAGE_LIMIT).await?;
        serde_json::from_slice(&body).map_err(|_| FetchError::Shape { what })
    }

    fn keys(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .inner
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, TokenCache> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn revocations(&self) -> RwLockReadGuard<'_, RevocationSet> {
        self.inner
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn revocations_mut(&self) -> RwLockWriteGuard<'_, RevocationSet> {
        self.inner
            .revocations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.inner.config)
            .field("keys", &self.keys())
            .field("revocations", &self.revocation_status())
            .finish()
    }
}
