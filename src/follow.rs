//! Following live calls in bulk. One task, the follower, reads the status of every live call of
//! the campaign from one paged `GET /v2/calls?model_id=…&from_date=…` per sweep, and tells each
//! call's task when its call has ended; a call the list does not show is looked at alone
//! (`GET /v2/calls/{id}`) once a grace has passed. Every read waits for its turn in the reads
//! budget (`pacing.reads_per_second`), a limiter apart from the create schedule.
//!
//! Sweeps come when ends are likely: the follower learns how long the campaign's calls last
//! (the last 32 ends it saw) and, from the live calls' ages, sweeps once about one end is
//! expected since the last sweep, sooner (every [`LIKELY_GAP`]) while any end is likely at
//! all, and at least every [`IDLE_GAP`]; before it has learned, sweeps thin out as calls age.
//! One sweep serves every live call.
//!
//! A sweep lists every call that started since the earliest live one, ours and the campaign's
//! ended ones alike, so the list's `from_date` is kept as late as the vendor's own times allow:
//! a call cannot start before a `start_time` the vendor had already shown when its create was
//! sent, nor before its own once listed; only a call without either (created by an earlier run)
//! falls back on the machine's clock and [`START_MARGIN`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::api::{ApiError, CallInList, CallState, Synthflow};
use crate::pacing::Pacer;

/// The list is asked for calls that started this long before the earliest live call's
/// `dialing` mark (moved onto the vendor's clock): its `Date` header has whole seconds and
/// clocks drift. Kept short, as every call started in it is listed (at 100 calls/s, 2 s are two
/// pages); a call the margin misses is not lost: it is looked at alone.
const START_MARGIN: SignedDuration = SignedDuration::from_secs(2);
/// How far apart the vendor's own times are trusted to be (its hosts' clocks, when it sets
/// `start_time`): a call's `start_time` is taken to be no earlier than this before a time the
/// vendor had shown before the call was created. Doubled, up to [`START_MARGIN`], whenever the
/// list shows a call that started earlier than that, or misses one past [`UNLISTED_GRACE`]: a
/// vendor whose times disagree costs list pages, never a call.
///
/// Hosts kept in time by NTP agree within a few ms; at 3,000 calls a second each 100 ms of
/// margin is three more pages a sweep.
const SHOWN_MARGIN: SignedDuration = SignedDuration::from_millis(10);
/// A call the list has not shown for this long is looked at alone: a call still queued may
/// have no `start_time` yet and so fall outside `from_date` (CONTRACT A.3).
const UNLISTED_GRACE: Duration = Duration::from_secs(5);
/// A call the vendor answers 404 for is given this long to appear (a fresh call may 404 for a
/// moment, CONTRACT A.2), and at most the longest a call may take; then it is settled unknown.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(120);
/// The longest wait between sweeps while an end is likely within it (or a call has outlived
/// every length learned): an end is then noticed within it, about half of it on average. For
/// calls shorter than twice this, half the usual call's length.
const LIKELY_GAP: Duration = Duration::from_secs(4);
/// An end counts as likely within the likely gap when this many are expected in it.
const LIKELY: f64 = 0.05;
/// A sweep is due once this many ends are expected since the last: most sweeps then see one.
const ENDS_PER_SWEEP: f64 = 1.0;
/// The fewest sweeps apart; the reads budget may space them further. Only calls that end at
/// once, under an unpaced budget, come this close: at 10 ms the sweeps held 64 live instant calls
/// to ~3,300 calls/s (16 live: ~1,100/s), at 2 ms the two cores are most of the way to busy
/// (~5,000/s, `end_to_end`).
const MIN_GAP: Duration = Duration::from_millis(2);
/// Lengths needed before they are trusted to time the sweeps.
const LENGTHS_TRUSTED: usize = 4;
/// After a list that failed for a passing reason, the next sweep comes this much later.
const AFTER_FAILED_SWEEP: Duration = Duration::from_secs(1);
/// The longest wait between sweeps while any call is live: a call that ends far sooner than
/// the campaign's usual call frees its slot within this.
const IDLE_GAP: Duration = Duration::from_secs(10);
/// Before any end has been seen, a call is swept at a quarter of its age, within these: calls
/// that end at once are seen at once, a first batch of long calls costs a few dozen sweeps.
const FIRST_GAPS: (Duration, Duration) = (MIN_GAP, LIKELY_GAP);
/// A call the list does not show is looked at alone again after a twentieth of its age, within
/// these.
const LOOK_GAPS: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
/// How many recent call lengths the follower remembers.
const LENGTHS_KEPT: usize = 32;

