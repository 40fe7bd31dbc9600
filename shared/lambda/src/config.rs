//! Settings every function reads from its environment (set in `template.yaml` Globals).

use clavis_core::SystemFault;

/// The resources a Clavis function may touch, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Deployment stage (`dev`, `prod`, `local`…).
    pub stage: String,
    /// The state table.
    pub table_name: String,
    /// The audit table.
    pub audit_table_name: String,
    /// The ES256 signing key (id or ARN).
    pub signing_key_id: String,
    /// The symmetric key for secret pickup copies (id or ARN).
    pub secrets_key_id: String,
    /// The event bus.
    pub event_bus_name: String,
    /// Where unpublishable events go.
    pub events_dlq_url: String,
    /// Where failed workflow inputs go.
    pub workflow_dlq_url: String,
    /// Where workflow starts wait while Step Functions is unavailable.
    pub intake_queue_url: String,
}

impl Settings {
    /// Reads every setting; names each missing variable.
    pub fn from_env() -> Result<Self, SystemFault> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads every setting from `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SystemFault> {
        let mut missing = Vec::new();
        let mut get = |name: &'static str| {
            lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| {
                missing.push(name);
                String::new()
            })
        };
        let settings = Self {
            stage: get("CLAVIS_STAGE"),
            table_name: get("TABLE_NAME"),
            audit_table_name: get("AUDIT_TABLE_NAME"),
            signing_key_id: get("SIGNING_KEY_ID"),
            secrets_key_id: get("SECRETS_KEY_ID"),
            event_bus_name: get("EVENT_BUS_NAME"),
            events_dlq_url: get("EVENTS_DLQ_URL"),
            workflow_dlq_url: get("WORKFLOW_DLQ_URL"),
            intake_queue_url: get("INTAKE_QUEUE_URL"),
        };
        if missing.is_empty() {
            Ok(settings)
        } else {
            Err(SystemFault::Misconfigured(format!(
                "missing environment variables: {}",
                missing.join(", ")
            )))
        }
    }
}

/// One more required variable, beyond [`Settings`] (a function's own configuration).
pub fn required(name: &str) -> Result<String, SystemFault> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| SystemFault::Misconfigured(format!("missing environment variable: {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_variable_is_named() {
        let err = Settings::from_lookup(|name| {
            (name != "TABLE_NAME" && name != "EVENT_BUS_NAME").then(|| "x".to_owned())
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("TABLE_NAME") && text.contains("EVENT_BUS_NAME"),
            "{text}"
        );
    }

    #[test]
    fn a_complete_environment_is_read() {
        let s = Settings::from_lookup(|name| Some(name.to_lowercase())).unwrap();
        assert_eq!(s.table_name, "table_name");
    }
}

/// Default of `USE_RESOLUTION_SECONDS`: a predecessor's use is tracked to the minute.
pub const DEFAULT_USE_RESOLUTION_SECONDS: i64 = 60;

/// How precisely the use of a predecessor in an overlap is tracked (`USE_RESOLUTION_SECONDS`,
/// 1 to 3600, default 60): the api writes its use at most this often, and a rotation that
/// retires on drain looks again this often.
pub fn use_resolution() -> time::Duration {
    use_resolution_from(std::env::var("USE_RESOLUTION_SECONDS").ok().as_deref())
}

/// [`use_resolution`] of a variable's value; anything unusable is the default.
pub fn use_resolution_from(value: Option<&str>) -> time::Duration {
    seconds_within(value, 3600, DEFAULT_USE_RESOLUTION_SECONDS)
}

/// A whole number of seconds from 1 to `max`, or `default` for anything else.
fn seconds_within(value: Option<&str>, max: i64, default: i64) -> time::Duration {
    let seconds = value
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|s| (1..=max).contains(s))
        .unwrap_or(default);
    time::Duration::seconds(seconds)
}

/// How long a launcher's Step Functions circuit stays open (`START_COOL_OFF_SECONDS`, 1 to
/// 600, default 30).
pub fn start_cool_off() -> time::Duration {
    start_cool_off_from(std::env::var("START_COOL_OFF_SECONDS").ok().as_deref())
}

/// [`start_cool_off`] of a variable's value; anything unusable is the default.
pub fn start_cool_off_from(value: Option<&str>) -> time::Duration {
    seconds_within(
        value,
        600,
        clavis_aws::workflows::DEFAULT_START_COOL_OFF_SECONDS,
    )
}

#[cfg(test)]
mod start_cool_off_tests {
    use super::*;

    #[test]
    fn the_cool_off_is_bounded_and_defaults_to_thirty_seconds() {
        assert_eq!(start_cool_off_from(Some("5")), time::Duration::seconds(5));
        for bad in [None, Some("0"), Some("601"), Some("x")] {
            assert_eq!(
                start_cool_off_from(bad),
                time::Duration::seconds(30),
                "{bad:?}"
            );
        }
    }
}

#[cfg(test)]
mod use_resolution_tests {
    use super::*;

    #[test]
    fn the_resolution_is_bounded_and_defaults_to_a_minute() {
        let s = |v| use_resolution_from(v).whole_seconds();
        assert_eq!(s(None), 60);
        assert_eq!(s(Some("5")), 5);
        for bad in ["0", "3601", "-1", "soon", ""] {
            assert_eq!(s(Some(bad)), 60, "{bad}");
        }
    }
}
