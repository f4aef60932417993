//! Checking who sent a request: GitHub's `X-Hub-Signature-256`, HMAC-signed and shared-secret
//! webhooks, and bearer tokens — all compared in constant time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header GitHub signs deliveries in: `sha256=` and the hex HMAC-SHA256 of the body.
pub const GITHUB_SIGNATURE: &str = "x-hub-signature-256";

/// Why a request's proof of origin was refused. Never retryable: the sender must fix its
/// secret. Each message says what was wrong, never what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unauthorized {
    /// The header carrying the proof is absent.
    #[error("missing {0} header")]
    Missing(String),
    /// The header is present but not of the expected form.
    #[error("{header} header is malformed: {why}")]
    Malformed {
        /// The header.
        header: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The proof does not match the secret.
    #[error("{0} does not match the configured secret")]
    Mismatch(String),
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, Unauthorized> {
    let value = headers
        .get(name)
        .ok_or_else(|| Unauthorized::Missing(name.to_owned()))?;
    value.to_str().map_err(|_| Unauthorized::Malformed {
        header: name.to_owned(),
        why: "not visible ASCII",
    })
}

/// Check that `name` holds the hex HMAC-SHA256 of `body` keyed with `secret`, optionally
/// prefixed `sha256=` (GitHub's form).
///
/// # Errors
///
/// [`Unauthorized`] naming the header and what was wrong.
pub fn signature(
    headers: &HeaderMap,
    name: &str,
    body: &[u8],
    secret: &[u8],
) -> Result<(), Unauthorized> {
    let value = header(headers, name)?;
    let hex_digest = value.strip_prefix("sha256=").unwrap_or(value);
    let given = hex::decode(hex_digest.trim()).map_err(|_| Unauthorized::Malformed {
        header: name.to_owned(),
        why: "not `sha256=` followed by a hex digest",
    })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Unauthorized::Mismatch(name.to_owned()))
}

/// Check that header `name` holds `secret` itself.
///
/// # Errors
///
/// [`Unauthorized`] naming the header.
pub fn shared_secret(headers: &HeaderMap, name: &str, secret: &[u8]) -> Result<(), Unauthorized> {
    let value = header(headers, name)?;
    if bool::from(value.trim().as_bytes().ct_eq(secret)) {
        Ok(())
    } else {
        Err(Unauthorized::Mismatch(name.to_owned()))
    }
}

/// Check `Authorization: Bearer <token>`.
///
/// # Errors
///
/// [`Unauthorized`] naming the header.
pub fn bearer(headers: &HeaderMap, token: &[u8]) -> Result<(), Unauthorized> {
    let value = header(headers, "authorization")?;
    let given = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(Unauthorized::Malformed {
            header: "authorization".into(),
            why: "not `Bearer <token>`",
        })?;
    if bool::from(given.trim().as_bytes().ct_eq(token)) {
        Ok(())
    } else {
        Err(Unauthorized::Mismatch("authorization".into()))
    }
}

/// The hex HMAC-SHA256 of `body` keyed with `secret`, as GitHub puts it in
/// `X-Hub-Signature-256` (with `sha256=` in front). For tests and tools that sign.
pub fn sign(body: &[u8], secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn github_signatures() {
        // The example from GitHub's docs: secret "It's a Secret to Everybody", payload
        // "Hello, World!".
        let body = b"Hello, World!";
        let secret = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(body, secret), good);
        type Headers<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Headers<'_>, &[u8], Result<(), &str>)] = &[
            (&[(GITHUB_SIGNATURE, good)], body, Ok(())),
            (
                &[(GITHUB_SIGNATURE, good)],
                b"Hello, World?",
                Err("x-hub-signature-256 does not match the configured secret"),
            ),
            (&[], body, Err("missing x-hub-signature-256 header")),
            (
                &[(GITHUB_SIGNATURE, "sha256=zz")],
                body,
                Err(
                    "x-hub-signature-256 header is malformed: not `sha256=` followed by a hex digest",
                ),
            ),
        ];
        for (h, body, want) in cases {
            let got =
                signature(&headers(h), GITHUB_SIGNATURE, body, secret).map_err(|e| e.to_string());
            assert_eq!(got, want.map_err(str::to_owned), "{h:?}");
        }
    }

    #[test]
    fn secrets_and_tokens() {
        let h = headers(&[("x-token", "s3cret"), ("authorization", "Bearer t0ken")]);
        assert_eq!(shared_secret(&h, "x-token", b"s3cret"), Ok(()));
        assert_eq!(
            shared_secret(&h, "x-token", b"other"),
            Err(Unauthorized::Mismatch("x-token".into()))
        );
        assert_eq!(bearer(&h, b"t0ken"), Ok(()));
        assert_eq!(
            bearer(&h, b"t0ke"),
            Err(Unauthorized::Mismatch("authorization".into()))
        );
        assert_eq!(
            bearer(&headers(&[("authorization", "Basic x")]), b"x")
                .unwrap_err()
                .to_string(),
            "authorization header is malformed: not `Bearer <token>`"
        );
    }
}
