//! The compact JWS envelope: size bound, header checks (before any key is touched), then the
//! ES256 signature over `header.payload`. Answers the payload bytes only once the signature holds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::Signature;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::VerifyError;
use crate::jwks::KeySet;

/// The JOSE header members Clavis reads or refuses; others are ignored.
#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    typ: Option<String>,
    kid: Option<String>,
    // Parameters that would let the token choose its own key, or demand extensions: refused,
    // never followed.
    jwk: Option<IgnoredAny>,
    jku: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
    x5c: Option<IgnoredAny>,
    crit: Option<IgnoredAny>,
}

/// Checks the envelope and signature of `token` and answers its payload (still unparsed JSON)
/// and the id of the key that signed it.
pub(crate) fn verified_payload(
    token: &str,
    keys: &KeySet,
    max_bytes: usize,
) -> Result<(Vec<u8>, String), VerifyError> {
    if token.len() > max_bytes {
        return Err(VerifyError::TooLarge { limit: max_bytes });
    }
    let (signing_input, signature_b64) = token
        .rsplit_once('.')
        .ok_or(VerifyError::Malformed("not three dot-separated parts"))?;
    let (header_b64, payload_b64) = signing_input
        .split_once('.')
        .ok_or(VerifyError::Malformed("not three dot-separated parts"))?;
    if payload_b64.contains('.') {
        return Err(VerifyError::Malformed("not three dot-separated parts"));
    }

    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| VerifyError::Malformed("header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object"))?;
    if header.alg.as_deref() != Some("ES256") {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    if !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(VerifyError::WrongType);
    }
    for (present, name) in [
        (header.jwk.is_some(), "jwk"),
        (header.jku.is_some(), "jku"),
        (header.x5u.is_some(), "x5u"),
        (header.x5c.is_some(), "x5c"),
        (header.crit.is_some(), "crit"),
    ] {
        if present {
            return Err(VerifyError::ForbiddenHeader(name));
        }
    }
    let kid = header
        .kid
        .ok_or(VerifyError::Malformed("header has no kid"))?;
    if !keys.contains(&kid) {
        return Err(VerifyError::UnknownKey);
    }

    // Strict base64url (no padding, no stray trailing bits) so one signature has one spelling.
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| VerifyError::BadSignature)?;
    if signature.len() != 64 {
        return Err(VerifyError::BadSignature);
    }
    // ECDSA signatures come in two spellings, (r, s) and (r, n - s); only the low-S one is
    // accepted, so a token has exactly one form (a cache or a deny list keyed by the token
    // cannot be side-stepped with the other).
    let parsed = Signature::from_slice(&signature).map_err(|_| VerifyError::BadSignature)?;
    if parsed.normalize_s().is_some() {
        return Err(VerifyError::BadSignature);
    }
    if !keys.verifies(&kid, signing_input.as_bytes(), &signature) {
        return Err(VerifyError::BadSignature);
    }

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| VerifyError::Malformed("payload is not base64url"))?;
    Ok((payload, kid))
}

/// RFC 9068 §4: `at+jwt`, or its full media type; media types compare case-insensitively.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_of_the_access_token_type_are_accepted() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(is_access_token_type(typ), "{typ}");
        }
        for typ in ["JWT", "jwt", "at+jwt ", "application/jwt", ""] {
            assert!(!is_access_token_type(typ), "{typ}");
        }
    }
}
