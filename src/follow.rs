//! Following live calls in bulk. One task, the follower, reads the status of every live call of
//! the campaign from one paged `GET /v2/calls?model_id=…&from_date=…` per sweep, and tells each
//! call's task when its call has ended; a call the list does not show is looked at alone
//! (`GET /v2/calls/{id}`) once a grace has passed. Every read waits for its turn in the reads
//! budget (`pacing.reads_per_second`), a limiter apart from the create schedule.
//!
//! Sweeps come when a live call is likely to have ended: the follower learns how long the
//! campaign's calls last (a low quantile of the ends it has seen) and sweeps as a call reaches
//! that age, then again, less often the longer it stays live ([`OVERDUE_GAPS`]); before it
//! knows, a call's sweeps come more sparsely as it ages. One sweep serves every live call, so most sweeps see one end.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, oneshot};

use crate::api::{ApiError, CallState, Synthflow};
use crate::pacing::Pacer;

/// The list is asked for calls that started this long before the earliest live call's
/// `dialing` mark (moved onto the vendor's clock): its `Date` header has whole seconds and
/// clocks drift. Kept short, as every call started in it is listed (at 100 calls/s, 2 s are two
/// pages); a call the margin misses is not lost: it is looked at alone.
const START_MARGIN: SignedDuration = SignedDuration::from_secs(2);
/// A call the list has not shown for this long is looked at alone: a call still queued may
/// have no `start_time` yet and so fall outside `from_date` (CONTRACT A.3).
const UNLISTED_GRACE: Duration = Duration::from_secs(5);
/// A call the vendor answers 404 for is given this long to appear (a fresh call may 404 for a
/// moment, CONTRACT A.2), and at most the longest a call may take; then it is settled unknown.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(120);
/// Between sweeps while a call is past the age calls usually end at: half the time it has been
/// overdue, within these. Soon after the usual age an end is likely and worth a quick look;
/// calls of uneven length stay overdue longer, and a sweep a second for each would cost more
/// reads than calls.
const OVERDUE_GAPS: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(4));
/// After a list that failed for a passing reason, the next sweep comes this much later.
const AFTER_FAILED_SWEEP: Duration = Duration::from_secs(1);
/// The longest wait between sweeps while any call is live: a call that ends far sooner than
/// the campaign's usual call frees its slot within this.
const IDLE_GAP: Duration = Duration::from_secs(10);
/// Before any end has been seen, a call is swept at a quarter of its age, within these: calls
/// that end at once are seen at once, a first batch of long calls costs a few dozen sweeps.
const FIRST_GAPS: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(4));
/// A call the list does not show is looked at alone again after a twentieth of its age, within
/// these.
const LOOK_GAPS: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(5));
/// How many recent call lengths the follower remembers to learn the usual one.
const LENGTHS_KEPT: usize = 32;

/// What a followed call's task is told: its terminal state, or why it could not be followed.
pub type Ended = Result<CallState, ApiError>;

/// The handle call tasks register their calls with; cheap to clone.
#[derive(Clone)]
pub struct Follower {
    calls: mpsc::UnboundedSender<Watch>,
}

/// A call to follow, and where to say that it ended.
struct Watch {
    call_id: String,
    /// The call's `dialing` mark on the machine's clock (the one the vendor's `Date` is
    /// compared with).
    dialed_at: Timestamp,
    ended: oneshot::Sender<Ended>,
}

impl Follower {
    /// Starts the follower's task. It ends by itself once every handle is dropped and no call
    /// is followed.
    pub fn start(api: Synthflow, agent: String, pacer: Arc<Pacer>, max_call: Duration) -> Self {
        let (calls, registered) = mpsc::unbounded_channel();
        let sweeper = Sweeper {
            api,
            agent,
            pacer,
            max_call,
            followed: HashMap::new(),
            lengths: VecDeque::new(),
        };
        tokio::spawn(sweeper.run(registered));
        Follower { calls }
    }

