//! Passwords: argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes),
//! hashed and checked on the blocking pool, at most a few at a time, so a
//! flood of sign-ins queues briefly instead of taking every core.

use std::{sync::Arc, time::Duration};

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};
use tokio::sync::Semaphore;

/// Shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_LENGTH: usize = 10;
/// Longest accepted, in bytes: hashing cost must not grow with input.
pub const MAX_LENGTH: usize = 1_000;
/// How long a sign-in waits for a hashing slot before the server says busy.
const QUEUE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    #[error("the password must be at most {MAX_LENGTH} bytes long")]
    TooLong,
    #[error("the server is busy checking other passwords; try again")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks the rules a new password must meet.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Hashes and verifies on the blocking pool, `slots` at a time.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(slots: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// The PHC string of a fresh argon2id hash of `password`.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches the stored PHC string. A malformed stored
    /// hash never matches.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool, PasswordError> {
        if password.len() > MAX_LENGTH {
            return Ok(false);
        }
        let (password, stored) = (password.to_owned(), stored.to_owned());
        self.run(move || {
            Ok(PasswordHash::new(&stored).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }))
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = tokio::time::timeout(QUEUE_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| PasswordError::Busy)?
            .map_err(|_| PasswordError::Busy)?;
        let done = tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = Hasher::new(1);
        let hash = hasher.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("correct horse battery", &hash).await.unwrap());
        assert!(!hasher
            .verify("correct horse battery!", &hash)
            .await
            .unwrap());
        assert!(!hasher.verify("anything", "not a phc string").await.unwrap());
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(matches!(check_new("short"), Err(PasswordError::TooShort)));
        assert!(matches!(
            check_new(&"x".repeat(1_001)),
            Err(PasswordError::TooLong)
        ));
        assert!(check_new("long enough password").is_ok());
    }
}
