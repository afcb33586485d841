//! Per-caller-ID caps (SPEC §2 `[rotation]`, §4 "caps are hard"): at most N calls per day from
//! each number and at least G between two of its calls. Plain synchronous bookkeeping; the
//! rotation asks it which numbers may be used, the dialer records each call it starts.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};

use crate::phone::Phone;

/// Hard limits on each caller ID: at most N calls per day and at least G between two calls.
///
/// The day is the UTC day, not the callee's or the caller ID's local day: a number calls into
/// many zones, so no local day is "its" day; UTC days are all 24 hours long (no DST days of 23 or
/// 25 hours that would stretch or shrink the cap); and the journal stores UTC instants, so a
/// resumed run counts exactly what the interrupted one did, on any machine.
///
/// Memory is bounded by the pool: per number only the latest call and the count of calls on its
/// UTC day, never a list of calls. Calls on earlier days are forgotten, which is safe because
/// time only moves forward for the caps (see [`Held::next_allowed`]).
///
/// The counts live in a [`Ledger`], which campaigns run by one process share: a number's cap
/// counts every campaign's calls from it, and each campaign holds it to its own limits.
#[derive(Debug)]
pub struct Caps {
    limits: Limits,
    ledger: Ledger,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_per_day: Option<NonZeroU32>,
    /// Saturated rather than refused when absurdly large: a gap of centuries just means "once".
    min_gap: SignedDuration,
}

/// What each caller ID has used, shared by every campaign of a process that dials from it.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<Mutex<HashMap<Phone, Usage>>>);

/// What one caller ID has used.
#[derive(Debug, Clone, Copy)]
struct Usage {
    /// The latest call, whenever it was recorded (journal entries come back in phone order).
    last: Timestamp,
    /// Calls on the UTC day of `last`.
    calls_that_day: u32,
}

/// What the shared store said of a number that other processes' calls have used up (see
/// [`crate::store::Admit`]): its day is full with `calls`, or a call made elsewhere at `at`
/// holds it in its cooldown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elsewhere {
    DayFull { calls: u32 },
    CalledAt(Timestamp),
}

/// The caps with their ledger locked: a choice read from it and the call it claims are one
/// step, with no other campaign's call in between.
pub struct Held<'a> {
    limits: Limits,
    usage: MutexGuard<'a, HashMap<Phone, Usage>>,
}

impl Caps {
    /// Caps with a ledger of their own. `max_per_day: None` is no daily cap; a zero `min_gap`
    /// is no cooldown.
    pub fn new(max_per_day: Option<NonZeroU32>, min_gap: Duration) -> Caps {
        Caps::sharing(max_per_day, min_gap, Ledger::default())
    }

    /// Caps that count in `ledger`, beside the other campaigns that hold it.
    pub fn sharing(max_per_day: Option<NonZeroU32>, min_gap: Duration, ledger: Ledger) -> Caps {
        let limits = Limits {
            max_per_day,
            min_gap: SignedDuration::try_from(min_gap).unwrap_or(SignedDuration::MAX),
        };
        Caps { limits, ledger }
    }

    /// The ledger locked, for a decision and its claim together.
    pub fn held(&self) -> Held<'_> {
        Held {
            limits: self.limits,
            usage: self
                .ledger
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// See [`Held::sent`].
    pub fn sent(&mut self, number: &Phone, at: Timestamp) {
        self.held().sent(number, at);
    }

    /// See [`Held::record`].
    pub fn record(&mut self, number: &Phone, at: Timestamp) {
        self.held().record(number, at);
    }

    /// See [`Held::forget`].
    pub fn forget(&mut self, number: &Phone, at: Timestamp) {
        self.held().forget(number, at);
    }

    /// See [`Held::allows`].
    pub fn allows(&self, number: &Phone, at: Timestamp) -> bool {
        self.held().allows(number, at)
    }

    /// See [`Held::next_allowed`].
    pub fn next_allowed(&self, number: &Phone, at: Timestamp) -> Timestamp {
        self.held().next_allowed(number, at)
    }

    /// See [`Held::taken_elsewhere`].
    pub fn taken_elsewhere(&mut self, number: &Phone, at: Timestamp, taken: Elsewhere) {
        self.held().taken_elsewhere(number, at, taken);
    }

    /// See [`Held::used_on`].
    pub fn used_on(&self, number: &Phone, at: Timestamp) -> u32 {
        self.held().used_on(number, at)
    }
}

impl Held<'_> {
    /// The call recorded last for `number` actually left at `at` (a moment after it was decided,
    /// once its mark was on disk): the cooldown runs from then, as the API counts it.
    pub fn sent(&mut self, number: &Phone, at: Timestamp) {
        if let Some(usage) = self.usage.get_mut(number) {
            usage.last = usage.last.max(at);
        }
    }

