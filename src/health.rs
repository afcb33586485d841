//! Number health: which caller IDs are burning, judged from our own calls, since the vendor
//! shows no reputation data. Pure and synchronous: the dialer hands in each number's latest
//! attempts and the time, and gets back decisions it journals ([`Rest`]).
//!
//! A number's **window** is its latest `health.window_calls` ended attempts that were sent within
//! `health.window_days` and after its latest rest ended (a rested number starts afresh). A number
//! is judged only once its window holds `health.min_calls` attempts, and only against a rest of
//! the pool that holds as many.
//!
//! **The test.** For its connection rate (lower is worse) and its short-call rate (higher is
//! worse), a one-sided two-proportion z-test of the number against the rest of the pool pooled
//! together; the number is significantly worse when either z exceeds [`CRITICAL_Z`] (one-sided
//! level 0.001). The level is strict because a number is judged again after each of its calls:
//! many looks at the same data would make a looser level rest healthy numbers by chance.
//!
//! A significantly worse number rests `health.rest_days`, the worst (largest z) first, never
//! more than `floor(max_resting_share × pool size)` numbers at once; a rest ends by itself.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::campaign::Health as Policy;
use crate::history::Attempt;
use crate::phone::Phone;

/// One-sided z beyond which a number is significantly worse: the standard normal's 0.999
/// quantile (level 0.001).
pub const CRITICAL_Z: f64 = 3.090;

/// What health keeps of one ended attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    sent_at: Timestamp,
    connected: bool,
    short: bool,
}

impl Call {
    /// What health keeps of `attempt`, once it has ended. Only first attempts count: a redial
    /// goes to someone who did not answer before, and stays on the same number (sticky), so a
    /// number whose callees happen to be hard to reach would otherwise look as if it burnt.
    fn of(attempt: &Attempt, short_call_seconds: u64) -> Option<Call> {
        if attempt.number > 1 {
            return None;
        }
        attempt.end.as_ref()?;
        Some(Call {
            sent_at: attempt.sent_at,
            connected: attempt.connected(),
            short: attempt.is_short(short_call_seconds),
        })
    }
}

/// A count of calls and how many of them had a property, with its rate and 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub of: u32,
    pub calls: u32,
    /// `of / calls`; 0 for no calls.
    pub rate: f64,
    /// Wilson score interval at 95%: honest near 0 and 1 and for few calls, unlike p ± 1.96·se.
    pub low: f64,
    pub high: f64,
}

/// A set of calls' figures: how many, how many connected, how many short.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub attempts: u32,
    pub connection: Rate,
    pub short_calls: Rate,
}

/// A decision to rest a number: everything it was made from, for the journal and for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rest {
    pub number: Phone,
    /// When it was decided.
    pub at: Timestamp,
    /// When the rest ends by itself.
    pub until: Timestamp,
    /// The number's window.
    pub figures: Figures,
    /// The rest of the pool's windows together.
    pub pool: Figures,
    /// z of the connection rate's test (positive: the number connects less).
    pub z_connection: f64,
    /// z of the short-call rate's test (positive: the number has more short calls).
    pub z_short: f64,
    pub why: String,
}

/// What health says of one number now.
#[derive(Debug, Clone, PartialEq)]
pub enum Standing {
    /// `health.enabled` is false.
    Off,
    /// Fewer than `min_calls` ended attempts in its window (or in the rest of the pool's).
    Unjudged,
    Healthy,
    /// Significantly worse, but the share that may rest is used up.
    Worse {
        z: f64,
    },
    Resting(Box<Rest>),
}

/// Each number of the pool: its window and its latest rest.
#[derive(Debug, Clone)]
pub struct Health {
    policy: Policy,
    numbers: BTreeMap<Phone, Number>,
}

#[derive(Debug, Clone, Default)]
struct Number {
    /// Its latest ended attempts, newest first, at most `window_calls`.
    calls: Vec<Call>,
    /// Its latest rest, ended or not.
    rest: Option<Rest>,
}

impl Rate {
    /// `of` out of `calls`, with its 95% Wilson interval (0–1 for no calls).
    pub fn of(of: u32, calls: u32) -> Rate {
        let (low, high) =
            crate::stats::wilson(u64::from(of), u64::from(calls)).unwrap_or((0.0, 1.0));
        Rate {
            of,
            calls,
            rate: if calls == 0 {
                0.0
            } else {
                f64::from(of) / f64::from(calls)
            },
            low,
            high,
        }
    }

    /// One-sided two-proportion z of `self` being above `other` ([`crate::stats::z_above`]).
    pub fn z_above(&self, other: &Rate) -> f64 {
        let trials = |r: &Rate| (u64::from(r.of), u64::from(r.calls));
        crate::stats::z_above(trials(self), trials(other))
    }
}

