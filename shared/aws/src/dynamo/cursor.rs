//! Opaque paging cursors: a query's `LastEvaluatedKey` (string attributes only) as URL-safe
//! base64 JSON, and back. A cursor is checked against the key names its index has and the shape
//! of each value before it reaches DynamoDB, so a forged one is the caller's mistake (400), not
//! a validation fault of the database (5xx).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::{Error, FieldViolation, SystemFault, UserError};

use super::items::Item;

/// The cursor of `key` (a `LastEvaluatedKey`), or `None` when the query is exhausted.
pub fn encode(key: Option<Item>) -> Result<Option<String>, Error> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain)
        .map_err(|e| SystemFault::Internal(format!("cannot encode cursor: {e}")))?;
    Ok(Some(URL_SAFE_NO_PAD.encode(json)))
}

/// The key a cursor stands for: exactly the attributes `names`, each accepted by `valid`
/// (name, value); anything else is [`UserError::InvalidQuery`] on `cursor`.
pub fn decode(
    cursor: &str,
    names: &[&str],
    valid: impl Fn(&str, &str) -> bool,
) -> Result<Item, UserError> {
    let bad = || {
        UserError::InvalidQuery(vec![FieldViolation::new(
            "cursor",
            "is not a cursor this API issued",
        )])
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let plain: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let complete = plain.len() == names.len() && names.iter().all(|k| plain.contains_key(*k));
    if !complete || !plain.iter().all(|(k, v)| valid(k, v)) {
        return Err(bad());
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    #[test]
    fn a_cursor_round_trips_and_an_empty_key_ends_the_listing() {
        let k = key(&[("pk", "CLIENT#cli_1"), ("sk", "CLIENT")]);
        let cursor = encode(Some(k.clone())).unwrap().unwrap();
        assert_eq!(decode(&cursor, &["pk", "sk"], |_, _| true).unwrap(), k);
        assert_eq!(encode(Some(Item::new())).unwrap(), None);
        assert_eq!(encode(None).unwrap(), None);
    }

    #[test]
    fn missing_extra_or_refused_attributes_are_the_callers_mistake() {
        let cursor = encode(Some(key(&[("pk", "a"), ("sk", "b")])))
            .unwrap()
            .unwrap();
        for (names, valid) in [
            (&["pk", "sk", "x"][..], true),
            (&["pk"][..], true),
            (&["pk", "sk"][..], false),
        ] {
            let err = decode(&cursor, names, |_, _| valid).unwrap_err();
            assert_eq!((err.code(), err.http_status()), ("invalid-query", 400));
        }
    }

    proptest! {
        #[test]
        fn no_text_decodes_unless_it_names_exactly_the_key(text in ".{0,64}") {
            let decoded = decode(&text, &["pk", "sk"], |_, v| v.starts_with("CLIENT#"));
            if let Ok(k) = decoded {
                prop_assert_eq!(k.len(), 2);
            }
        }
    }
}
