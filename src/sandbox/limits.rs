//! The account's two limits on call creation (CONTRACT A.7): how many calls may be live at once
//! (concurrency) and how many may start per second (CAPS). Over either, the vendor answers 429
//! and creates nothing.
//!
//! Checked inside the world's create under its one lock rather than in a separate layer: a
//! check and a create under two lock acquisitions would let two requests both see the last free
//! slot.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::num::NonZeroU32;

/// The account's limits; `None` is no limit (the default, today's behaviour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Calls live (created, not yet terminal) at once.
    pub max_live: Option<NonZeroU32>,
    /// Calls accepted within any one-second window.
    pub max_cps: Option<NonZeroU32>,
}

/// Which limit a refused create ran into; the text is the 429's description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitHit {
    #[error("Concurrency limit reached: {max} calls are live; retry when one ends")]
    Live { max: u32 },
    #[error("Rate limit exceeded: at most {per_second} call attempts per second")]
    Rate { per_second: u32 },
}

/// The window the calls-per-second limit counts in.
const WINDOW_MS: i64 = 1_000;

/// What the limits need to remember about accepted calls.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// End times (epoch ms) of calls that were live when last looked at; the earliest on top,
    /// so ended calls are let go in O(log n) without scanning every call.
    live_until: BinaryHeap<Reverse<i64>>,
    /// Accept times (epoch ms) within the last window, oldest first.
    recent_starts: VecDeque<i64>,
    /// The most calls ever live at once, for the stats.
    peak_live: usize,
}

impl Gate {
    /// Whether a create may be accepted at `now_ms`.
    pub fn admit(&mut self, limits: &Limits, now_ms: i64) -> Result<(), LimitHit> {
        self.forget_before(now_ms);
        if let Some(max) = limits.max_live
            && self.live_until.len() >= max.get() as usize
        {
            return Err(LimitHit::Live { max: max.get() });
        }
        if let Some(per_second) = limits.max_cps
            && self.recent_starts.len() >= per_second.get() as usize
        {
            return Err(LimitHit::Rate {
                per_second: per_second.get(),
            });
        }
        Ok(())
    }

    /// Counts a call accepted at `now_ms` that stays live until `ends_ms`.
    pub fn accepted(&mut self, now_ms: i64, ends_ms: i64) {
        self.recent_starts.push_back(now_ms);
        if ends_ms > now_ms {
            self.live_until.push(Reverse(ends_ms));
        }
        self.peak_live = self.peak_live.max(self.live_until.len());
    }

    pub fn peak_live(&self) -> usize {
        self.peak_live
    }

    /// Lets go of calls that have ended and starts that left the window.
    fn forget_before(&mut self, now_ms: i64) {
        while self
            .live_until
            .peek()
            .is_some_and(|Reverse(ends)| *ends <= now_ms)
        {
            self.live_until.pop();
        }
        while self
            .recent_starts
            .front()
            .is_some_and(|start| *start <= now_ms.saturating_sub(WINDOW_MS))
        {
            self.recent_starts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_live: u32, max_cps: u32) -> Limits {
        Limits {
            max_live: NonZeroU32::new(max_live),
            max_cps: NonZeroU32::new(max_cps),
        }
    }

    #[test]
    fn no_limits_admit_everything() {
        let mut gate = Gate::default();
        for now in 0..1_000 {
            assert_eq!(gate.admit(&Limits::default(), now), Ok(()));
            gate.accepted(now, now + 10_000);
        }
        assert_eq!(gate.peak_live(), 1_000);
    }

    #[test]
    fn a_live_slot_frees_when_a_call_ends() {
        let limits = limits(2, 0);
        let mut gate = Gate::default();
        gate.accepted(0, 500);
        gate.accepted(0, 900);
        assert_eq!(gate.admit(&limits, 499), Err(LimitHit::Live { max: 2 }));
        assert_eq!(gate.admit(&limits, 500), Ok(()));
        assert_eq!(gate.peak_live(), 2);
    }

    #[test]
    fn the_rate_counts_starts_in_the_last_second() {
        let limits = limits(0, 3);
        let mut gate = Gate::default();
        for now in [0, 10, 20] {
            assert_eq!(gate.admit(&limits, now), Ok(()));
            gate.accepted(now, now);
        }
        assert_eq!(
            gate.admit(&limits, 999),
            Err(LimitHit::Rate { per_second: 3 })
        );
        assert_eq!(gate.admit(&limits, 1_000), Ok(()));
        assert_eq!(gate.peak_live(), 0, "zero-length calls are never live");
    }
}