/// What a followed call's task is told: its terminal state, or why it could not be followed.
pub type Ended = Result<CallState, ApiError>;

/// The handle call tasks register their calls with; cheap to clone.
#[derive(Clone)]
pub struct Follower {
    calls: mpsc::UnboundedSender<Watch>,
    shown: Arc<Shown>,
}

/// What bounds a followed call's `start_time` from below.
#[derive(Clone, Copy, Debug)]
pub struct Dialed {
    /// The call's `dialing` mark on the machine's clock (the one the vendor's `Date` is
    /// compared with).
    pub at: Timestamp,
    /// [`Follower::shown`] read before the call's create was sent; `None` for a call created
    /// by an earlier run.
    pub shown_before: Option<Timestamp>,
}

/// A call to follow, and where to say that it ended.
struct Watch {
    call_id: String,
    dialed: Dialed,
    ended: oneshot::Sender<Ended>,
}

/// The latest `start_time` the lists have shown, epoch milliseconds on the vendor's clock
/// (`i64::MIN` before any): shared, so a call task reads it just before its create leaves.
struct Shown(AtomicI64);

impl Shown {
    fn raise(&self, started: Timestamp) {
        self.0
            .fetch_max(started.as_millisecond(), Ordering::Relaxed);
    }

    fn latest(&self) -> Option<Timestamp> {
        Timestamp::from_millisecond(self.0.load(Ordering::Relaxed)).ok()
    }
}

impl Follower {
    /// Starts the follower's task. It ends by itself once every handle is dropped and no call
    /// is followed.
    pub fn start(api: Synthflow, agent: String, pacer: Arc<Pacer>, max_call: Duration) -> Self {
        let (calls, registered) = mpsc::unbounded_channel();
        let shown = Arc::new(Shown(AtomicI64::new(i64::MIN)));
        let sweeper = Sweeper {
            api,
            agent,
            pacer,
            max_call,
            followed: BTreeMap::new(),
            lengths: Lengths::default(),
            next_sweep: None,
            shown: shown.clone(),
            shown_margin: SHOWN_MARGIN,
        };
        tokio::spawn(sweeper.run(registered));
        Follower { calls, shown }
    }

    /// The latest `start_time` any list has shown, on the vendor's clock. Read before a create
    /// is sent, it bounds the new call's `start_time` (the vendor cannot start it before a time
    /// it has already shown), so the sweeps need not list further back.
    pub fn shown(&self) -> Option<Timestamp> {
        self.shown.latest()
    }

    /// Follows `call_id` to its end; the answer comes on the receiver. Dropping the receiver
    /// stops following the call (the run stops).
    pub fn follow(&self, call_id: String, dialed: Dialed) -> oneshot::Receiver<Ended> {
        let (ended, answer) = oneshot::channel();
        let watch = Watch {
            call_id,
            dialed,
            ended,
        };
        // A send fails only once the follower has ended, which drops `ended`: the receiver
        // then reports it, and the call task fails loudly.
        let _ = self.calls.send(watch);
        answer
    }
}

/// A call being followed.
struct Followed {
    dialed: Dialed,
    /// Its `start_time` once a list has shown one.
    started: Option<Timestamp>,
    since: Instant,
    /// The latest sweep that showed the call still live: an end seen later happened after it.
    seen_live: Instant,
    /// The first sweep in a row that did not show the call.
    unlisted_since: Option<Instant>,
    /// When the call may next be looked at alone, once unlisted past the grace.
    next_get: Option<Instant>,
    /// The first 404 in a row for this call.
    not_found_since: Option<Instant>,
    /// Everyone waiting for this call's end: a call can be given twice (a resume's look-up
    /// and its follow racing), and each task that asked is answered.
    ended: Vec<oneshot::Sender<Ended>>,
}

