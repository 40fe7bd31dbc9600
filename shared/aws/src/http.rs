//! The one HTTPS connector of a process, shared by every SDK client.
//!
//! The SDK's default gives every client its own connector, and building one parses the whole
//! trust store; the first also reads the system's certificate directory from disk. Together
//! that was most of a cold start. Here one connector (one pool of connections) is built once,
//! trusting the roots AWS service endpoints chain to: the Amazon Trust Services roots (Amazon
//! Root CA 1–4 and their cross-signer, Starfield Services Root Certificate Authority – G2),
//! taken from the Mozilla root set compiled into `webpki-root-certs`. Trusting only those also
//! keeps every other certificate authority out of the path to KMS and DynamoDB. Setting
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` chooses the system's trust store instead (an endpoint
//! behind another authority, e.g. an inspecting proxy).

use std::time::Duration;

use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Connector, tls::rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    HttpConnectorSettings, SharedHttpClient, SharedHttpConnector, http_client_fn,
};
use base64::Engine;

/// The names of the roots AWS service endpoints chain to, as they appear in the certificates.
const AWS_ROOT_NAMES: [&[u8]; 5] = [
    b"Amazon Root CA 1",
    b"Amazon Root CA 2",
    b"Amazon Root CA 3",
    b"Amazon Root CA 4",
    b"Starfield Services Root Certificate Authority - G2",
];

/// Where the connector's trust comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The Amazon Trust Services roots only (the default).
    AwsRoots,
    /// The system's trust store (`SSL_CERT_FILE` / `SSL_CERT_DIR` or the platform's default).
    System,
}

impl Trust {
    /// The system's store when `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, else the AWS roots.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        if var("SSL_CERT_FILE").is_some() || var("SSL_CERT_DIR").is_some() {
            Self::System
        } else {
            Self::AwsRoots
        }
    }
}

/// One HTTPS client for every SDK client of the process: whatever settings a client asks
/// with, it gets the same connector, built now with `connect_timeout`. `None` if the TLS
/// context cannot be built (the SDK's own clients are then the fallback).
pub fn shared_client(trust: Trust, connect_timeout: Duration) -> Option<SharedHttpClient> {
    let store = match trust {
        Trust::System => TrustStore::default(),
        Trust::AwsRoots => TrustStore::empty().with_pem_certificate(aws_roots_pem()),
    };
    let context = match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => context,
        Err(error) => {
            tracing::warn!(%error, "no shared HTTPS connector; every SDK client builds its own");
            return None;
        }
    };
    let connector = SharedHttpConnector::new(
        Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(connect_timeout)
                    .build(),
            )
            .sleep_impl(TokioSleep::new())
            .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build(),
    );
    Some(http_client_fn(move |_settings, _components| {
        connector.clone()
    }))
}

/// The AWS roots of the compiled-in Mozilla set, PEM-encoded.
fn aws_roots_pem() -> String {
    let mut pem = String::new();
    for der in aws_roots() {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        base64::engine::general_purpose::STANDARD.encode_string(der, &mut pem);
        pem.push_str("\n-----END CERTIFICATE-----\n");
    }
    pem
}

/// The certificates of the Mozilla set whose subject is one of [`AWS_ROOT_NAMES`]. A name is
/// looked for in a certificate's first [`NAMES_WITHIN`] bytes, where its issuer and subject are;
/// a plain loop, not a SIMD search, whose CPU-feature probe costs more here than it saves.
fn aws_roots() -> impl Iterator<Item = &'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| -> &'static [u8] { der.as_ref() })
        .filter(|der| {
            let head = &der[..der.len().min(NAMES_WITHIN)];
            (0..head.len()).any(|at| names_at(&head[at..]))
        })
}

/// How far into a certificate its names are looked for.
const NAMES_WITHIN: usize = 512;

/// Whether `rest` starts with one of [`AWS_ROOT_NAMES`] (their first letters, `A` and `S`,
/// are checked first: most bytes are neither).
fn names_at(rest: &[u8]) -> bool {
    matches!(rest.first(), Some(b'A' | b'S'))
        && AWS_ROOT_NAMES.iter().any(|name| rest.starts_with(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_roots_are_the_five_trust_services_roots_each_once() {
        let roots: Vec<&[u8]> = aws_roots().collect();
        assert_eq!(roots.len(), AWS_ROOT_NAMES.len());
        for name in AWS_ROOT_NAMES {
            let naming = roots
                .iter()
                .filter(|der| {
                    (0..NAMES_WITHIN.min(der.len())).any(|at| der[at..].starts_with(name))
                })
                .count();
            assert_eq!(naming, 1, "{}", String::from_utf8_lossy(name));
        }
        // The similarly named Starfield root that signs no AWS endpoint is not among them.
        let other = b"Starfield Root Certificate Authority - G2";
        assert!(
            roots
                .iter()
                .all(|der| !der.windows(other.len()).any(|w| w == other))
        );
    }

    #[test]
    fn the_pem_holds_every_root_whole() {
        let pem = aws_roots_pem();
        let parsed: Vec<Vec<u8>> = pem
            .split("-----BEGIN CERTIFICATE-----\n")
            .skip(1)
            .map(|block| {
                let body = block
                    .split("\n-----END CERTIFICATE-----")
                    .next()
                    .unwrap_or("");
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .unwrap_or_default()
            })
            .collect();
        let roots: Vec<Vec<u8>> = aws_roots().map(<[u8]>::to_vec).collect();
        assert_eq!(parsed, roots);
    }

    #[test]
    fn the_system_store_only_when_asked_for() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Trust::from_env(env(&[])), Trust::AwsRoots);
        assert_eq!(
            Trust::from_env(env(&[("AWS_REGION", "eu-west-1")])),
            Trust::AwsRoots
        );
        assert_eq!(
            Trust::from_env(env(&[("SSL_CERT_FILE", "/etc/ssl/cert.pem")])),
            Trust::System
        );
        assert_eq!(
            Trust::from_env(env(&[("SSL_CERT_DIR", "/etc/ssl/certs")])),
            Trust::System
        );
    }

    #[tokio::test]
    async fn a_connector_is_built_on_the_aws_roots() {
        // The SDK parses the roots when it builds the connector and refuses (panics on) one
        // it cannot parse: building it is the test.
        assert!(shared_client(Trust::AwsRoots, Duration::from_secs(1)).is_some());
    }
}
