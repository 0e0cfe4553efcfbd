//! Password hashing (Argon2id) and the password policy.
//!
//! Policy (contract): at least 10 characters, not a common password, and more
//! than one character class (lower, upper, digit, other).

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, AppResult};

/// Minimum length of a password, in characters.
pub const MIN_LENGTH: usize = 10;

/// Passwords seen most often in breach corpora (and their obvious variants
/// that pass the length rule). Compared case-insensitively.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "password1",
    "password12",
    "password123",
    "password1234",
    "password!",
    "passw0rd123",
    "p@ssw0rd123",
    "p@ssword123",
    "iloveyou123",
    "abc1234567",
    "abcd123456",
    "abcdefghij",
    "abcdefg123",
    "admin12345",
    "admin123456",
    "administrator",
    "administrator1",
    "welcome123",
    "welcome1234",
    "letmein123",
    "changeme123",
    "changeme1234",
    "football123",
    "baseball123",
    "superman123",
    "monkey12345",
    "dragon12345",
    "sunshine123",
    "princess123",
    "trustno1234",
    "starwars123",
    "qazwsxedc123",
    "zaq12wsxcde",
    "aa12345678",
    "a123456789",
    "asdfghjkl1",
    "asdfghjkl123",
    "zxcvbnm123",
    "1111111111",
    "0000000000",
    "9876543210",
    "camet12345",
    "camet123456",
    "contraseña123",
    "contrasena123",
    "admin123!",
    "Admin123!",
    "Password1!",
    "Password123",
    "Password123!",
    "Qwerty123!",
    "Welcome123!",
];

/// Checks `password` against the policy; the error names the broken rule.
pub fn check_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LENGTH {
        return Err(format!("must be at least {MIN_LENGTH} characters long"));
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.iter().any(|common| common.to_lowercase() == lower) {
        return Err("is too common; choose a password that is not in lists of common passwords".into());
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|present| **present).count() < 2 {
        return Err("must mix at least two kinds of characters (lower case, upper case, digits, symbols)".into());
    }
    Ok(())
}

/// Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) by
/// default; stronger settings can be configured.
#[derive(Debug, Clone, Copy)]
pub struct HashingParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashingParams {
    fn default() -> Self {
        HashingParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// OWASP's minimum Argon2id settings (Password Storage Cheat Sheet): memory
/// in KiB and the passes it needs at that memory. Any one pair is enough.
pub const OWASP_MINIMUMS: [(u32, u32); 5] = [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)];

impl HashingParams {
    /// True when these settings are at least one of [`OWASP_MINIMUMS`].
    pub fn meets_owasp_minimum(&self) -> bool {
        OWASP_MINIMUMS
            .iter()
            .any(|&(memory, passes)| self.memory_kib >= memory && self.iterations >= passes)
    }
}

/// A bounded pool of concurrent password hashes. Each Argon2id hash holds
/// its whole memory cost (19 MiB by default) while it runs; without a bound a
/// flood of logins multiplies that by the number in flight. The pool is sized
/// from a memory budget; a caller waits at most `wait` for a slot, then gets
/// a 503 with `Retry-After`. The slot is held by the blocking hash itself, so
/// a client that hangs up does not free it before the memory is released.
///
/// Each slot also owns its Argon2 memory, allocated once and reused: freeing
/// and reallocating 19 MiB per hash on tokio's changing blocking threads left
/// it cached in many glibc arenas (a flood of 1 000 logins peaked at 841 MiB
/// with the semaphore alone).
#[derive(Debug, Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl HashPool {
    /// A pool of `budget_mib / per_hash_kib` slots (at least one), waiting at most `wait`.
    pub fn new(budget_mib: u32, per_hash_kib: u32, wait: Duration) -> HashPool {
        let size = (u64::from(budget_mib) * 1024 / u64::from(per_hash_kib.max(1))).clamp(1, 4096);
        let size = usize::try_from(size).unwrap_or(1);
        HashPool {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait,
            memory: Arc::new(Mutex::new(Vec::with_capacity(size))),
        }
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many hashes are running now (observability, and tests that must
    /// know a login reached the hashing step).
    pub fn in_use(&self) -> usize {
        self.size.saturating_sub(self.permits.available_permits())
    }

    async fn permit(&self) -> AppResult<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(AppError::internal(closed)),
            Err(_) => Err(AppError::Overloaded {
                message: "too many passwords are being checked at once; retry shortly".into(),
                retry_after_secs: self.wait.as_secs().max(1),
            }),
        }
    }