impl Followed {
    /// When the call is due to be looked at alone: never while the list shows it.
    fn look_due(&self) -> Option<Instant> {
        let since = self.unlisted_since?;
        Some((since + UNLISTED_GRACE).max(self.next_get.unwrap_or(since)))
    }

    /// The earliest `start_time` the call can have, on the vendor's clock: its own, or the
    /// latest shown before its create, less `margin`; else its mark moved onto the vendor's
    /// clock by `ahead`, less [`START_MARGIN`].
    fn earliest_start(&self, ahead: SignedDuration, margin: SignedDuration) -> Timestamp {
        let by_mark = self
            .dialed
            .at
            .saturating_add(ahead)
            .and_then(|at| at.saturating_sub(START_MARGIN))
            .unwrap_or(self.dialed.at);
        let shown = self.started.or(self.dialed.shown_before);
        match shown.and_then(|shown| shown.saturating_sub(margin).ok()) {
            Some(by_shown) => by_shown.max(by_mark),
            None => by_mark,
        }
    }
}

struct Sweeper {
    api: Synthflow,
    agent: String,
    pacer: Arc<Pacer>,
    /// `retry.max_call_minutes`: past it a call is looked at once more, then settled unknown.
    max_call: Duration,
    /// By call id: an ordered map, so calls due together are looked at in one order every
    /// time, and a simulation with a seed repeats.
    followed: BTreeMap<String, Followed>,
    /// How long recent calls lasted: when the next ends are likely.
    lengths: Lengths,
    /// When the next sweep is due, while calls are followed.
    next_sweep: Option<Instant>,
    /// The latest `start_time` shown, which call tasks read before their creates.
    shown: Arc<Shown>,
    /// How far the vendor's times are trusted to disagree (see [`SHOWN_MARGIN`]).
    shown_margin: SignedDuration,
}

impl Sweeper {
    async fn run(mut self, mut registered: mpsc::UnboundedReceiver<Watch>) {
        let mut open = true;
        loop {
            self.followed.retain(|_, call| {
                call.ended.retain(|waiting| !waiting.is_closed());
                !call.ended.is_empty()
            });
            if !open && self.followed.is_empty() {
                return;
            }
            let wake = self.next_wake();
            // Biased, so a call registered just as a sweep is due is always taken in first.
            tokio::select! {
                biased;
                watch = registered.recv(), if open => match watch {
                    Some(watch) => self.add(watch),
                    None => open = false,
                },
                () = sleep_until(wake) => self.work().await,
            }
        }
    }

    fn add(&mut self, watch: Watch) {
        let now = Instant::now();
        if let Some(followed) = self.followed.get_mut(&watch.call_id) {
            followed.ended.push(watch.ended);
            return;
        }
        let followed = Followed {
            dialed: watch.dialed,
            started: None,
            since: now,
            seen_live: now,
            unlisted_since: None,
            next_get: None,
            not_found_since: None,
            ended: vec![watch.ended],
        };
        self.followed.insert(watch.call_id, followed);
        let wanted = now + self.lengths.wait(&self.ages(now));
        self.next_sweep = Some(self.next_sweep.map_or(wanted, |due| due.min(wanted)));
    }

    /// The earliest moment something is due: a sweep, a single look, a call past `max_call`.
    fn next_wake(&self) -> Option<Instant> {
        self.followed
            .values()
            .flat_map(|call| {
                let past_max_call = call.since + self.max_call;
                [call.look_due(), Some(past_max_call)]
            })
            .flatten()
            .chain(self.next_sweep)
            .min()
    }

    async fn work(&mut self) {
        let now = Instant::now();
        if self.next_sweep.is_some_and(|due| due <= now) {
            self.sweep().await;
        }
        self.look_at_each().await;
    }

