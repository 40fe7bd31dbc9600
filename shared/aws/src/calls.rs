//! Counting AWS calls: an SDK interceptor that tallies every operation by service and name, so
//! a function can report what one invocation cost (docs/benchmarks.md counts them per issuance:
//! keep them minimal).
//!
//! Every client Clavis builds goes through [`clients`](crate::clients), which installs the
//! counter. A Lambda process handles one event at a time, so draining the tally at the end of
//! an invocation yields exactly that invocation's calls.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

static TALLY: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// The interceptor: one count per operation (retries of it are not extra calls). It reads the
/// operation name before serialisation: client-level `read_before_execution` runs before the
/// operation has put its metadata in the config bag.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "clavis.CallCounter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let key = match cfg.load::<Metadata>() {
            Some(m) => format!("{}.{}", m.service(), m.name()),
            None => "unknown".to_owned(),
        };
        let mut tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
        *tally.entry(key).or_default() += 1;
        Ok(())
    }
}

/// The calls counted since the last drain, by `service.Operation`, and resets the tally.
pub fn drain() -> BTreeMap<String, u64> {
    std::mem::take(&mut *TALLY.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A compact rendering for a log field: `dynamodb.GetItem=3 kms.Encrypt=1`.
pub fn render(calls: &BTreeMap<String, u64>) -> String {
    calls
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
