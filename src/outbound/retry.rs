//! The one retry policy of outbound calls: exponential backoff with jitter,
//! a bounded number of retries, never waiting past the caller's deadline.
//!
//! Built on `backon` (already in the dependency tree through `redis`): its
//! backoff iterator and retry future are well tested, sleep on tokio's clock
//! (so paused-time tests control it) and leave what is retryable to the caller.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};

/// How often and how patiently a call is retried. Each caller says what is
/// retryable (transport errors and 5xx answers, for all of them today).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 for calls that must never be repeated.
    pub retries: u32,
    /// The wait before the first retry; doubled for each next one.
    pub first_delay: Duration,
    /// The longest wait (before jitter).
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// One attempt, no retry.
    pub const NEVER: RetryPolicy = RetryPolicy {
        retries: 0,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The waits this policy may make, in order (each plus up to as much
    /// jitter again, so that clients failing together do not retry together).
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(usize::try_from(self.retries).unwrap_or(usize::MAX))
            .with_jitter()
    }

    /// Runs `attempt` until it succeeds, fails with an error `retryable`
    /// refuses, the retries are spent, or the next wait would end at or past
    /// `deadline`. Returns the last outcome.
    pub async fn run<T, E, Fut>(
        &self,
        deadline: Option<Instant>,
        attempt: impl FnMut() -> Fut,
        retryable: impl FnMut(&E) -> bool,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
        E: Display,
    {
        attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(retryable)
            .adjust(move |_, wait| {
                wait.filter(|w| {
                    deadline.is_none_or(|d| Instant::now().checked_add(*w).is_some_and(|t| t < d))
                })
            })
            .notify(|error, wait| tracing::debug!(%error, ?wait, "outbound call failed; retrying"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const QUICK: RetryPolicy = RetryPolicy {
        retries: 2,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(1),
    };

    async fn count(policy: RetryPolicy, deadline: Option<Instant>, retryable: bool) -> u32 {
        let calls = AtomicU32::new(0);
        let out: Result<(), String> = policy
            .run(
                deadline,
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    Err("down".to_owned())
                },
                |_| retryable,
            )
            .await;
        assert_eq!(out.unwrap_err(), "down");
        calls.load(Ordering::Relaxed)
    }

    #[tokio::test]
    async fn retries_as_many_times_as_allowed() {
        assert_eq!(count(QUICK, None, true).await, 3);
        assert_eq!(count(RetryPolicy::NEVER, None, true).await, 1);
    }

    #[tokio::test]
    async fn an_error_the_caller_refuses_is_not_retried() {
        assert_eq!(count(QUICK, None, false).await, 1);
    }

    #[tokio::test]
    async fn waits_double_with_jitter() {
        let started = Instant::now();
        count(QUICK, None, true).await;
        // 20–40 ms, then 40–80 ms (the upper bound leaves room for a busy machine)
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(60), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    #[tokio::test]
    async fn never_waits_past_the_deadline() {
        let slow = RetryPolicy {
            first_delay: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            ..QUICK
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(count(slow, Some(deadline), true).await, 1);
    }
}
