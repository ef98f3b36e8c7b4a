//! The adaptive limiter every request of a run goes through.
//!
//! It is a concurrency window, not a fixed QPS: the number of requests in flight may grow by about
//! one per window of fast 2xx answers (additive increase), and shrinks multiplicatively on 429
//! (by half) and on 5xx / transport failures (to 70 %). The window never exceeds the user's cap
//! (`max_concurrency`) and never drops below 1. One burst of failures shrinks the window once:
//! only a request that started after the last decrease can decrease it again (the same trick TCP
//! uses to react once per round trip).
//!
//! Retries themselves (429 sleeps `Retry-After`, 5xx / transport failures back off exponentially
//! with jitter, bounded attempts) are driven by the request code in `cluster.rs`, which asks this
//! module for the delays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// Settings of the adaptive limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterConfig {
    /// User cap on requests in flight (≥ 1).
    pub max_concurrency: usize,
    /// Window at start (clamped to `1..=max_concurrency`).
    pub initial_concurrency: usize,
    /// Attempts per request, first one included, before a 429 / 5xx / transport error surfaces.
    pub max_attempts: u32,
    /// First backoff delay after a 5xx / transport failure (doubles per attempt).
    pub base_backoff: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
    /// A 2xx answer slower than this does not grow the window (the server is saturated).
    pub slow_latency: Duration,
    /// Longest `Retry-After` honoured; larger values are clamped to it.
    pub max_retry_after: Duration,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 32,
            initial_concurrency: 8,
            max_attempts: 8,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            slow_latency: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Counters of a run, for progress and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// HTTP attempts sent (retries included).
    pub requests: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 429 answers received.
    pub throttles: u64,
    /// Retryable 5xx answers received.
    pub server_errors: u64,
    /// Attempts that got no HTTP answer.
    pub transport_errors: u64,
    /// Current window (requests allowed in flight).
    pub limit: usize,
    /// Requests in flight now.
    pub in_flight: usize,
}

/// The pure window arithmetic, separated from time and tasks so it can be tested directly.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    limit: f64,
    cap: f64,
    epoch: u64,
}

/// Multiplicative factor on 429.
const THROTTLE_FACTOR: f64 = 0.5;
/// Multiplicative factor on 5xx / transport failures.
const ERROR_FACTOR: f64 = 0.7;

impl Window {
    pub(crate) fn new(initial: usize, cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            limit: initial.clamp(1, cap) as f64,
            cap: cap as f64,
            epoch: 0,
        }
    }

    /// Requests allowed in flight.
    pub(crate) fn permits(&self) -> usize {
        (self.limit.floor() as usize).max(1)
    }

    /// Decrease generation; a request remembers it when it starts.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A fast 2xx: grow by 1/limit (≈ +1 per full window). Returns whether `permits()` grew.
    pub(crate) fn on_success(&mut self) -> bool {
        let before = self.permits();
        self.limit = (self.limit + 1.0 / self.limit).min(self.cap);
        self.permits() > before
    }

    /// A 429 seen by a request started in `started_epoch`. Returns whether the window shrank.
    pub(crate) fn on_throttle(&mut self, started_epoch: u64) -> bool {
        self.decrease(started_epoch, THROTTLE_FACTOR)
    }

    /// A 5xx / transport failure seen by a request started in `started_epoch`.
    pub(crate) fn on_error(&mut self, started_epoch: u64) -> bool {
        self.decrease(started_epoch, ERROR_FACTOR)
    }

    fn decrease(&mut self, started_epoch: u64, factor: f64) -> bool {
        if started_epoch != self.epoch {
            return false;
        }
        self.limit = (self.limit * factor).max(1.0);
        self.epoch += 1;
        true
    }
}

/// Parse a `Retry-After` header value (delta-seconds; the API server sends whole seconds),
/// clamped to `max`. HTTP-date values and garbage yield `None` (the caller then backs off).
pub fn parse_retry_after(value: &str, max: Duration) -> Option<Duration> {
    let v = value.trim();
    let secs: f64 = if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        v.parse::<u64>().ok()? as f64
    } else {
        let f: f64 = v.parse().ok()?;
        if !f.is_finite() || f < 0.0 {
            return None;
        }
        f
    };
    Some(Duration::from_secs_f64(secs.min(max.as_secs_f64())))
}

/// Backoff before attempt `attempt + 1` after `attempt` failures (1-based): `base · 2^(attempt-1)`
/// capped at `max`, with "equal jitter" — half fixed, half scaled by `jitter01` ∈ [0, 1).
pub fn backoff_delay(attempt: u32, base: Duration, max: Duration, jitter01: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    half + half.mul_f64(jitter01.clamp(0.0, 1.0))
}

