//! Pacing: how fast calls are created and how many create requests are in flight.
//!
//! The rate is an absolute schedule (governor's GCRA: call *n* is due at `start + n/rate`, burst 1),
//! so a slow request never lets drift accumulate, and a bound on concurrency is a separate concern:
//! a semaphore whose permits travel with each request.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::campaign::Pacing;

/// Hands out the right to start one create request.
pub struct Pacer {
    schedule: DefaultDirectRateLimiter,
    /// One permit per request allowed in flight; a request holds its permit until it is answered.
    slots: Arc<Semaphore>,
    /// Set after a 429: nothing starts before this instant.
    paused_until: Mutex<Option<Instant>>,
}

/// The right to have one create request in flight; dropping it frees the slot.
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Pacer {
    pub fn new(pacing: &Pacing) -> Pacer {
        let quota = Quota::with_period(pacing.calls_per_second.interval())
            .expect("a call rate's interval is never zero")
            .allow_burst(NonZeroU32::MIN);
        Pacer {
            schedule: RateLimiter::direct(quota),
            slots: Arc::new(Semaphore::new(pacing.max_live_calls.get() as usize)),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits for a free slot, then for the schedule. Cancel-safe: dropping the future takes nothing.
    pub async fn slot(&self) -> Slot {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let pause = *self.paused_until.lock().await;
        if let Some(until) = pause {
            tokio::time::sleep_until(until).await;
        }
        self.schedule.until_ready().await;
        Slot(permit)
    }

    /// Holds every start back for `wait` (after a 429).
    pub async fn pause(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().await;
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}
