//! Pure verification of one token at a given time: envelope and signature, then claims, then
//! revocation. No I/O, so it is tested and benchmarked as is.

use std::time::SystemTime;

use crate::claims::{self, VerifiedToken};
use crate::error::VerifyError;
use crate::jwks::KeySet;
use crate::jws;
use crate::revocations::RevocationSet;
use crate::validation::Validation;

/// Verifies `token` at `now` against the issuer's `keys`, the `revocations` known and the
/// `validation` rules. Nothing in the payload is read before the signature holds.
pub fn verify(
    token: &str,
    keys: &KeySet,
    revocations: &RevocationSet,
    validation: &Validation,
    now: SystemTime,
) -> Result<VerifiedToken, VerifyError> {
    let verified = verify_signed(token, keys, validation, now)?;
    revocations.check(&verified.credential_id, now, validation)?;
    Ok(verified)
}

/// Everything but the revocation check (which [`crate::Verifier`] does under its own lock).
pub(crate) fn verify_signed(
    token: &str,
    keys: &KeySet,
    validation: &Validation,
    now: SystemTime,
) -> Result<VerifiedToken, VerifyError> {
    verify_signed_by(token, keys, validation, now).map(|(verified, _)| verified)
}

/// [`verify_signed`], with the id of the key that signed the token.
pub(crate) fn verify_signed_by(
    token: &str,
    keys: &KeySet,
    validation: &Validation,
    now: SystemTime,
) -> Result<(VerifiedToken, String), VerifyError> {
    let (payload, kid) = jws::verified_payload(token, keys, validation.max_token_bytes)?;
    let verified = claims::parse(&payload)?;
    validation.check_claims(&verified, now)?;
    Ok((verified, kid))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use sha2::Sha256;

    use super::*;
    use crate::revocations::{RevocationEntry, RevocationPage};
    use crate::testing::{TestIssuer, encode_part};
    use crate::validation::RevocationPolicy;

    const ISSUER: &str = "http://127.0.0.1:9000/lambda-url/api";
    const AUDIENCE: &str = "https://orders.example";
    const CREDENTIAL: &str = "crd_01JDXYZABCDEFGHJKMNPQRSTVW";
    const NOW: u64 = 1_795_000_000;

    struct Fixture {
        issuer: TestIssuer,
        keys: KeySet,
        revocations: RevocationSet,
        validation: Validation,
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn now() -> SystemTime {
        at(NOW)
    }

    fn fixture() -> Fixture {
        let issuer = TestIssuer::new(ISSUER, "key-1");
        let keys = issuer.key_set();
        let mut revocations = RevocationSet::new();
        revocations.mark_synced(now());
        Fixture {
            issuer,
            keys,
            revocations,
            validation: Validation::new(ISSUER, AUDIENCE),
        }
    }

    impl Fixture {
        fn claims(&self) -> Value {
            self.issuer.claims(AUDIENCE, CREDENTIAL, now())
        }

        fn token(&self) -> String {
            self.issuer.mint(&self.claims())
        }

        fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
            self.verify_at(token, now())
        }

        fn verify_at(&self, token: &str, at: SystemTime) -> Result<VerifiedToken, VerifyError> {
            verify(token, &self.keys, &self.revocations, &self.validation, at)
        }

        fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> String {
            let mut claims = self.claims();
            edit(&mut claims);
            self.issuer.mint(&claims)
        }

        fn with_header(&self, edit: impl FnOnce(&mut Value)) -> String {
            let mut header = self.issuer.header();
            edit(&mut header);
            self.issuer.mint_with_header(&header, &self.claims())
        }
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn the_high_s_spelling_of_a_valid_signature_is_refused() {
        let f = fixture();
        let claims = f.claims();
        let low = f.issuer.mint(&claims);
        let high = f.issuer.mint_high_s(&claims);
        assert_ne!(parts(&low)[2], parts(&high)[2]);
        assert_eq!(parts(&low)[..2], parts(&high)[..2]);
        // The other spelling is a mathematically valid ECDSA signature of the same input...
        let signature = URL_SAFE_NO_PAD.decode(&parts(&high)[2]).unwrap();
        let input = format!("{}.{}", parts(&high)[0], parts(&high)[1]);
        let sig = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        use p256::ecdsa::signature::Verifier as _;
        assert!(
            f.issuer
                .verifying_key()
                .verify(input.as_bytes(), &sig)
                .is_ok()
        );
        // ...and refused: one token, one spelling.
        assert!(f.verify(&low).is_ok());
        assert_eq!(f.verify(&high).unwrap_err(), VerifyError::BadSignature);
    }

    #[test]
    fn a_valid_token_verifies_and_exposes_its_claims() {
        let f = fixture();
        let t = f.verify(&f.token()).unwrap();
        assert_eq!(t.iss(), ISSUER);
        assert_eq!(t.sub(), t.client_id());
        assert_eq!(t.credential_id(), CREDENTIAL);
        assert_eq!(t.audiences(), [AUDIENCE]);
        assert!(t.has_scope("read") && t.has_scope("write") && !t.has_scope("admin"));
        assert_eq!(t.iat(), NOW as i64);
        assert_eq!(t.exp(), NOW as i64 + 300);
        assert_eq!(t.nbf(), None);
        assert!(!t.jti().is_empty());
    }

    #[test]
    fn an_audience_array_containing_ours_verifies() {
        let f = fixture();
        let token = f.with_claims(|c| c["aud"] = json!(["https://other.example", AUDIENCE]));
        assert!(f.verify(&token).is_ok());
    }

    #[test]
    fn a_tampered_payload_is_refused() {
        let f = fixture();
        let token = f.token();
        let p = parts(&token);
        let mut claims = f.claims();
        claims["scope"] = json!("read write admin");
        let forged = format!("{}.{}.{}", p[0], encode_part(&claims), p[2]);
        assert_eq!(f.verify(&forged), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_tampered_signature_is_refused() {
        let f = fixture();
        let p = parts(&f.token());
        let mut signature = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
        signature[10] ^= 0x01;
        let forged = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&signature));
        assert_eq!(f.verify(&forged), Err(VerifyError::BadSignature));
        let truncated = format!("{}.{}.{}", p[0], p[1], &p[2][..40]);
        assert_eq!(f.verify(&truncated), Err(VerifyError::BadSignature));
    }

    #[test]
    fn a_signature_by_another_key_under_the_same_kid_is_refused() {
        let f = fixture();
        let impostor = TestIssuer::new(ISSUER, "key-1");
        let token = impostor.mint(&f.claims());
        assert_eq!(f.verify(&token), Err(VerifyError::BadSignature));
    }

    #[test]
    fn an_expired_token_is_refused_beyond_the_leeway_and_accepted_within_it() {
        let mut f = fixture();
        let token = f.token();
        let exp = NOW + 300;
        // Keep revocation status fresh at every instant probed: only expiry is under test.
        f.revocations.mark_synced(at(exp + 30));
        assert!(f.verify_at(&token, at(exp - 1)).is_ok());
        assert!(
            f.verify_at(&token, at(exp + 29)).is_ok(),
            "within 30 s leeway"
        );
        assert_eq!(f.verify_at(&token, at(exp + 30)), Err(VerifyError::Expired));
        let mut strict = fixture();
        strict.validation.leeway = Duration::ZERO;
        strict.revocations.mark_synced(at(exp));
        let token = strict.token();
        assert_eq!(strict.verify_at(&token, at(exp)), Err(VerifyError::Expired));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let f = fixture();
        let token = f.with_claims(|c| c["nbf"] = json!(NOW + 60));
        assert_eq!(f.verify(&token), Err(VerifyError::NotYetValid));
        let within_leeway = f.with_claims(|c| c["nbf"] = json!(NOW + 30));
        assert!(f.verify(&within_leeway).is_ok());
        let issued_in_the_future = f.with_claims(|c| c["iat"] = json!(NOW + 60));
        assert_eq!(
            f.verify(&issued_in_the_future),
            Err(VerifyError::NotYetValid)
        );
    }

    #[test]
    fn a_token_for_another_audience_is_refused() {
        let f = fixture();
        let token = f.with_claims(|c| c["aud"] = json!("https://billing.example"));
        assert_eq!(f.verify(&token), Err(VerifyError::WrongAudience));
        let none_of_ours = f.with_claims(|c| c["aud"] = json!(["a", "b"]));
        assert_eq!(f.verify(&none_of_ours), Err(VerifyError::WrongAudience));
    }

    #[test]
    fn a_token_from_another_issuer_is_refused() {
        let f = fixture();
        for iss in [
            "http://127.0.0.1:9000/lambda-url/api/",
            "http://evil.example/lambda-url/api",
        ] {
            let token = f.with_claims(|c| c["iss"] = json!(iss));
            assert_eq!(f.verify(&token), Err(VerifyError::WrongIssuer), "{iss}");
        }
    }

    #[test]
    fn alg_none_with_an_empty_signature_is_refused() {
        let f = fixture();
        let header = json!({"alg": "none", "typ": "at+jwt", "kid": "key-1"});
        let token = format!("{}.{}.", encode_part(&header), encode_part(&f.claims()));
        assert_eq!(f.verify(&token), Err(VerifyError::UnsupportedAlgorithm));
        let header = json!({"typ": "at+jwt", "kid": "key-1"});
        let token = format!("{}.{}.", encode_part(&header), encode_part(&f.claims()));
        assert_eq!(f.verify(&token), Err(VerifyError::UnsupportedAlgorithm));
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        let f = fixture();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "key-1"});
        let signing_input = format!("{}.{}", encode_part(&header), encode_part(&f.claims()));
        let public_sec1 = f.issuer.verifying_key().to_encoded_point(false);
        let jwks = f.issuer.jwks_json();
        for secret in [public_sec1.as_bytes(), jwks.as_bytes()] {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
            mac.update(signing_input.as_bytes());
            let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
            let token = format!("{signing_input}.{tag}");
            assert_eq!(f.verify(&token), Err(VerifyError::UnsupportedAlgorithm));
        }
    }

    #[test]
    fn any_other_algorithm_spelling_is_refused() {
        let f = fixture();
        for alg in ["es256", "ES384", "RS256", "ES256K", "EdDSA", " ES256"] {
            let token = f.with_header(|h| h["alg"] = json!(alg));
            assert_eq!(
                f.verify(&token),
                Err(VerifyError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_wrong_or_missing_typ_is_refused() {
        let f = fixture();
        for typ in [json!("JWT"), json!("application/jwt"), json!(null)] {
            let token = f.with_header(|h| h["typ"] = typ.clone());
            assert_eq!(f.verify(&token), Err(VerifyError::WrongType), "{typ}");
        }
        let full = f.with_header(|h| h["typ"] = json!("Application/AT+JWT"));
        assert!(f.verify(&full).is_ok());
    }

    #[test]
    fn an_unknown_kid_is_refused() {
        let f = fixture();
        let token = f.with_header(|h| h["kid"] = json!("key-2"));
        assert_eq!(f.verify(&token), Err(VerifyError::UnknownKey));
        let no_kid = f.with_header(|h| {
            h.as_object_mut().unwrap().remove("kid");
        });
        assert!(matches!(f.verify(&no_kid), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn headers_naming_their_own_key_are_refused_without_being_followed() {
        let f = fixture();
        for (name, value) in [
            ("jwk", f.issuer.jwk()),
            ("jku", json!("http://evil.example/jwks.json")),
            ("x5u", json!("http://evil.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("crit", json!(["exp"])),
        ] {
            let token = f.with_header(|h| h[name] = value.clone());
            assert_eq!(
                f.verify(&token),
                Err(VerifyError::ForbiddenHeader(name)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_revoked_credential_is_refused() {
        let mut f = fixture();
        let page = RevocationPage {
            items: vec![RevocationEntry {
                seq: 1,
                credential_id: CREDENTIAL.to_owned(),
                client_id: "cli_1".into(),
                reason: "key_compromise".into(),
                revoked_at: "2026-11-27T16:00:00Z".into(),
                expires_at: None,
            }],
            next: None,
        };
        f.revocations.apply_page(&page, now()).unwrap();
        assert_eq!(f.verify(&f.token()), Err(VerifyError::Revoked));
    }

    #[test]
    fn a_stale_revocation_set_makes_status_unknown() {
        let mut f = fixture();
        let token = f.token();
        let fresh_until = NOW + 120;
        assert!(f.verify_at(&token, at(fresh_until)).is_ok());
        assert_eq!(
            f.verify_at(&token, at(fresh_until + 1)),
            Err(VerifyError::RevocationStatusUnknown)
        );
        f.revocations = RevocationSet::new();
        assert_eq!(
            f.verify(&token),
            Err(VerifyError::RevocationStatusUnknown),
            "never synced"
        );
        f.validation.revocation_policy = RevocationPolicy::FailOpen;
        assert!(f.verify(&token).is_ok(), "fail open only when asked");
    }

    #[test]
    fn an_oversized_token_is_refused_before_decoding() {
        let f = fixture();
        let big = f.with_claims(|c| c["pad"] = json!("x".repeat(9000)));
        assert_eq!(f.verify(&big), Err(VerifyError::TooLarge { limit: 8192 }));
    }

    #[test]
    fn tokens_of_the_wrong_shape_are_malformed() {
        let f = fixture();
        let token = f.token();
        for bad in [
            "",
            "abc",
            "a.b",
            &format!("{token}.x"),
            &format!("={token}"),
        ] {
            assert!(
                matches!(f.verify(bad), Err(VerifyError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_never_contain_the_token() {
        let f = fixture();
        let secretish = "s3cr3t-looking-value";
        let token = f.with_claims(|c| c["exp"] = json!(secretish));
        let error = f.verify(&token).unwrap_err();
        assert!(!format!("{error} {error:?}").contains(secretish));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_single_byte_change_is_refused(index in any::<prop::sample::Index>(), byte in 0u8..0x80) {
            let f = fixture();
            let token = f.token();
            let mut bytes = token.clone().into_bytes();
            let i = index.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(f.verify(&changed).is_err());
        }
    }
}
