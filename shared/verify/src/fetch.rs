//! One bounded GET to the issuer: success status required, body read up to a size limit.

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};

use crate::error::FetchError;

/// GETs `url` (with `authorization` if given) and answers the body, refusing more than `limit`
/// bytes. `what` names the resource in errors.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: reqwest::Url,
    authorization: Option<&HeaderValue>,
    what: &'static str,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    let http = |source| FetchError::Http { what, source };
    let mut request = client.get(url).header(ACCEPT, "application/json");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value.clone());
    }
    let mut response = request.send().await.map_err(http)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            what,
            status: status.as_u16(),
        });
    }
    let too_large = FetchError::TooLarge { what, limit };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
