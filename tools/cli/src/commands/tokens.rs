//! `clavis token …`.

use std::io::Read;

use serde_json::json;

use crate::commands::Ctx;
use crate::error::CliResult;
use crate::output::{self, Format};
use crate::token;

/// Prints a fresh access token (the bare JWT, or the JSON with its expiry): the API's (kept in
/// the profile), or one for `audience` and `scopes` (kept nowhere).
pub async fn get(ctx: &Ctx, audience: Option<&str>, scopes: &[String]) -> CliResult {
    let token = if audience.is_none() && scopes.is_empty() {
        ctx.api.fetch_token().await?
    } else {
        let scope = (!scopes.is_empty()).then(|| scopes.join(" "));
        ctx.api
            .request_token(audience.unwrap_or("clavis"), scope.as_deref())
            .await?
    };
    match ctx.format {
        Format::Table => crate::say!("{}", token.access_token),
        Format::Json => output::json(&json!({
            "access_token": token.access_token,
            "expires_at": token.expires_at,
        })),
    }
    Ok(())
}

/// Prints the header and claims of the token on standard input.
pub fn decode(format: Format) -> CliResult {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text)?;
    let (header, claims) = token::decode(&text)?;
    let doc = json!({ "header": header, "claims": claims });
    match format {
        Format::Json => output::json(&doc),
        Format::Table => {
            crate::say!("{}", output::record(&header, &["alg", "typ", "kid"]));
            crate::say!(
                "{}",
                output::record(
                    &claims,
                    &["iss", "sub", "aud", "scope", "credential_id", "iat", "exp"]
                )
            );
            eprintln!("(decoded only: the signature was not checked)");
        }
    }
    Ok(())
}