    /// Earlier use (from the journal on resume), or a call just started: one call from `number`
    /// at `at`. Calls may be recorded in any order; one on a UTC day before the latest changes
    /// nothing, as no call can start on that day any more.
    pub fn record(&mut self, number: &Phone, at: Timestamp) {
        let Some(usage) = self.usage.get_mut(number) else {
            let usage = Usage {
                last: at,
                calls_that_day: 1,
            };
            self.usage.insert(number.clone(), usage);
            return;
        };
        match utc_day(at).cmp(&utc_day(usage.last)) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => {
                usage.calls_that_day = usage.calls_that_day.saturating_add(1);
            }
            std::cmp::Ordering::Greater => usage.calls_that_day = 1,
        }
        usage.last = usage.last.max(at);
    }

    /// Takes back a call recorded at `at` whose create request made no call (a 429, a refusal):
    /// caps count calls, not refusals. The cooldown keeps running from the latest attempt (only
    /// the latest is kept), which can only delay the number, never exceed a cap.
    pub fn forget(&mut self, number: &Phone, at: Timestamp) {
        if let Some(usage) = self.usage.get_mut(number)
            && utc_day(usage.last) == utc_day(at)
        {
            usage.calls_that_day = usage.calls_that_day.saturating_sub(1);
        }
    }

    /// Other processes' calls from `number`, as the shared store counted them when it refused
    /// ours at `at`: counted here too, so that the rotation looks elsewhere rather than asking
    /// the store again for a number it has just refused.
    pub fn taken_elsewhere(&mut self, number: &Phone, at: Timestamp, taken: Elsewhere) {
        match taken {
            Elsewhere::DayFull { calls } => {
                let usage = self.usage.entry(number.clone()).or_insert(Usage {
                    last: at,
                    calls_that_day: 0,
                });
                if utc_day(usage.last) < utc_day(at) {
                    usage.calls_that_day = 0;
                }
                usage.last = usage.last.max(at);
                usage.calls_that_day = usage.calls_that_day.max(calls);
            }
            Elsewhere::CalledAt(then) => {
                let usage = self.usage.entry(number.clone()).or_insert(Usage {
                    last: then,
                    calls_that_day: 0,
                });
                usage.last = usage.last.max(then);
            }
        }
    }

    /// Whether a call from `number` may start at `at` without exceeding a cap.
    pub fn allows(&self, number: &Phone, at: Timestamp) -> bool {
        self.next_allowed(number, at) == at
    }

    /// The earliest instant >= `at` at which `number` becomes allowed again: after the cooldown
    /// since its latest call, and, when that call's day is full, at the next UTC midnight.
    ///
    /// An instant before the latest recorded call is never allowed, even without a cooldown:
    /// only the latest call is kept, so an earlier slot cannot be checked against the calls
    /// around it. The dialer's clock moves forward, so this costs nothing in practice (a wall clock
    /// stepped back only makes the number wait until the clock catches up).
    pub fn next_allowed(&self, number: &Phone, at: Timestamp) -> Timestamp {
        let Some(usage) = self.usage.get(number) else {
            return at;
        };
        let cooled_down = usage.last.checked_add(self.limits.min_gap);
        let after_gap = at.max(cooled_down.unwrap_or(Timestamp::MAX));
        if self.day_is_full(usage) && utc_day(after_gap) == utc_day(usage.last) {
            next_utc_midnight(usage.last)
        } else {
            after_gap
        }
    }

    /// Calls from `number` on the UTC day of `at`; 0 for a day before its latest call's day,
    /// which is no longer kept.
    pub fn used_on(&self, number: &Phone, at: Timestamp) -> u32 {
        match self.usage.get(number) {
            Some(usage) if utc_day(usage.last) == utc_day(at) => usage.calls_that_day,
            _ => 0,
        }
    }

    fn day_is_full(&self, usage: &Usage) -> bool {
        self.limits
            .max_per_day
            .is_some_and(|max| usage.calls_that_day >= max.get())
    }
}

/// How many of a number's latest call starts the caps can ever need: a day's worth under a daily
/// cap (no more calls start on a full day), the latest alone without one; and one more, as the
/// latest may still be taken back (a create request that made no call).
pub fn starts_needed(max_per_day: Option<NonZeroU32>) -> usize {
    max_per_day.map_or(1, |max| max.get() as usize) + 1
}

fn utc_day(at: Timestamp) -> Date {
    Offset::UTC.to_datetime(at).date()
}

/// The start of the UTC day after the one of `at`; `Timestamp::MAX` at the end of time.
fn next_utc_midnight(at: Timestamp) -> Timestamp {
    utc_day(at)
        .tomorrow()
        .ok()
        .and_then(|day| {
            Offset::UTC
                .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
                .ok()
        })
        .unwrap_or(Timestamp::MAX)
}