#[derive(Debug)]
struct State {
    window: Window,
    in_flight: usize,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    throttles: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    config: LimiterConfig,
    state: Mutex<State>,
    notify: Notify,
    counters: Counters,
}

/// The shared limiter. Cheap to clone; all clones share one window and one set of counters.
#[derive(Debug, Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

impl Limiter {
    /// A limiter with the given settings.
    pub fn new(config: LimiterConfig) -> Self {
        let window = Window::new(config.initial_concurrency, config.max_concurrency);
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State { window, in_flight: 0 }),
                notify: Notify::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LimiterConfig {
        &self.inner.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this short lock leaves consistent integers behind; keep going.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wait for a slot in the window.
    pub(crate) async fn acquire(&self) -> Permit {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state();
                if st.in_flight < st.window.permits() {
                    st.in_flight += 1;
                    self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
                    return Permit {
                        limiter: self.clone(),
                        epoch: st.window.epoch(),
                        done: false,
                    };
                }
            }
            notified.await;
        }
    }

    /// Snapshot of the counters and the window.
    pub fn stats(&self) -> LimiterStats {
        let c = &self.inner.counters;
        let st = self.state();
        LimiterStats {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            throttles: c.throttles.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
            limit: st.window.permits(),
            in_flight: st.in_flight,
        }
    }

    pub(crate) fn count_retry(&self) {
        self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Backoff after `attempt` failures, with random jitter.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let c = &self.inner.config;
        backoff_delay(attempt, c.base_backoff, c.max_backoff, rand::random::<f64>())
    }

    fn release(&self) {
        let mut st = self.state();
        st.in_flight = st.in_flight.saturating_sub(1);
        drop(st);
        self.inner.notify.notify_one();
    }
}

/// A slot in the window; report how the request went, then drop it.
#[derive(Debug)]
pub(crate) struct Permit {
    limiter: Limiter,
    epoch: u64,
    done: bool,
}

impl Permit {
    /// A 2xx (or an expected 4xx such as 404 / 409: the server was healthy) after `latency`.
    pub(crate) fn success(mut self, latency: Duration) {
        self.done = true;
        let grew = {
            let mut st = self.limiter.state();
            latency <= self.limiter.inner.config.slow_latency && st.window.on_success()
        };
        if grew {
            // The slot this permit frees is signalled on drop; the extra one here.
            self.limiter.inner.notify.notify_one();
        }
    }

    /// A 429.
    pub(crate) fn throttled(mut self) {
        self.done = true;
        self.limiter
            .inner
            .counters
            .throttles
            .fetch_add(1, Ordering::Relaxed);
        let shrank = self.limiter.state().window.on_throttle(self.epoch);
        if shrank {
            tracing::debug!(
                limit = self.limiter.state().window.permits(),
                "throttled: window shrinks"
            );
        }
    }

