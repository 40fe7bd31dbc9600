//! Reading a JWT's header and claims without checking its signature: for display only, never
//! for a decision (resource servers verify with `clavis-verify`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::error::{CliError, CliResult};

/// The header and claims of `jwt`.
pub fn decode(jwt: &str) -> CliResult<(Value, Value)> {
    let mut parts = jwt.trim().split('.');
    let (Some(header), Some(claims), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(CliError::Usage(
            "not a JWT: it has three dot-separated parts".to_owned(),
        ));
    };
    Ok((part(header, "header")?, part(claims, "claims")?))
}

fn part(text: &str, what: &str) -> CliResult<Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| CliError::Usage(format!("the token's {what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| CliError::Usage(format!("the token's {what} is not JSON")))
}

/// The claims of `jwt` as a map.
pub fn claims(jwt: &str) -> CliResult<Map<String, Value>> {
    match decode(jwt)?.1 {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::Usage(
            "the token's claims are not an object".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    #[test]
    fn a_token_decodes_into_header_and_claims() {
        let jwt = format!(
            "{}.{}.sig",
            encode(r#"{"alg":"ES256","kid":"k1"}"#),
            encode(r#"{"sub":"cli_1","scope":"clavis.admin"}"#)
        );
        let (header, claims) = decode(&jwt).unwrap();
        assert_eq!(header["kid"], "k1");
        assert_eq!(claims["scope"], "clavis.admin");
        assert_eq!(super::claims(&jwt).unwrap()["sub"], "cli_1");
    }

    #[test]
    fn what_is_not_a_token_is_a_usage_error() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.x",
            &format!("{}.x.y", encode("{}")),
        ] {
            assert!(matches!(decode(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }
}