    /// One paged list of the campaign's calls since the earliest live one started; every
    /// followed call it shows ended is answered.
    async fn sweep(&mut self) {
        let since = self.earliest_start();
        let mut shown = HashSet::new();
        let mut offset = 0;
        loop {
            self.pacer.read_turn().await;
            let page = match self.api.calls_page(&self.agent, since, offset).await {
                Ok(page) => page,
                Err(error) => return self.sweep_failed(error),
            };
            let got = page.calls.len();
            offset += got;
            for call in page.calls {
                self.shown_in_list(call, &mut shown);
            }
            if got == 0 || offset >= page.total {
                break;
            }
        }
        let now = Instant::now();
        for (call_id, call) in &mut self.followed {
            if shown.contains(call_id) {
                call.seen_live = now;
                call.unlisted_since = None;
                call.next_get = None;
            } else {
                call.unlisted_since.get_or_insert(now);
            }
        }
        self.next_sweep =
            (!self.followed.is_empty()).then(|| now + self.lengths.wait(&self.ages(now)));
    }

    /// A call a page shows: the time it started is learned, and, if it is ours, that it is
    /// listed and whether it ended.
    fn shown_in_list(&mut self, call: CallInList, shown: &mut HashSet<String>) {
        let started = call.started();
        if let Some(started) = started {
            self.shown.raise(started);
        }
        let Some(followed) = self.followed.get_mut(&call.call_id) else {
            return;
        };
        if let Some(started) = started {
            followed.started = Some(started);
            // A call that started before a time the vendor showed before it was made: the
            // vendor's times disagree by that much.
            let disagree = followed
                .dialed
                .shown_before
                .map(|shown| shown.duration_since(started));
            if let Some(disagree) = disagree.filter(|by| *by > self.shown_margin) {
                self.widen_shown_margin(disagree);
            }
        }
        let call_id = call.call_id.clone();
        let state = call.state();
        if state.is_terminal() {
            self.end(&call_id, Ok(state));
        }
        shown.insert(call_id);
    }

    /// Trusts the vendor's times less: at least `wider`, and at least twice as far as before,
    /// up to [`START_MARGIN`].
    fn widen_shown_margin(&mut self, wider: SignedDuration) {
        let margin = wider.max(self.shown_margin * 2).min(START_MARGIN);
        if margin > self.shown_margin {
            tracing::debug!("the vendor's times disagree: listing {margin:#} further back");
            self.shown_margin = margin;
        }
    }

    /// A list that failed: the account's refusal ends every call's following (the dialer
    /// stops); anything else is passing, and the next sweep comes after the overdue gap.
    fn sweep_failed(&mut self, error: ApiError) {
        if let ApiError::Account { .. } = error {
            for waiting in std::mem::take(&mut self.followed)
                .into_values()
                .flat_map(|call| call.ended)
            {
                let _ = waiting.send(Err(error.clone()));
            }
            return;
        }
        tracing::debug!("listing the campaign's calls: {error}");
        self.next_sweep = Some(Instant::now() + AFTER_FAILED_SWEEP);
    }

