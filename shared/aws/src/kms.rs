//! KMS: envelope-free encryption of small values bound to an encryption context, and ES256
//! signing with an `ECC_NIST_P256` key whose private half never leaves KMS.

use std::collections::BTreeMap;

use aws_sdk_kms::Client as KmsClient;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::jwk::Jwk;
use clavis_core::{Error, SystemFault};
use p256::pkcs8::DecodePublicKey;
use zeroize::Zeroizing;

use crate::fault;

/// Key-value pairs bound to a ciphertext: decryption with any other context fails.
pub type EncryptionContext = BTreeMap<String, String>;

/// KMS operations Clavis uses.
#[derive(Debug, Clone)]
pub struct Kms {
    client: KmsClient,
}

impl Kms {
    /// Wraps an SDK client.
    pub fn new(client: KmsClient) -> Self {
        Self { client }
    }

    /// Encrypts `plaintext` (at most 4 KiB) under `key_id`, bound to `context`.
    pub async fn encrypt(
        &self,
        key_id: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        let out = self
            .client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| fault::from_sdk("kms", &e))?;
        out.ciphertext_blob.map(Blob::into_inner).ok_or_else(|| {
            SystemFault::Internal("KMS Encrypt returned no ciphertext".into()).into()
        })
    }

    /// Decrypts a ciphertext made by [`Kms::encrypt`] with the same context. A wrong context or a
    /// tampered ciphertext (`InvalidCiphertextException`) is an internal fault: we stored it.
    pub async fn decrypt(
        &self,
        key_id: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(ciphertext))
            .set_encryption_context(Some(context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                if fault::has_code(&e, "InvalidCiphertextException") {
                    SystemFault::Internal("a ciphertext does not match its context".into())
                } else {
                    fault::from_sdk("kms", &e)
                }
            })?;
        out.plaintext
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| SystemFault::Internal("KMS Decrypt returned no plaintext".into()).into())
    }

    /// Signs `message` with ECDSA P-256 / SHA-256 and returns the 64-byte JOSE form (`r || s`).
    ///
    /// Uses `MessageType=RAW` (KMS hashes), which both AWS and the local cloud get right.
    pub async fn sign_es256(&self, key_id: &str, message: &[u8]) -> Result<[u8; 64], Error> {
        let out = self
            .client
            .sign()
            .key_id(key_id)
            .message(Blob::new(message))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| fault::from_sdk("kms", &e))?;
        let der = out
            .signature
            .ok_or_else(|| SystemFault::Internal("KMS Sign returned no signature".into()))?;
        der_to_jose(der.as_ref())
    }

    /// The public half of `key_id` as a JWK whose `kid` is the key id KMS reports.
    pub async fn public_jwk(&self, key_id: &str) -> Result<Jwk, Error> {
        let out = self
            .client
            .get_public_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| fault::from_sdk("kms", &e))?;
        let der = out
            .public_key
            .ok_or_else(|| SystemFault::Internal("KMS GetPublicKey returned no key".into()))?;
        let kid = out
            .key_id
            .as_deref()
            .map(key_id_of)
            .unwrap_or(key_id)
            .to_owned();
        spki_to_jwk(der.as_ref(), kid)
    }
}

/// The bare key id of a key ARN (`arn:…:key/<id>`), or the input unchanged.
pub fn key_id_of(arn_or_id: &str) -> &str {
    arn_or_id
        .rsplit_once("key/")
        .map_or(arn_or_id, |(_, id)| id)
}

/// Converts a DER ECDSA signature to the fixed 64-byte `r || s` form JOSE requires.
pub fn der_to_jose(der: &[u8]) -> Result<[u8; 64], Error> {
    let sig = p256::ecdsa::Signature::from_der(der)
        .map_err(|e| SystemFault::Internal(format!("KMS returned a malformed signature: {e}")))?;
    // KMS may answer either of a signature's two valid spellings (s or n - s); verifiers refuse
    // the high one, so every token has exactly one.
    let sig = sig.normalize_s().unwrap_or(sig);
    Ok(sig.to_bytes().into())
}

/// Converts a DER SubjectPublicKeyInfo of a P-256 key to a JWK.
pub fn spki_to_jwk(der: &[u8], kid: String) -> Result<Jwk, Error> {
    let key = p256::PublicKey::from_public_key_der(der)
        .map_err(|e| SystemFault::Internal(format!("KMS returned a non-P-256 key: {e}")))?;
    let point = p256::EncodedPoint::from(key);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(SystemFault::Internal("public key is the identity point".into()).into());
    };
    Ok(Jwk {
        kty: "EC".into(),
        crv: "P-256".into(),
        x: URL_SAFE_NO_PAD.encode(x),
        y: URL_SAFE_NO_PAD.encode(y),
        kid,
        alg: "ES256".into(),
        use_: "sig".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use p256::pkcs8::EncodePublicKey;

    #[test]
    fn der_signatures_become_64_byte_jose_signatures() {
        let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let sig: Signature = key.sign(b"hello");
        let jose = der_to_jose(sig.to_der().as_bytes()).unwrap();
        let low = sig.normalize_s().unwrap_or(sig);
        assert_eq!(jose.as_slice(), low.to_bytes().as_slice());
    }

    #[test]
    fn either_spelling_from_kms_becomes_the_low_s_one() {
        use p256::ecdsa::signature::Verifier;
        let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
        let sig: Signature = key.sign(b"hello");
        let low = sig.normalize_s().unwrap_or(sig);
        let (r, s) = low.split_scalars();
        let high = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
        assert!(
            high.normalize_s().is_some(),
            "the second spelling is high-S"
        );
        assert!(key.verifying_key().verify(b"hello", &high).is_ok());
        for der in [low.to_der(), high.to_der()] {
            let jose = der_to_jose(der.as_bytes()).unwrap();
            assert_eq!(jose.as_slice(), low.to_bytes().as_slice());
        }
    }

    #[test]
    fn garbage_signatures_are_a_fault_not_a_panic() {
        assert!(der_to_jose(b"not der").is_err());
    }

    #[test]
    fn a_p256_spki_becomes_a_jwk_with_32_byte_coordinates() {
        let key = SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
        let der = key.verifying_key().to_public_key_der().unwrap();
        let jwk = spki_to_jwk(der.as_bytes(), "k1".into()).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.x).unwrap().len(), 32);
        assert_eq!(URL_SAFE_NO_PAD.decode(&jwk.y).unwrap().len(), 32);
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("EC", "P-256"));
    }

    #[test]
    fn key_ids_are_taken_from_arns() {
        assert_eq!(key_id_of("arn:aws:kms:us-east-1:123:key/abc-1"), "abc-1");
        assert_eq!(key_id_of("abc-1"), "abc-1");
    }
}