    /// [`hash`] within the pool.
    pub async fn hash(&self, password: &str, params: HashingParams) -> AppResult<String> {
        let permit = self.permit().await?;
        let password = password.to_owned();
        let memory = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let hashed = hash_reusing(&memory, &password, params);
            drop(permit);
            hashed
        })
        .await
        .map_err(AppError::internal)?
    }

    /// [`verify`] within the pool: `Ok(false)` for a mismatch, an error only
    /// when no slot freed up in time.
    pub async fn verify(&self, password: &str, stored_hash: &str) -> AppResult<bool> {
        let permit = self.permit().await?;
        let (password, stored) = (password.to_owned(), stored_hash.to_owned());
        let memory = self.memory.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let ok = verify_reusing(&memory, &password, &stored);
            drop(permit);
            ok
        })
        .await
        .unwrap_or(false))
    }
}

fn hasher(params: HashingParams) -> AppResult<Argon2<'static>> {
    let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
        .map_err(|e| AppError::Config(format!("invalid Argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Runs `f` over `blocks` Argon2 blocks of a reused buffer (taken from the
/// pool's spares, grown once if needed, returned afterwards). At most one
/// buffer per slot exists, because only slot holders get here.
fn with_memory<R>(spares: &Mutex<Vec<Vec<Block>>>, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let mut buffer = spares.lock().ok().and_then(|mut v| v.pop()).unwrap_or_default();
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::new());
    }
    let result = f(&mut buffer[..blocks]);
    if let Ok(mut v) = spares.lock() {
        v.push(buffer);
    }
    result
}

fn hash_reusing(spares: &Mutex<Vec<Vec<Block>>>, password: &str, params: HashingParams) -> AppResult<String> {
    let argon2 = hasher(params)?;
    let mut salt_bytes = [0u8; 16];
    rand::rng().fill(&mut salt_bytes);
    let salt = Salt::new(&salt_bytes).map_err(AppError::internal)?;
    let mut out = [0u8; 32];
    with_memory(spares, argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, memory)
    })
    .map_err(AppError::internal)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(AppError::internal)?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(AppError::internal)?),
    };
    Ok(phc.to_string())
}

fn verify_reusing(spares: &Mutex<Vec<Vec<Block>>>, password: &str, stored: &str) -> bool {
    let parsed = match PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is malformed");
            return false;
        }
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.as_bytes().len()];
    let computed = with_memory(spares, argon2.params().block_count(), |memory| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut out, memory)
    });
    // Output's equality is constant-time.
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected)
}

fn hash_blocking(password: &str, params: HashingParams) -> AppResult<String> {
    hasher(params)?
        .hash_password(password.as_bytes())
        .map(|h: PasswordHash| h.to_string())
        .map_err(AppError::internal)
}

fn verify_blocking(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is malformed");
            false
        }
    }
}

/// Hashes a password into a PHC string. CPU-heavy: runs on a blocking thread.
/// Unbounded: for the CLI and start-up; request handlers use [`HashPool::hash`].
pub async fn hash(password: &str, params: HashingParams) -> AppResult<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&password, params))
        .await
        .map_err(AppError::internal)?
}

/// True when `password` matches the stored PHC `hash`. A malformed stored hash
/// counts as a mismatch (and is logged), never as a server error for the caller.
/// Unbounded: request handlers use [`HashPool::verify`].
pub async fn verify(password: &str, stored_hash: &str) -> bool {
    let password = password.to_owned();
    let stored = stored_hash.to_owned();
    tokio::task::spawn_blocking(move || verify_blocking(&password, &stored))
        .await
        .unwrap_or(false)
}