impl Figures {
    fn of<'a>(calls: impl Iterator<Item = &'a Call>) -> Figures {
        let (mut attempts, mut connected, mut short) = (0, 0, 0);
        for call in calls {
            attempts += 1;
            connected += u32::from(call.connected);
            short += u32::from(call.short);
        }
        Figures {
            attempts,
            connection: Rate::of(connected, attempts),
            short_calls: Rate::of(short, attempts),
        }
    }

    fn none() -> Figures {
        Figures::of([].iter())
    }

    fn plus(self, other: Figures) -> Figures {
        let attempts = self.attempts + other.attempts;
        Figures {
            attempts,
            connection: Rate::of(self.connection.of + other.connection.of, attempts),
            short_calls: Rate::of(self.short_calls.of + other.short_calls.of, attempts),
        }
    }

    /// `self` without `part`, which it contains.
    fn minus(self, part: Figures) -> Figures {
        let attempts = self.attempts - part.attempts;
        Figures {
            attempts,
            connection: Rate::of(self.connection.of - part.connection.of, attempts),
            short_calls: Rate::of(self.short_calls.of - part.short_calls.of, attempts),
        }
    }
}

impl Health {
    /// Health over `pool`, with no calls seen yet.
    pub fn new(policy: Policy, pool: &[Phone]) -> Health {
        Health {
            policy,
            numbers: pool
                .iter()
                .map(|n| (n.clone(), Number::default()))
                .collect(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Takes back a rest an earlier run decided (from the journal). A later rest of the same
    /// number replaces an earlier one.
    pub fn restore(&mut self, rest: Rest) {
        if let Some(number) = self.numbers.get_mut(&rest.number)
            && number.rest.as_ref().is_none_or(|r| r.at <= rest.at)
        {
            number.rest = Some(rest);
        }
    }

    /// `number`'s latest attempts (newest first, as [`crate::journal::Journal::latest_attempts`]
    /// gives them) replace what was known of it. Only the ended ones count.
    pub fn observe(&mut self, number: &Phone, latest: &[Attempt]) {
        let seconds = self.policy.short_call_seconds;
        let window = self.policy.window_calls.get() as usize;
        if let Some(known) = self.numbers.get_mut(number) {
            known.calls = latest
                .iter()
                .filter_map(|a| Call::of(a, seconds))
                .take(window)
                .collect();
        }
    }

    /// One more ended attempt (as each call ends in a run): kept in its number's window in the
    /// order the calls were sent, so a call's end costs the window, never a read of the journal.
    pub fn ended(&mut self, attempt: &Attempt) {
        let seconds = self.policy.short_call_seconds;
        let window = self.policy.window_calls.get() as usize;
        let Some(known) = self.numbers.get_mut(&attempt.caller_id) else {
            return;
        };
        let Some(call) = Call::of(attempt, seconds) else {
            return;
        };
        let at = known.calls.partition_point(|c| c.sent_at > call.sent_at);
        known.calls.insert(at, call);
        known.calls.truncate(window);
    }

    /// The figures of `number`'s window at `now`.
    pub fn figures(&self, number: &Phone, now: Timestamp) -> Figures {
        match self.numbers.get(number) {
            Some(known) => Figures::of(self.window(known, now)),
            None => Figures::none(),
        }
    }

    /// The figures of every other number's window, together: the pool a number is judged
    /// against. Resting numbers are left out, so a burnt number does not drag the baseline
    /// down and hide the next one.
    pub fn pool_figures(&self, number: &Phone, now: Timestamp) -> Figures {
        self.numbers
            .iter()
            .filter(|(phone, _)| *phone != number && self.resting(phone, now).is_none())
            .map(|(_, known)| Figures::of(self.window(known, now)))
            .fold(Figures::none(), Figures::plus)
    }

    /// The rest `number` is in at `now`, if any; none while `health.enabled` is false, whatever
    /// earlier runs decided.
    pub fn resting(&self, number: &Phone, now: Timestamp) -> Option<&Rest> {
        if !self.policy.enabled {
            return None;
        }
        let rest = self.numbers.get(number)?.rest.as_ref()?;
        (rest.until > now).then_some(rest)
    }

    /// The earliest moment a resting number comes back, if any rests.
    pub fn next_return(&self, now: Timestamp) -> Option<Timestamp> {
        self.numbers
            .keys()
            .filter_map(|n| self.resting(n, now).map(|r| r.until))
            .min()
    }

    /// What health says of `number` at `now`.
    pub fn standing(&self, number: &Phone, now: Timestamp) -> Standing {
        if !self.policy.enabled {
            return Standing::Off;
        }
        if let Some(rest) = self.resting(number, now) {
            return Standing::Resting(Box::new(rest.clone()));
        }
        let figures = self.figures(number, now);
        match self.test(number, figures, self.pool_figures(number, now)) {
            None => Standing::Unjudged,
            Some(judged) if judged.z() > CRITICAL_Z => Standing::Worse { z: judged.z() },
            Some(_) => Standing::Healthy,
        }
    }

    /// Judges every number not resting at `now`: those significantly worse rest, the worst
    /// first, while the share allows. Returns the new rests, already in force.
    pub fn judge(&mut self, now: Timestamp) -> Vec<Rest> {
        if !self.policy.enabled {
            return Vec::new();
        }
        // Each window is counted once, and each number's pool is the total less its own: a
        // call's end costs the pool's windows, not the pool's size times them.
        let active: Vec<(&Phone, Figures)> = self
            .numbers
            .iter()
            .filter(|(n, _)| self.resting(n, now).is_none())
            .map(|(n, known)| (n, Figures::of(self.window(known, now))))
            .collect();
        let total = active
            .iter()
            .fold(Figures::none(), |sum, (_, own)| sum.plus(*own));
        let mut worse: Vec<Judged> = active
            .iter()
            .filter_map(|(n, own)| self.test(n, *own, total.minus(*own)))
            .filter(|judged| judged.z() > CRITICAL_Z)
            .collect();
        // Worst first; ties by number, so the same history gives the same decisions.
        worse.sort_by(|a, b| {
            b.z()
                .total_cmp(&a.z())
                .then_with(|| a.number.cmp(&b.number))
        });
        let room = self.room(now);
        let rests: Vec<Rest> = worse
            .into_iter()
            .take(room)
            .map(|judged| judged.rest(now, self.rest_span()))
            .collect();
        for rest in &rests {
            if let Some(number) = self.numbers.get_mut(&rest.number) {
                number.rest = Some(rest.clone());
            }
        }
        rests
    }

    /// How many more numbers may rest at `now`.
    fn room(&self, now: Timestamp) -> usize {
        let share = self.policy.max_resting_share * self.numbers.len() as f64;
        let allowed = share.floor() as usize;
        let resting = self
            .numbers
            .keys()
            .filter(|n| self.resting(n, now).is_some())
            .count();
        allowed.saturating_sub(resting)
    }

    fn rest_span(&self) -> SignedDuration {
        SignedDuration::from_hours(24 * i64::from(self.policy.rest_days.get()))
    }

    /// `number`'s window against the rest of the pool's, when both hold `min_calls`.
    fn test(&self, number: &Phone, figures: Figures, pool: Figures) -> Option<Judged> {
        let min = self.policy.min_calls.get();
        if figures.attempts < min || pool.attempts < min {
            return None;
        }
        Some(Judged {
            number: number.clone(),
            z_connection: pool.connection.z_above(&figures.connection),
            z_short: figures.short_calls.z_above(&pool.short_calls),
            figures,
            pool,
        })
    }

    /// A number's window at `now`: its ended attempts within `window_days`, sent after its
    /// latest rest ended. While it rests, the calls it rests for.
    fn window<'a>(&self, known: &'a Number, now: Timestamp) -> impl Iterator<Item = &'a Call> {
        let days = SignedDuration::from_hours(24 * i64::from(self.policy.window_days.get()));
        let oldest = now.checked_sub(days).unwrap_or(Timestamp::MIN);
        let ended_rest = known
            .rest
            .as_ref()
            .map(|r| r.until)
            .filter(|&until| until <= now);
        let since = ended_rest.map_or(oldest, |until| until.max(oldest));
        known.calls.iter().filter(move |c| c.sent_at >= since)
    }
}

/// One number's test against the rest of the pool.
struct Judged {
    number: Phone,
    figures: Figures,
    pool: Figures,
    z_connection: f64,
    z_short: f64,
}

impl Judged {
    /// How much worse the number is: the larger of its two tests' z.
    fn z(&self) -> f64 {
        self.z_connection.max(self.z_short)
    }

    fn rest(self, now: Timestamp, span: SignedDuration) -> Rest {
        let why = if self.z_connection >= self.z_short {
            format!(
                "connects {:.0}% of {} calls against the pool's {:.0}% (z = {:.2} > {CRITICAL_Z})",
                self.figures.connection.rate * 100.0,
                self.figures.attempts,
                self.pool.connection.rate * 100.0,
                self.z_connection
            )
        } else {
            format!(
                "{:.0}% of {} calls were short against the pool's {:.0}% (z = {:.2} > {CRITICAL_Z})",
                self.figures.short_calls.rate * 100.0,
                self.figures.attempts,
                self.pool.short_calls.rate * 100.0,
                self.z_short
            )
        };
        Rest {
            until: now.checked_add(span).unwrap_or(Timestamp::MAX),
            number: self.number,
            at: now,
            figures: self.figures,
            pool: self.pool,
            z_connection: self.z_connection,
            z_short: self.z_short,
            why,
        }
    }
}
