//! The session secret: the key of the HMAC that turns a session cookie into
//! the id stored in the database. Production refuses to start with a
//! missing, short or placeholder secret; development makes a random one per
//! process (restarting signs everyone out).

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::sync::Arc;

use crate::config::Mode;

/// Shortest secret accepted in production (`openssl rand -hex 32` gives 64).
pub const MIN_LENGTH: usize = 32;

/// Words that mark a value copied from documentation, not generated.
const PLACEHOLDERS: [&str; 8] = [
    "change",
    "secret",
    "placeholder",
    "example",
    "default",
    "password",
    "replace",
    "xxxx",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "production mode needs accounts.session_secret (STOREPULSE_ACCOUNTS__SESSION_SECRET); \
         generate one with `openssl rand -hex 32`"
    )]
    Missing,
    #[error("accounts.session_secret is shorter than {MIN_LENGTH} characters")]
    Short,
    #[error("accounts.session_secret looks like a placeholder; generate one with `openssl rand -hex 32`")]
    Placeholder,
}

/// Checks a production secret: long, not a documentation placeholder, not
/// one character repeated.
pub fn check(secret: &str) -> Result<(), SecretError> {
    if secret.chars().count() < MIN_LENGTH {
        return Err(SecretError::Short);
    }
    let lower = secret.to_lowercase();
    let distinct = lower
        .chars()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if PLACEHOLDERS.iter().any(|word| lower.contains(word)) || distinct < 8 {
        return Err(SecretError::Placeholder);
    }
    Ok(())
}

#[derive(Clone)]
pub struct SessionKey(Arc<[u8]>);

impl SessionKey {
    pub fn from_config(secret: Option<&SecretString>, mode: Mode) -> Result<Self, SecretError> {
        let configured = secret
            .map(|s| s.expose_secret().trim().to_owned())
            .filter(|s| !s.is_empty());
        match (configured, mode) {
            (Some(secret), Mode::Production) => {
                check(&secret)?;
                Ok(Self(secret.into_bytes().into()))
            }
            (None, Mode::Production) => Err(SecretError::Missing),
            (Some(secret), Mode::Development) => Ok(Self(secret.into_bytes().into())),
            (None, Mode::Development) => {
                let mut random = [0_u8; 32];
                getrandom::fill(&mut random).map_err(|_| SecretError::Missing)?;
                Ok(Self(random.to_vec().into()))
            }
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is `data`'s HMAC, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_missing_short_and_placeholder_secrets() {
        let key = |s: &str| SessionKey::from_config(Some(&SecretString::from(s)), Mode::Production);
        assert_eq!(
            SessionKey::from_config(None, Mode::Production).err(),
            Some(SecretError::Missing)
        );
        assert_eq!(key("   ").err(), Some(SecretError::Missing));
        assert_eq!(key("3f9a1c").err(), Some(SecretError::Short));
        assert_eq!(
            key("change-me-change-me-change-me-change-me").err(),
            Some(SecretError::Placeholder)
        );
        assert_eq!(key(&"a".repeat(64)).err(), Some(SecretError::Placeholder));
        assert!(key("9c1f4e0b7a2d6e83f5c09b1a4d7e2f6038b5c1d9e4a7f2b6c0d3e8a1f5b9c2d7").is_ok());
    }

    #[test]
    fn development_makes_a_key_when_none_is_set() {
        let key = SessionKey::from_config(None, Mode::Development).unwrap();
        let tag = key.sign(b"id");
        assert!(key.verify(b"id", &tag));
        assert!(!key.verify(b"other", &tag));
    }
}
