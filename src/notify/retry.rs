//! When to try a delivery again: exponential backoff with full jitter
//! (AWS Architecture Blog, "Exponential Backoff And Jitter"): the n-th retry
//! waits a uniformly random time in `[0, min(cap, base · 2^(n-1)))`, so many
//! failing deliveries do not retry in lockstep. Pure.

use std::time::Duration;

/// The longest wait between two attempts.
pub const CAP: Duration = Duration::from_secs(3600);

/// The wait after the `failed_attempts`-th failed attempt (1 for the
/// first), given `base` and a `random` draw in `[0, 1)`.
pub fn backoff(failed_attempts: u32, base: Duration, random: f64) -> Duration {
    let exponent = failed_attempts.saturating_sub(1).min(40);
    let ceiling_ms = (base.as_millis() as u64)
        .saturating_mul(1u64 << exponent)
        .min(CAP.as_millis() as u64);
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    Duration::from_millis((ceiling_ms as f64 * random) as u64)
}

/// [`backoff`] with a fresh random draw.
pub fn backoff_now(failed_attempts: u32, base: Duration) -> Duration {
    backoff(failed_attempts, base, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_ceiling_doubles_from_the_base_up_to_the_cap() {
        let base = Duration::from_secs(5);
        let almost_one = 0.999_999_999;
        assert_eq!(backoff(1, base, almost_one).as_millis(), 4999);
        assert_eq!(backoff(2, base, almost_one).as_millis(), 9999);
        assert_eq!(backoff(4, base, almost_one).as_millis(), 39_999);
        assert_eq!(backoff(30, base, almost_one).as_millis(), 3_599_999);
        assert_eq!(backoff(3, base, 0.0), Duration::ZERO);
        assert_eq!(backoff(3, base, 0.5), Duration::from_secs(10));
    }

    proptest! {
        #[test]
        fn a_wait_stays_under_its_ceiling_and_the_cap(attempt in 0u32..=u32::MAX, base_ms in 0u64..=86_400_000, random in 0.0f64..1.0) {
            let base = Duration::from_millis(base_ms);
            let wait = backoff(attempt, base, random);
            prop_assert!(wait <= CAP);
            let ceiling = base.as_millis().saturating_mul(1u128 << attempt.saturating_sub(1).min(40));
            prop_assert!(wait.as_millis() <= ceiling);
        }

        #[test]
        fn a_later_retry_never_has_a_lower_ceiling(attempt in 1u32..64, base_ms in 1u64..100_000, random in 0.0f64..1.0) {
            let base = Duration::from_millis(base_ms);
            prop_assert!(backoff(attempt, base, random) <= backoff(attempt + 1, base, random));
        }
    }
}