    /// A retryable 5xx (`server = true`) or a transport failure.
    pub(crate) fn failed(mut self, server: bool) {
        self.done = true;
        let counter = if server {
            &self.limiter.inner.counters.server_errors
        } else {
            &self.limiter.inner.counters.transport_errors
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let shrank = self.limiter.state().window.on_error(self.epoch);
        if shrank {
            tracing::debug!(
                limit = self.limiter.state().window.permits(),
                server,
                "failure: window shrinks"
            );
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            // Cancelled mid-request: no verdict on the server, just free the slot.
            tracing::trace!("request dropped before completion");
        }
        self.limiter.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_grows_additively_up_to_the_cap() {
        let mut w = Window::new(2, 4);
        assert_eq!(w.permits(), 2);
        // 1/limit per success: 2 → 2.5 → 2.9 → 3.24.
        assert!(!w.on_success());
        assert!(!w.on_success());
        assert_eq!(w.permits(), 2);
        assert!(w.on_success());
        assert_eq!(w.permits(), 3);
        for _ in 0..100 {
            w.on_success();
        }
        assert_eq!(w.permits(), 4, "never above the cap");
    }

    #[test]
    fn throttle_halves_once_per_epoch() {
        let mut w = Window::new(32, 64);
        let e = w.epoch();
        // A burst of 429s from requests that all started in the same epoch: one halving.
        assert!(w.on_throttle(e));
        assert!(!w.on_throttle(e));
        assert!(!w.on_throttle(e));
        assert_eq!(w.permits(), 16);
        // A request started after the decrease can decrease again.
        assert!(w.on_throttle(w.epoch()));
        assert_eq!(w.permits(), 8);
    }

    #[test]
    fn errors_shrink_to_seventy_percent_and_never_below_one() {
        let mut w = Window::new(10, 10);
        assert!(w.on_error(w.epoch()));
        assert_eq!(w.permits(), 7);
        for _ in 0..50 {
            w.on_error(w.epoch());
            w.on_throttle(w.epoch());
        }
        assert_eq!(w.permits(), 1, "floor of one");
        // And it recovers by growing again.
        for _ in 0..10 {
            w.on_success();
        }
        assert!(w.permits() >= 2);
    }

    #[test]
    fn initial_is_clamped() {
        assert_eq!(Window::new(0, 5).permits(), 1);
        assert_eq!(Window::new(50, 5).permits(), 5);
        assert_eq!(Window::new(3, 0).permits(), 1);
    }

    #[test]
    fn retry_after_parsing() {
        let max = Duration::from_secs(60);
        assert_eq!(parse_retry_after("1", max), Some(Duration::from_secs(1)));
        assert_eq!(parse_retry_after(" 7 ", max), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0", max), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("0.5", max), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("3600", max), Some(max), "clamped");
        assert_eq!(parse_retry_after("-1", max), None);
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", max), None);
        assert_eq!(parse_retry_after("", max), None);
        assert_eq!(parse_retry_after("NaN", max), None);
    }

    #[test]
    fn backoff_is_exponential_capped_and_jittered() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(backoff_delay(1, base, max, 0.0), Duration::from_millis(50));
        assert_eq!(backoff_delay(1, base, max, 1.0), Duration::from_millis(100));
        assert_eq!(backoff_delay(3, base, max, 1.0), Duration::from_millis(400));
        assert_eq!(backoff_delay(20, base, max, 1.0), max);
        assert_eq!(backoff_delay(u32::MAX, base, max, 0.0), Duration::from_secs(1));
        let mid = backoff_delay(2, base, max, 0.5);
        assert!(mid > Duration::from_millis(100) && mid < Duration::from_millis(200));
    }

    #[tokio::test]
    async fn permits_bound_in_flight_and_free_on_drop() {
        let limiter = Limiter::new(LimiterConfig {
            initial_concurrency: 2,
            max_concurrency: 2,
            ..Default::default()
        });
        let a = limiter.acquire().await;
        let b = limiter.acquire().await;
        assert_eq!(limiter.stats().in_flight, 2);
        // A third acquire must wait until one is released.
        let l2 = limiter.clone();
        let third = tokio::spawn(async move {
            let p = l2.acquire().await;
            p.success(Duration::ZERO);
        });
        tokio::task::yield_now().await;
        assert!(!third.is_finished());
        assert_eq!(limiter.stats().in_flight, 2);
        a.success(Duration::ZERO);
        third.await.unwrap();
        b.success(Duration::ZERO);
        let s = limiter.stats();
        assert_eq!((s.in_flight, s.requests), (0, 3));
    }

    #[tokio::test]
    async fn throttle_and_failure_shrink_the_shared_window() {
        let limiter = Limiter::new(LimiterConfig {
            initial_concurrency: 16,
            max_concurrency: 16,
            ..Default::default()
        });
        let ps: Vec<_> = futures::future::join_all((0..4).map(|_| limiter.acquire())).await;
        let mut it = ps.into_iter();
        it.next().unwrap().throttled();
        it.next().unwrap().throttled(); // same epoch: no second halving
        assert_eq!(limiter.stats().limit, 8);
        it.next().unwrap().failed(true); // same epoch as well
        assert_eq!(limiter.stats().limit, 8);
        limiter.acquire().await.failed(false); // new epoch
        let s = limiter.stats();
        assert_eq!(s.limit, 5);
        assert_eq!((s.throttles, s.server_errors, s.transport_errors), (2, 1, 1));
        drop(it);
        assert_eq!(limiter.stats().in_flight, 0);
    }

    #[tokio::test]
    async fn slow_successes_do_not_grow() {
        let cfg = LimiterConfig {
            initial_concurrency: 1,
            max_concurrency: 8,
            slow_latency: Duration::from_millis(10),
            ..Default::default()
        };
        let limiter = Limiter::new(cfg);
        for _ in 0..5 {
            limiter.acquire().await.success(Duration::from_secs(1));
        }
        assert_eq!(limiter.stats().limit, 1);
        for _ in 0..5 {
            limiter.acquire().await.success(Duration::ZERO);
        }
        assert!(limiter.stats().limit > 1);
    }
}