    /// Follows `call_id` to its end; the answer comes on the receiver. Dropping the receiver
    /// stops following the call (the run stops).
    pub fn follow(&self, call_id: String, dialed_at: Timestamp) -> oneshot::Receiver<Ended> {
        let (ended, answer) = oneshot::channel();
        let watch = Watch {
            call_id,
            dialed_at,
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
    dialed_at: Timestamp,
    since: Instant,
    /// When the next sweep is wanted for this call.
    next_sweep: Instant,
    /// The latest sweep that showed the call still live: an end seen later happened after it.
    seen_live: Instant,
    /// The first sweep in a row that did not show the call.
    unlisted_since: Option<Instant>,
    /// When the call may next be looked at alone, once unlisted past the grace.
    next_get: Option<Instant>,
    /// The first 404 in a row for this call.
    not_found_since: Option<Instant>,
    ended: oneshot::Sender<Ended>,
}

impl Followed {
    /// When the call is due to be looked at alone: never while the list shows it.
    fn look_due(&self) -> Option<Instant> {
        let since = self.unlisted_since?;
        Some((since + UNLISTED_GRACE).max(self.next_get.unwrap_or(since)))
    }
}

struct Sweeper {
    api: Synthflow,
    agent: String,
    pacer: Arc<Pacer>,
    /// `retry.max_call_minutes`: past it a call is looked at once more, then settled unknown.
    max_call: Duration,
    followed: HashMap<String, Followed>,
    /// The lengths of recently ended calls, as far as the sweeps could tell.
    lengths: VecDeque<Duration>,
}

impl Sweeper {
    async fn run(mut self, mut registered: mpsc::UnboundedReceiver<Watch>) {
        let mut open = true;
        loop {
            self.followed.retain(|_, call| !call.ended.is_closed());
            if !open && self.followed.is_empty() {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
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
        let followed = Followed {
            dialed_at: watch.dialed_at,
            since: now,
            next_sweep: now + self.gap(Duration::ZERO),
            seen_live: now,
            unlisted_since: None,
            next_get: None,
            not_found_since: None,
            ended: watch.ended,
        };
        self.followed.insert(watch.call_id, followed);
    }

    /// The earliest moment something is due: a sweep, a single look, a call past `max_call`.
    fn next_wake(&self) -> Option<Instant> {
        self.followed
            .values()
            .flat_map(|call| {
                let past_max_call = call.since + self.max_call;
                [Some(call.next_sweep), call.look_due(), Some(past_max_call)]
            })
            .flatten()
            .min()
    }

    async fn work(&mut self) {
        let now = Instant::now();
        if self.followed.values().any(|call| call.next_sweep <= now) {
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
                shown.insert(call.call_id.clone());
                let state = call.clone().state();
                if state.is_terminal() {
                    self.end(&call.call_id, Ok(state));
                }
            }
            if got == 0 || offset >= page.total {
                break;
            }
        }
        let now = Instant::now();
        let learned = self.usual_length();
        for (call_id, call) in &mut self.followed {
            if shown.contains(call_id) {
                call.seen_live = now;
                call.unlisted_since = None;
                call.next_get = None;
            } else {
                call.unlisted_since.get_or_insert(now);
            }
            call.next_sweep = now + gap(learned, now - call.since);
        }
    }

    /// A list that failed: the account's refusal ends every call's following (the dialer
    /// stops); anything else is passing, and the next sweep comes after the overdue gap.
    fn sweep_failed(&mut self, error: ApiError) {
        if let ApiError::Account { .. } = error {
            for (_, call) in self.followed.drain() {
                let _ = call.ended.send(Err(error.clone()));
            }
            return;
        }
        tracing::debug!("listing the campaign's calls: {error}");
        let next = Instant::now() + AFTER_FAILED_SWEEP;
        for call in self.followed.values_mut() {
            call.next_sweep = call.next_sweep.max(next);
        }
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
            let length = (call.seen_live - call.since + seen_ended) / 2;
            if self.lengths.len() == LENGTHS_KEPT {
                self.lengths.pop_front();
            }
            self.lengths.push_back(length);
        }
        // The task may have stopped waiting (the run stops): nothing to tell then.
        let _ = call.ended.send(ended);
    }

    /// The length most recent calls last at least (their tenth percentile), once ends are seen.
    fn usual_length(&self) -> Option<Duration> {
        let mut lengths: Vec<Duration> = self.lengths.iter().copied().collect();
        lengths.sort_unstable();
        lengths.get(lengths.len() / 10).copied()
    }

    fn gap(&self, age: Duration) -> Duration {
        gap(self.usual_length(), age)
    }

    /// The earliest `start_time` a live call can have, on the vendor's clock.
    fn earliest_start(&self) -> Timestamp {
        let earliest = self
            .followed
            .values()
            .map(|call| call.dialed_at)
            .min()
            .unwrap_or_else(Timestamp::now);
        let ahead = SignedDuration::from_millis(self.api.clock_ahead_ms().unwrap_or(0));
        earliest
            .saturating_add(ahead)
            .and_then(|at| at.saturating_sub(START_MARGIN))
            .unwrap_or(earliest)
    }
}

/// How long after a sweep the next one is wanted for a call of `age`, given the usual length
/// of the campaign's calls when it is known.
fn gap(usual: Option<Duration>, age: Duration) -> Duration {
    match usual {
        Some(usual) if age < usual => (usual - age).min(IDLE_GAP),
        Some(usual) => ((age - usual) / 2).clamp(OVERDUE_GAPS.0, OVERDUE_GAPS.1),
        None => (age / 4).clamp(FIRST_GAPS.0, FIRST_GAPS.1),
    }
}

/// A duration as jiff prints it (`3s`, `30m`), to the second.
fn whole_seconds(wait: Duration) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX))
}

/// Sleeps until `wake`, or for ever without one.
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Before any end is seen, sweeps thin out as a call ages; once the usual length is known,
    /// the next sweep comes as the call reaches it, then ever less often while it stays live.
    #[test]
    fn sweeps_come_when_a_call_is_likely_to_have_ended() {
        let s = Duration::from_secs;
        assert_eq!(gap(None, Duration::ZERO), FIRST_GAPS.0);
        assert_eq!(gap(None, s(8)), s(2));
        assert_eq!(gap(None, s(600)), FIRST_GAPS.1);
        assert_eq!(gap(Some(s(60)), s(55)), s(5));
        assert_eq!(gap(Some(s(60)), s(1)), IDLE_GAP);
        assert_eq!(gap(Some(s(60)), s(60)), OVERDUE_GAPS.0);
        assert_eq!(gap(Some(s(60)), s(62)), s(1));
        assert_eq!(gap(Some(s(60)), s(90)), OVERDUE_GAPS.1);
    }
}
