//! Query parameters of the listing routes: `limit`, `cursor` and filters, checked before
//! anything is read. A malformed or out-of-range parameter is a 400 problem naming it.

use clavis_core::{FieldViolation, UserError};
use lambda_http::{Request, RequestExt};

/// A listing's query string.
pub(crate) struct Query<'r> {
    req: &'r Request,
}

fn invalid(name: &str, reason: String) -> UserError {
    UserError::InvalidQuery(vec![FieldViolation::new(name, reason)])
}

impl<'r> Query<'r> {
    /// The query string of `req`.
    pub(crate) fn of(req: &'r Request) -> Self {
        Self { req }
    }

    /// The value of `name`, if given; a repeated parameter is refused.
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, UserError> {
        let params = self.req.query_string_parameters_ref();
        let all = params.and_then(|q| q.all(name)).unwrap_or_default();
        match all.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).to_owned())),
            _ => Err(invalid(name, "must be given once".into())),
        }
    }

    /// `limit`: 1 to `max`, `default` when absent.
    pub(crate) fn limit(&self, default: i32, max: i32) -> Result<i32, UserError> {
        match self.text("limit")? {
            None => Ok(default),
            Some(v) => v
                .parse::<i32>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid("limit", format!("must be 1 to {max}"))),
        }
    }

    /// A filter whose values are the snake_case names of `T` (an enum that deserializes from
    /// them), or `None` when absent.
    pub(crate) fn one_of<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        names: &[&str],
    ) -> Result<Option<T>, UserError> {
        let Some(v) = self.text(name)? else {
            return Ok(None);
        };
        serde_json::from_value(serde_json::Value::String(v))
            .map(Some)
            .map_err(|_| invalid(name, format!("must be one of {}", names.join(", "))))
    }
}