/// A random password that satisfies the policy (for the demo admin).
pub fn generate() -> String {
    let mut rng = rand::rng();
    loop {
        let candidate: String = (&mut rng).sample_iter(Alphanumeric).take(20).map(char::from).collect();
        if check_policy(&candidate).is_ok() {
            return candidate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_passwords_are_refused_naming_the_length_rule() {
        let error = check_policy("Ab1!").expect_err("too short");
        assert!(error.contains("10 characters"));
    }

    #[test]
    fn common_passwords_are_refused_whatever_the_case() {
        assert!(check_policy("PASSWORD123").expect_err("common").contains("common"));
        assert!(check_policy("Qwertyuiop").expect_err("common").contains("common"));
    }

    #[test]
    fn single_class_passwords_are_refused() {
        assert!(
            check_policy("abcdefghijkl")
                .expect_err("one class")
                .contains("two kinds")
        );
        assert!(
            check_policy("98765432101")
                .expect_err("one class")
                .contains("two kinds")
        );
    }

    #[test]
    fn mixed_long_uncommon_passwords_pass() {
        assert!(check_policy("harbour-lights-42").is_ok());
        assert!(check_policy(&generate()).is_ok());
    }

    #[test]
    fn settings_below_the_owasp_minimum_are_recognised() {
        let p = |memory_kib, iterations| HashingParams {
            memory_kib,
            iterations,
            parallelism: 1,
        };
        assert!(HashingParams::default().meets_owasp_minimum());
        for (m, t) in OWASP_MINIMUMS {
            assert!(p(m, t).meets_owasp_minimum(), "{m}/{t}");
            assert!(!p(m - 1, t).meets_owasp_minimum(), "{m}-1/{t}");
        }
        assert!(!p(19_456, 1).meets_owasp_minimum());
        assert!(!p(1024, 1).meets_owasp_minimum());
    }

    #[test]
    fn the_pool_is_sized_from_the_memory_budget() {
        let wait = Duration::from_secs(2);
        assert_eq!(HashPool::new(64, 19 * 1024, wait).size(), 3);
        assert_eq!(HashPool::new(1, 19 * 1024, wait).size(), 1);
        assert_eq!(HashPool::new(64, 1024, wait).size(), 64);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_full_pool_answers_overloaded_after_its_wait() {
        let pool = HashPool::new(1, 1024, Duration::ZERO);
        let held = pool.permit().await.expect("the one slot");
        let refused = pool.permit().await.expect_err("pool is full");
        assert!(
            matches!(
                refused,
                AppError::Overloaded {
                    retry_after_secs: 1,
                    ..
                }
            ),
            "{refused:?}"
        );
        drop(held);
        assert!(pool.permit().await.is_ok());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pooled_hashes_reuse_memory_and_agree_with_the_plain_ones() {
        let params = HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pool = HashPool::new(2, 1024, Duration::from_secs(1));
        let pooled = pool.hash("harbour-lights-42", params).await.expect("hash");
        assert!(pooled.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{pooled}");
        assert!(verify("harbour-lights-42", &pooled).await);
        let plain = hash("harbour-lights-42", params).await.expect("hash");
        assert!(pool.verify("harbour-lights-42", &plain).await.expect("verify"));
        assert!(!pool.verify("harbour-lights-43", &plain).await.expect("verify"));
        assert!(!pool.verify("anything", "not a hash").await.expect("verify"));
        assert!(pool.memory.lock().expect("lock").len() <= pool.size());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hashes_are_argon2id_and_verify() {
        let params = HashingParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let hash = hash("harbour-lights-42", params).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("harbour-lights-42", &hash).await);
        assert!(!verify("harbour-lights-43", &hash).await);
        assert!(!verify("anything", "not a hash").await);
    }
}