    /// Looks alone at each call the list has not shown for the grace, and at each call past
    /// `max_call`.
    async fn look_at_each(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .followed
            .iter()
            .filter(|(_, call)| {
                now >= call.since + self.max_call || call.look_due().is_some_and(|at| now >= at)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if due.iter().any(|id| {
            self.followed[id].unlisted_since.is_some() && self.followed[id].next_get.is_none()
        }) {
            // A call the list should have shown by now did not show: perhaps it started
            // earlier than the vendor's times let the list reach.
            self.widen_shown_margin(self.shown_margin);
        }
        for call_id in due {
            self.look_at(&call_id).await;
        }
    }

    /// `GET /v2/calls/{id}` for one call, and what it means for the call.
    async fn look_at(&mut self, call_id: &str) {
        self.pacer.read_turn().await;
        let answer = self.api.call(call_id).await;
        let Some(call) = self.followed.get_mut(call_id) else {
            return;
        };
        let now = Instant::now();
        let age = now - call.since;
        call.next_get = Some(now + (age / 20).clamp(LOOK_GAPS.0, LOOK_GAPS.1));
        let ended = match answer {
            Ok(state) if state.is_terminal() => Some(Ok(state)),
            Err(e @ ApiError::Account { .. }) => Some(Err(e)),
            Ok(state) if age >= self.max_call => Some(Ok(CallState::unknown(format!(
                "still `{}` after {:#} (retry.max_call_minutes); its outcome is not known",
                state.status,
                whole_seconds(self.max_call)
            )))),
            Ok(_) => {
                call.not_found_since = None;
                None
            }
            Err(e) if e.is_not_found() => {
                let since = *call.not_found_since.get_or_insert(now);
                (now - since >= NOT_FOUND_GRACE.min(self.max_call) || age >= self.max_call).then(
                    || {
                        let why = format!(
                            "the API has answered 404 for call {call_id} for {:#}",
                            whole_seconds(now - since)
                        );
                        Ok(CallState::unknown(why))
                    },
                )
            }
            Err(e) if age >= self.max_call => Some(Ok(CallState::unknown(format!(
                "no terminal status after {:#} (retry.max_call_minutes); last look: {e}",
                whole_seconds(self.max_call)
            )))),
            // A passing fault: looked at again later.
            Err(e) => {
                tracing::debug!("looking at call {call_id}: {e}");
                None
            }
        };
        if let Some(ended) = ended {
            self.end(call_id, ended);
        }
    }

    /// Answers a call's task and stops following it; a call that really ended teaches its length.
    fn end(&mut self, call_id: &str, ended: Ended) {
        let Some(call) = self.followed.remove(call_id) else {
            return;
        };
        if ended.as_ref().is_ok_and(|state| state.is_terminal()) {
            // The end fell between the last sweep that saw the call live and now.
            let seen_ended = call.since.elapsed();
            self.lengths
                .learn((call.seen_live - call.since + seen_ended) / 2);
        }
        // A task may have stopped waiting (the run stops): nothing to tell it then.
        for waiting in call.ended {
            let _ = waiting.send(ended.clone());
        }
    }

    /// The ages of the calls followed, at `now`.
    fn ages(&self, now: Instant) -> Vec<Duration> {
        self.followed
            .values()
            .map(|call| now - call.since)
            .collect()
    }

    /// The earliest `start_time` a live call can have, on the vendor's clock.
    fn earliest_start(&self) -> Timestamp {
        let ahead = SignedDuration::from_millis(self.api.clock_ahead_ms().unwrap_or(0));
        self.followed
            .values()
            .map(|call| call.earliest_start(ahead, self.shown_margin))
            .min()
            .unwrap_or_else(Timestamp::now)
    }
}

/// The lengths of recently ended calls, as far as the sweeps could tell (the middle of the
/// time between the last sweep that saw a call live and the one that saw it ended).
#[derive(Default)]
struct Lengths(VecDeque<Duration>);

impl Lengths {
    fn learn(&mut self, length: Duration) {
        if self.0.len() == LENGTHS_KEPT {
            self.0.pop_front();
        }
        self.0.push_back(length);
    }

    /// How long to wait for the next sweep, for live calls of these `ages`. Each call is
    /// expected to end as the learned lengths longer than its age say (each equally likely):
    /// the sweep comes once [`ENDS_PER_SWEEP`] ends are expected, within the likely gap
    /// ([`LIKELY_GAP`], or half the usual length) if an end is likely in it at all, else within
    /// [`IDLE_GAP`].
    fn wait(&self, ages: &[Duration]) -> Duration {
        if self.0.len() < LENGTHS_TRUSTED {
            let first = ages
                .iter()
                .map(|age| (*age / 4).clamp(FIRST_GAPS.0, FIRST_GAPS.1));
            return first.min().unwrap_or(IDLE_GAP);
        }
        let mut lengths: Vec<Duration> = self.0.iter().copied().collect();
        lengths.sort_unstable();
        let likely_gap = (lengths[lengths.len() / 2] / 2).clamp(MIN_GAP, LIKELY_GAP);
        let (ends, outlived) = Ends::of(&lengths, ages);
        let mut expected = 0.0;
        let mut wait = IDLE_GAP;
        let mut likely_soon = outlived;
        for (at, share) in ends {
            expected += share;
            likely_soon |= at <= likely_gap && expected >= LIKELY;
            // Shares such as 1/3 do not add up to 1 exactly.
            if expected >= ENDS_PER_SWEEP - 1e-9 {
                wait = at;
                break;
            }
        }
        if likely_soon {
            wait = wait.min(likely_gap);
        }
        wait.clamp(MIN_GAP, IDLE_GAP)
    }
}

/// The moments live calls may end, soonest first, each with its share of an end: a merge of
/// each call's own run (the learned lengths longer than its age, already in order), so reading
/// the first few costs a few steps, not a sort of every call's every length.
struct Ends<'a> {
    lengths: &'a [Duration],
    /// Each call with lengths left: its age, and its share of an end at each of them.
    calls: Vec<(Duration, f64)>,
    /// For each of those calls: (its next end's wait, the call, the index of that length), the
    /// soonest on top.
    next: BinaryHeap<Reverse<(Duration, usize, usize)>>,
}

impl<'a> Ends<'a> {
    /// The ends of calls of `ages`, given sorted `lengths`; and whether any call has outlived
    /// every length.
    fn of(lengths: &'a [Duration], ages: &[Duration]) -> (Ends<'a>, bool) {
        let mut ends = Ends {
            lengths,
            calls: Vec::with_capacity(ages.len()),
            next: BinaryHeap::with_capacity(ages.len()),
        };
        let mut outlived = false;
        for &age in ages {
            let first = lengths.partition_point(|length| *length <= age);
            let Some(length) = lengths.get(first) else {
                outlived = true;
                continue;
            };
            let call = ends.calls.len();
            ends.calls.push((age, 1.0 / (lengths.len() - first) as f64));
            ends.next.push(Reverse((*length - age, call, first)));
        }
        (ends, outlived)
    }
}

impl Iterator for Ends<'_> {
    type Item = (Duration, f64);

