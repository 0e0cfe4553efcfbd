//! Access tokens (JWT, HS256 only, short-lived) and opaque refresh tokens.
//!
//! The algorithm is fixed server-side: a token whose header says `none`, or
//! any algorithm other than HS256, is rejected before its signature is even
//! considered. Expiry is checked against the caller's `now` so tests can
//! travel in time. A valid signature is not enough: callers also check the
//! session (`sid`) is still open, so logout takes effect at once.

use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: i32,
    /// Tenant id.
    pub tid: i32,
    /// Session (`user_login`) id.
    pub sid: i64,
    /// Role at issue time (informative; the session's user row is authoritative).
    pub role: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Unique id of this token.
    pub jti: String,
}

/// Why an access token was refused (all map to 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, bad signature, wrong algorithm, missing claims.
    #[error("invalid access token")]
    Invalid,
    /// Past its expiry.
    #[error("the access token has expired")]
    Expired,
}

/// Signs and verifies access tokens with the configured secret.
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Lifetime of an access token, seconds.
    pub ttl_secs: i64,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer over `secret` issuing tokens valid for `ttl_secs`.
    pub fn new(secret: &Secret, ttl_secs: i64) -> Self {
        TokenSigner {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            ttl_secs,
        }
    }

    /// Issues an access token; returns it with its expiry.
    pub fn issue(
        &self,
        user_id: i32,
        tenant_id: i32,
        session_id: i64,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let exp = now + chrono::Duration::seconds(self.ttl_secs);
        let claims = AccessClaims {
            sub: user_id,
            tid: tenant_id,
            sid: session_id,
            role: role.to_owned(),
            iat: now.timestamp(),
            exp: exp.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, exp))
    }

    /// Verifies signature, algorithm and expiry (against `now`).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against the injected clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.header.alg != Algorithm::HS256 {
            return Err(TokenError::Invalid);
        }
        if data.claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// A new opaque refresh token (256 random bits, URL-safe) and its hash for storage.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// SHA-256 (hex) of a high-entropy token. A fast hash is right here: the
/// token is random, so there is nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(&Secret::new("0123456789abcdef0123456789abcdef-test".into()), 900)
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let (token, exp) = signer().issue(5, 2, 77, "admin", now()).expect("issue");
        let claims = signer().verify(&token, now()).expect("valid");
        assert_eq!((claims.sub, claims.tid, claims.sid), (5, 2, 77));
        assert_eq!(signer().verify(&token, exp), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_tokens_are_invalid() {
        let (token, _) = signer().issue(5, 2, 77, "viewer", now()).expect("issue");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = AccessClaims {
            sub: 5,
            tid: 2,
            sid: 77,
            role: "admin".into(),
            iat: 0,
            exp: i64::MAX / 2,
            jti: "x".into(),
        };
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"));
        assert_eq!(signer().verify(&parts.join("."), now()), Err(TokenError::Invalid));
        let other = TokenSigner::new(&Secret::new("another-secret-another-secret-another".into()), 900);
        assert_eq!(other.verify(&token, now()), Err(TokenError::Invalid));
    }

    #[test]
    fn alg_none_and_swapped_algorithms_are_rejected() {
        let claims = serde_json::json!({"sub": 1, "tid": 1, "sid": 1, "role": "admin", "iat": 0, "exp": i64::MAX / 2, "jti": "x"});
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"))
        };
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        );
        assert_eq!(signer().verify(&none, now()), Err(TokenError::Invalid));
        // HS512 signed with the same secret: right key, wrong algorithm.
        let secret = "0123456789abcdef0123456789abcdef-test";
        let swapped = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode");
        assert_eq!(signer().verify(&swapped, now()), Err(TokenError::Invalid));
        assert_eq!(signer().verify("not-a-token", now()), Err(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_token(&a));
        assert_eq!(hash_a.len(), 64);
        assert!(!hash_a.contains(&a));
    }
}
