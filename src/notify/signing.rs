//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the
//! signing key is the base64-decoded part of the secret after `whsec_`; the
//! signature of a message is `v1,` + base64 of HMAC-SHA256 over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`. Pure.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret's key (192 bits; the spec asks 24 to 64).
const KEY_BYTES: usize = 24;

/// A new secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let key: [u8; KEY_BYTES] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The signing key of `secret`, or why it is unusable.
pub fn key_of(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| format!("a webhook secret starts with {SECRET_PREFIX}"))?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "a webhook secret is base64 after its prefix".to_owned())?;
    if key.is_empty() {
        return Err("a webhook secret has an empty key".to_owned());
    }
    Ok(key)
}

/// The `webhook-signature` header value of one attempt: `v1,<base64>`.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = key_of(secret)?;
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The test vector of the Standard Webhooks reference libraries (and
    /// Svix's): secret, id, timestamp and body give this signature.
    #[test]
    fn the_reference_libraries_vector_gives_their_signature() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .expect("valid secret");
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_new_secret_has_the_prefix_and_a_24_byte_key() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"), "{secret}");
        assert_eq!(key_of(&secret).expect("key").len(), 24);
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn a_malformed_secret_is_refused() {
        assert!(key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(key_of("whsec_not base64!").is_err());
        assert!(key_of("whsec_").is_err());
    }

    proptest! {
        #[test]
        fn any_change_to_id_timestamp_or_body_changes_the_signature(
            id in "msg_[a-z0-9]{1,20}", timestamp in 0i64..4_000_000_000, body in ".{0,64}", extra in "[a-z]{1,4}"
        ) {
            let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
            let signature = sign(secret, &id, timestamp, &body).expect("sign");
            prop_assert_ne!(&signature, &sign(secret, &format!("{id}{extra}"), timestamp, &body).expect("sign"));
            prop_assert_ne!(&signature, &sign(secret, &id, timestamp + 1, &body).expect("sign"));
            prop_assert_ne!(&signature, &sign(secret, &id, timestamp, &format!("{body}{extra}")).expect("sign"));
        }
    }
}