    fn next(&mut self) -> Option<(Duration, f64)> {
        let Reverse((wait, call, index)) = self.next.pop()?;
        let (age, share) = self.calls[call];
        if let Some(length) = self.lengths.get(index + 1) {
            self.next.push(Reverse((*length - age, call, index + 1)));
        }
        Some((wait, share))
    }
}

/// A duration as jiff prints it (`3s`, `30m`), to the second.
fn whole_seconds(wait: Duration) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX))
}

/// Sleeps until `wake`, or for ever without one.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn followed(dialed: Dialed, started: Option<Timestamp>) -> Followed {
        let now = Instant::now();
        Followed {
            dialed,
            started,
            since: now,
            seen_live: now,
            unlisted_since: None,
            next_get: None,
            not_found_since: None,
            ended: Vec::new(),
        }
    }

    /// A call's `start_time` is bounded by the latest of what is known: its own once listed,
    /// else the latest shown before its create, less the margin; never later than its mark
    /// moved onto the vendor's clock less [`START_MARGIN`] allows, and that alone without them.
    #[test]
    fn a_calls_start_is_bounded_by_the_vendors_own_times() {
        let at = |ms: i64| Timestamp::from_millisecond(1_700_000_000_000 + ms).unwrap();
        let ms = SignedDuration::from_millis;
        let margin = ms(100);
        let ahead = ms(-700);
        let created_earlier = Dialed {
            at: at(0),
            shown_before: None,
        };
        let by_mark = at(-700 - 2_000);
        let earliest = |call: &Followed| call.earliest_start(ahead, margin);
        assert_eq!(earliest(&followed(created_earlier, None)), by_mark);
        let created_now = Dialed {
            shown_before: Some(at(-1_000)),
            ..created_earlier
        };
        assert_eq!(earliest(&followed(created_now, None)), at(-1_100));
        assert_eq!(
            earliest(&followed(created_now, Some(at(-650)))),
            at(-750),
            "its own start, once listed, is the latest bound"
        );
        let shown_long_before = Dialed {
            shown_before: Some(at(-60_000)),
            ..created_earlier
        };
        assert_eq!(
            earliest(&followed(shown_long_before, None)),
            by_mark,
            "a time shown long before the mark bounds less than the mark"
        );
        let at_the_edge = Dialed {
            shown_before: Some(Timestamp::MIN),
            ..created_earlier
        };
        assert_eq!(earliest(&followed(at_the_edge, None)), by_mark);
    }

    /// Every call's every end, sorted whole: what [`Ends`] replaced.
    fn ends_by_sorting(lengths: &[Duration], ages: &[Duration]) -> (Vec<(Duration, f64)>, bool) {
        let mut ends = Vec::new();
        let mut outlived = false;
        for &age in ages {
            let longer = &lengths[lengths.partition_point(|length| *length <= age)..];
            outlived |= longer.is_empty();
            let share = 1.0 / longer.len().max(1) as f64;
            ends.extend(longer.iter().map(|length| (*length - age, share)));
        }
        ends.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        (ends, outlived)
    }

    proptest::proptest! {
        /// The merge yields every call's every end, soonest first, with its share: the same
        /// ends a whole sort gives (ties, of equal wait, may come in another order), so the
        /// sweeps are timed as before. Lengths and ages are drawn from a few values, so ties
        /// and calls past every length are common.
        #[test]
        fn the_merge_yields_the_ends_a_whole_sort_gives(
            mut lengths in proptest::collection::vec(0u64..40, 1..=LENGTHS_KEPT),
            ages in proptest::collection::vec(0u64..45, 0..80),
        ) {
            let lengths: Vec<Duration> = {
                lengths.sort_unstable();
                lengths.into_iter().map(|l| Duration::from_millis(l * 250)).collect()
            };
            let ages: Vec<Duration> = ages.into_iter().map(|a| Duration::from_millis(a * 250)).collect();
            let (merged, outlived) = Ends::of(&lengths, &ages);
            let mut merged: Vec<(Duration, f64)> = merged.collect();
            proptest::prop_assert!(merged.is_sorted_by_key(|(wait, _)| *wait));
            merged.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let (sorted, outlived_too) = ends_by_sorting(&lengths, &ages);
            proptest::prop_assert_eq!(merged, sorted);
            proptest::prop_assert_eq!(outlived, outlived_too);
        }
    }

    fn learned(lengths: &[u64]) -> Lengths {
        let mut learned = Lengths::default();
        for length in lengths {
            learned.learn(Duration::from_secs(*length));
        }
        learned
    }

    /// Before ends are learned, sweeps thin out as calls age; with calls of one length, the
    /// sweep comes as the first live call reaches it; with calls of uneven length, at most
    /// [`LIKELY_GAP`] apart while an end is likely, and [`IDLE_GAP`] while none is.
    #[test]
    fn sweeps_come_when_ends_are_likely() {
        let s = Duration::from_secs;
        let unknown = Lengths::default();
        assert_eq!(unknown.wait(&[Duration::ZERO]), FIRST_GAPS.0);
        assert_eq!(unknown.wait(&[s(8), s(100)]), s(2));
        assert_eq!(unknown.wait(&[]), IDLE_GAP);

        let even = learned(&[60; 8]);
        assert_eq!(even.wait(&[s(10), s(52), s(30)]), s(8));
        assert_eq!(even.wait(&[s(1)]), IDLE_GAP);
        assert_eq!(even.wait(&[s(61)]), LIKELY_GAP, "outlived every length");

        let uneven = learned(&[50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70]);
        assert_eq!(uneven.wait(&[s(55)]), LIKELY_GAP);
        assert_eq!(uneven.wait(&[s(5)]), IDLE_GAP);
        // Ten calls near their end: about one end is expected within a second.
        let near: Vec<Duration> = (0..10).map(|_| s(67)).collect();
        assert_eq!(uneven.wait(&near), s(1));

        let short = learned(&[1; 8]);
        assert_eq!(
            short.wait(&[s(3)]),
            Duration::from_millis(500),
            "a call past short calls' length is swept at half their length"
        );
    }
}
