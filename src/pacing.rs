//! Pacing: how fast calls are created and how many create requests are in flight.
//!
//! The rate is an absolute schedule (governor's GCRA: call *n* is due at `start + n/rate`, burst 1),
//! so a slow request never lets drift accumulate, and a bound on concurrency is a separate concern:
//! a semaphore whose permits travel with each request. On top sits the account's own voice: a 429
//! pauses every start (for `Retry-After`, else an exponential backoff with jitter) and slows the
//! pace, which then recovers step by step as calls are accepted again.
//!
//! Campaigns run by one process on one account share one pacer (see [`crate::budget`]): the
//! account's schedule, live calls and 429s are the account's, whoever dials. Their turns are
//! handed out by weight ([`Turns`]).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

use crate::campaign::Pacing;
use crate::store::ledger::{AccountLedger, HeldLease};

/// The first backoff after a 429 without `Retry-After` is between this and twice it (backon's
/// jitter adds up to the delay itself); it doubles with each further 429.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Our own backoff never pauses longer than this. A server's `Retry-After` is honoured as
/// given, up to the API edge's own bound ([`crate::api::MAX_RETRY_AFTER`], 10 min).
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The most a create request's spacing adds to the interval for the network's jitter. Calls
/// freed together (one sweep sees several ends) leave back to back at the full rate, so an
/// account counting starts in any sliding second sees three of them span two gaps: 1% (5 ms at
/// 2/s) was less than a loaded machine's jitter.
const MAX_SEND_MARGIN: Duration = Duration::from_millis(25);

/// governor's clock on the runtime's time (tokio's `Instant`) rather than the machine's, so
/// the schedule follows the virtual clock under `simulate` as it follows real time in a run.
#[derive(Debug, Clone)]
struct RuntimeClock {
    origin: Instant,
}

impl governor::clock::Clock for RuntimeClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A GCRA schedule on the runtime's clock.
type Schedule = RateLimiter<NotKeyed, InMemoryState, RuntimeClock, NoOpMiddleware<Duration>>;

/// A schedule of one turn per `interval`, burst 1, starting now.
fn schedule(interval: Duration) -> Schedule {
    let quota = Quota::with_period(interval)
        .expect("a rate's interval is never zero")
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::direct_with_clock(
        quota,
        RuntimeClock {
            origin: Instant::now(),
        },
    )
}

/// Waits for `schedule`'s next turn on the runtime's timer (governor's own waiting sleeps on
/// the machine's clock).
async fn turn(schedule: &Schedule) {
    use governor::clock::Clock;
    while let Err(not_until) = schedule.check() {
        tokio::time::sleep(not_until.wait_time_from(schedule.clock().now())).await;
    }
}

/// Hands out the right to start one create request.
pub struct Pacer {
    schedule: Schedule,
    /// One permit per live call (`max_live_calls`): taken before the create request, given back
    /// when the call's terminal status is seen.
    slots: Arc<Semaphore>,
    /// The budget of status reads (list pages, single gets; `pacing.reads_per_second`): a
    /// limiter of its own, so that following calls never takes a turn from a create.
    reads: Schedule,
    /// The configured interval between starts: the unit the slow-down is counted in.
    interval: Duration,
    /// When the latest create request may leave (reserved in turn): the schedule above spaces
    /// the *decisions*, but a request leaves only once its mark is on disk, and fsyncs take
    /// uneven time; this keeps the requests themselves spaced, as the account counts them.
    next_send: Mutex<Option<Instant>>,
    throttle: Mutex<Throttle>,
    /// Which of the campaigns sharing the pacer takes the next turn.
    turns: Turns,
    /// The account's limits as the shared store keeps them for every process on the account,
    /// on top of this process's own; `None` without a store.
    shared: Option<SharedSlots>,
    /// A slot whose call was never sent (the shared store refused its caller ID), handed to the
    /// next start rather than thrown away with the turn it waited for and the lease it holds.
    spare: Mutex<Option<Slot>>,
}

/// Live-call leases from the shared store, fetched by a task of their own; the account's start
/// turns are booked as each request leaves (see [`Pacer::send_turn`]).
///
/// Why a task: a lease taken is the taker's until given back. The dialer's wait for a slot is
/// cancelled whenever something else happens first (a call ends, a report comes in) and asked
/// again at once; a lease taken inside that wait would be given back and taken again each
/// time, a round trip or two to the store for nothing. The task takes a lease only when asked
/// and keeps it until someone takes it, so a cancelled wait loses nothing.
struct SharedSlots {
    ledger: Arc<AccountLedger>,
    wanted: Arc<Notify>,
    ready: tokio::sync::Mutex<mpsc::Receiver<HeldLease>>,
}

/// A campaign among those sharing a pacer, and its weight in the share of turns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sharer {
    pub campaign: usize,
    pub weight: f64,
}

/// Start-time fair queueing of the turns among campaigns: a waiting campaign's tag is where its
/// last turn left it, but never behind the turn served last (an idle campaign saves up no
/// credit); the lowest tag goes first (ties by campaign), and each turn moves its campaign on by
/// 1/weight. Over any stretch in which they all wait, campaigns get turns in proportion to their
/// weights; a campaign with nothing to dial leaves its turns to the others. Only the first in
/// line waits for a live slot and the schedule, so the live-call bound is shared the same way.
#[derive(Default)]
struct Turns {
    line: Mutex<Line>,
    changed: Notify,
}

#[derive(Default)]
struct Line {
    /// The tag of the turn served last.
    served: f64,
    /// Each campaign's tag for its next turn.
    next: HashMap<usize, f64>,
    /// Who waits: ticket, campaign, tag.
    waiting: Vec<(u64, usize, f64)>,
    tickets: u64,
}

/// A place in line; leaving it (served or given up) lets the next one go.
struct Place<'a> {
    turns: &'a Turns,
    ticket: u64,
}

impl Turns {
    fn line(&self) -> MutexGuard<'_, Line> {
        self.line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn enter(&self, who: Sharer) -> Place<'_> {
        let mut line = self.line();
        let tag = line.next.get(&who.campaign).copied().unwrap_or(0.0);
        let tag = tag.max(line.served);
        line.tickets += 1;
        let ticket = line.tickets;
        line.waiting.push((ticket, who.campaign, tag));
        Place {
            turns: self,
            ticket,
        }
    }

    /// Waits until `place` is first in line.
    async fn first(&self, place: &Place<'_>) {
        loop {
            let changed = self.changed.notified();
            let first = {
                let line = self.line();
                let lowest = line
                    .waiting
                    .iter()
                    .min_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)));
                lowest.is_some_and(|(ticket, ..)| *ticket == place.ticket)
            };
            if first {
                return;
            }
            changed.await;
        }
    }

    /// `place` took its turn: its campaign moves on by 1/weight.
    fn served(&self, place: &Place<'_>, weight: f64) {
        let mut line = self.line();
        let Some(&(_, campaign, tag)) = line.waiting.iter().find(|w| w.0 == place.ticket) else {
            return;
        };
        line.served = line.served.max(tag);
        line.next.insert(campaign, tag + 1.0 / weight);
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.turns.line().waiting.retain(|w| w.0 != self.ticket);
        self.turns.changed.notify_waiters();
    }
}

impl SharedSlots {
    /// The next lease whose start turn has come. Cancel-safe: what the task fetched stays
    /// in the channel for the next ask.
    async fn next(&self) -> HeldLease {
        let mut ready = self.ready.lock().await;
        if let Ok(lease) = ready.try_recv() {
            return lease;
        }
        self.wanted.notify_one();
        ready
            .recv()
            .await
            .expect("the fetching task lives as long as the pacer")
    }
}

/// Fetches one lease each time one is wanted, until the pacer is gone.
async fn fetch_shared_slots(
    ledger: Arc<AccountLedger>,
    wanted: Arc<Notify>,
    deliver: mpsc::Sender<HeldLease>,
) {
    loop {
        tokio::select! {
            () = wanted.notified() => {}
            () = deliver.closed() => return,
        }
        let lease = ledger.lease().await;
        if deliver.send(lease).await.is_err() {
            return;
        }
    }
}

/// What 429s have taught: a pause before any start, and an extra gap between starts.
#[derive(Debug, Default)]
struct Throttle {
    paused_until: Option<Instant>,
    /// The exponential backoff of the current run of 429s (backon), `None` once a call is
    /// accepted: the next 429 starts again from [`FIRST_BACKOFF`].
    backoff: Option<backon::ExponentialBackoff>,
    /// Added to the schedule's interval; doubles on a 429, shrinks on each accepted call.
    extra_gap: Duration,
    last_start: Option<Instant>,
}

/// The right to have one call live; dropping it frees the slot (and the store's lease).
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    _lease: Option<HeldLease>,
}

impl Pacer {
    pub fn new(pacing: &Pacing) -> Pacer {
        let interval = pacing.calls_per_second.interval();
        Pacer {
            schedule: schedule(interval),
            slots: Arc::new(Semaphore::new(pacing.max_live_calls.get() as usize)),
            reads: schedule(pacing.reads_per_second.interval()),
            interval,
            next_send: Mutex::new(None),
            throttle: Mutex::new(Throttle::default()),
            turns: Turns::default(),
            shared: None,
            spare: Mutex::new(None),
        }
    }

    /// A pacer whose starts and live calls also count in the shared store's `ledger`, against
    /// the account's limits over every process. Made inside the runtime (it starts a task).
    pub fn sharing(pacing: &Pacing, ledger: Arc<AccountLedger>) -> Pacer {
        let wanted = Arc::new(Notify::new());
        let (deliver, ready) = mpsc::channel(1);
        tokio::spawn(fetch_shared_slots(
            Arc::clone(&ledger),
            Arc::clone(&wanted),
            deliver,
        ));
        Pacer {
            shared: Some(SharedSlots {
                ledger,
                wanted,
                ready: tokio::sync::Mutex::new(ready),
            }),
            ..Pacer::new(pacing)
        }
    }

    /// Waits for `who`'s turn among the campaigns sharing the pacer, then for a free slot, then
    /// for the schedule. Cancel-safe: dropping the future takes nothing, and gives up the turn.
    pub async fn slot(&self, who: Sharer) -> Slot {
        let place = self.turns.enter(who);
        self.turns.first(&place).await;
        let slot = self.free_slot().await;
        self.turns.served(&place, who.weight);
        slot
    }

    /// A slot that went unused: the next start takes it, with its live slot and its turn.
    pub fn give_back(&self, slot: Slot) {
        *self
            .spare
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(slot);
    }

    /// A spare slot, or a free slot once the schedule's turn has come.
    async fn free_slot(&self) -> Slot {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(slot) = spare {
            return slot;
        }
        let permit = self.permit().await;
        loop {
            let wait_until = self.throttle().earliest_start();
            match wait_until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        turn(&self.schedule).await;
        let lease = match &self.shared {
            Some(shared) => Some(shared.next().await),
            None => None,
        };
        self.throttle().last_start = Some(Instant::now());
        Slot {
            _permit: permit,
            _lease: lease,
        }
    }

    /// Waits until this create request may leave: at least one interval (and 5%, up to
    /// [`MAX_SEND_MARGIN`], for the network's jitter) after the previous one, and, with a
    /// shared store, at the start the account's schedule books for it. Turns are reserved in
    /// order, so concurrent requests queue rather than race.
    ///
    /// The store's start is booked here, as the request leaves, not with the slot: between the
    /// two lie the `dialing` mark's fsync and the caller ID's check, whose time varies, and a
    /// start booked earlier would leave late by that much, closer to another process's next.
    pub async fn send_turn(&self) {
        self.local_send_turn().await;
        if let Some(shared) = &self.shared {
            shared.ledger.start_turn().await;
        }
    }

    async fn local_send_turn(&self) {
        let gap = self.interval + (self.interval / 20).min(MAX_SEND_MARGIN);
        let turn = {
            let mut next = self
                .next_send
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let turn = next.map_or(now, |at| at.max(now));
            *next = Some(turn + gap);
            turn
        };
        tokio::time::sleep_until(turn).await;
    }

    /// One of this process's live slots.
    async fn permit(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// A live slot for a call that already exists (found on resume): no place in the schedule.
    pub async fn live_slot(&self) -> Slot {
        let permit = self.permit().await;
        let lease = match &self.shared {
            Some(shared) => Some(shared.ledger.lease().await),
            None => None,
        };
        Slot {
            _permit: permit,
            _lease: lease,
        }
    }

    /// Waits for the turn of one status read.
    pub async fn read_turn(&self) {
        turn(&self.reads).await;
    }

    /// The API answered 429: pause every start (for `Retry-After`, bounded by the API edge,
    /// else our backoff) and slow the pace. Returns the pause.
    pub fn rate_limited(&self, retry_after: Option<Duration>) -> Duration {
        let mut throttle = self.throttle();
        let ours = throttle.next_backoff();
        let pause = retry_after
            .map(|asked| asked.min(crate::api::MAX_RETRY_AFTER))
            .unwrap_or(ours);
        let until = Instant::now() + pause;
        throttle.paused_until = Some(throttle.paused_until.map_or(until, |p| p.max(until)));
        throttle.extra_gap = (throttle.extra_gap * 2).max(self.interval).min(MAX_BACKOFF);
        pause
    }

    /// A call was accepted: the backoff resets and the extra gap shrinks by a quarter.
    pub fn accepted(&self) {
        let mut throttle = self.throttle();
        throttle.backoff = None;
        throttle.extra_gap = throttle.extra_gap.mul_f64(0.75);
        if throttle.extra_gap < self.interval / 8 {
            throttle.extra_gap = Duration::ZERO;
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Throttle {
    /// The pause after one more 429: from [`FIRST_BACKOFF`], doubling, with jitter so that many
    /// clients do not retry in step, never past [`MAX_BACKOFF`] (the cap is half of it, as the
    /// jitter may add as much again).
    fn next_backoff(&mut self) -> Duration {
        use backon::BackoffBuilder;
        self.backoff
            .get_or_insert_with(|| {
                backon::ExponentialBuilder::new()
                    .with_min_delay(FIRST_BACKOFF)
                    .with_max_delay(MAX_BACKOFF / 2)
                    .with_factor(2.0)
                    .with_jitter()
                    .without_max_times()
                    .build()
            })
            .next()
            .unwrap_or(MAX_BACKOFF)
    }

    /// The earliest instant the next start may happen, if the throttle holds it back at all.
    fn earliest_start(&self) -> Option<Instant> {
        let after_gap = self
            .last_start
            .filter(|_| !self.extra_gap.is_zero())
            .map(|t| t + self.extra_gap);
        match (self.paused_until, after_gap) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backoff grows exponentially from its first pause, stays within its jitter band (the delay
    /// plus up to as much again), never passes the cap, and starts over once a call is accepted.
    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut throttle = Throttle::default();
        for round in 0..2 {
            for strikes in 1..=20u32 {
                let nominal = FIRST_BACKOFF
                    .saturating_mul(1 << (strikes - 1).min(10))
                    .min(MAX_BACKOFF / 2);
                let wait = throttle.next_backoff();
                assert!(
                    wait >= nominal && wait <= nominal * 2 && wait <= MAX_BACKOFF,
                    "round {round}, strike {strikes}: {wait:?}"
                );
            }
            throttle.backoff = None;
        }
    }

    /// A 429 slows the pace; accepted calls bring it back to the configured rate.
    #[test]
    fn the_pace_slows_after_a_429_and_recovers() {
        let pacing = Pacing {
            calls_per_second: crate::campaign::CallRate::new(10.0).unwrap(),
            max_live_calls: NonZeroU32::new(1).unwrap(),
            reads_per_second: crate::campaign::ReadRate::DEFAULT,
            weight: 1.0,
        };
        let pacer = Pacer::new(&pacing);
        assert_eq!(
            pacer.rate_limited(Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );

        assert_eq!(pacer.throttle().extra_gap, Duration::from_millis(100));
        pacer.rate_limited(None);
        assert_eq!(pacer.throttle().extra_gap, Duration::from_millis(200));
        for _ in 0..20 {
            pacer.accepted();
        }
        assert_eq!(pacer.throttle().extra_gap, Duration::ZERO);
        assert!(pacer.throttle().backoff.is_none());
    }

    /// A server's `Retry-After` past our own backoff's cap is honoured, up to the edge's bound.
    #[test]
    fn a_long_retry_after_is_honoured_up_to_the_bound() {
        let pacing = Pacing {
            calls_per_second: crate::campaign::CallRate::new(10.0).unwrap(),
            max_live_calls: NonZeroU32::new(1).unwrap(),
            reads_per_second: crate::campaign::ReadRate::DEFAULT,
            weight: 1.0,
        };
        let pacer = Pacer::new(&pacing);
        let asked = Duration::from_secs(120);
        assert_eq!(pacer.rate_limited(Some(asked)), asked);
        let pause = pacer.rate_limited(Some(Duration::MAX));
        assert_eq!(pause, crate::api::MAX_RETRY_AFTER);
    }
    fn fast_pacing() -> Pacing {
        Pacing {
            calls_per_second: crate::campaign::CallRate::new(2000.0).unwrap(),
            max_live_calls: NonZeroU32::new(1000).unwrap(),
            reads_per_second: crate::campaign::ReadRate::DEFAULT,
            weight: 1.0,
        }
    }

    /// Campaigns that always have someone to dial take `turns` turns between them from one
    /// pacer; returns who took each, in order.
    async fn share_turns(pacer: &Arc<Pacer>, sharers: &[Sharer], turns: usize) -> Vec<usize> {
        let taken = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = sharers
            .iter()
            .map(|&who| {
                let (pacer, taken) = (Arc::clone(pacer), Arc::clone(&taken));
                tokio::spawn(async move {
                    loop {
                        let _slot = pacer.slot(who).await;
                        let mut taken = taken.lock().unwrap();
                        if taken.len() == turns {
                            return;
                        }
                        taken.push(who.campaign);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(taken).unwrap().into_inner().unwrap()
    }

    /// Weights 3 and 1: of every 40 turns, 30 and 10 (one either way for who was first).
    #[tokio::test(flavor = "multi_thread")]
    async fn turns_go_by_weight() {
        let pacer = Arc::new(Pacer::new(&fast_pacing()));
        let sharers = [
            Sharer {
                campaign: 0,
                weight: 3.0,
            },
            Sharer {
                campaign: 1,
                weight: 1.0,
            },
        ];
        let taken = share_turns(&pacer, &sharers, 400).await;
        for stretch in taken.chunks(40).skip(1) {
            let first = stretch.iter().filter(|&&c| c == 0).count();
            assert!((29..=31).contains(&first), "{first} of 40: {stretch:?}");
        }
    }

    /// A campaign that had nothing to dial while another took 50 turns saves up no credit: once
    /// it comes, the two share the next turns evenly instead of it taking 50 in a row.
    #[tokio::test(flavor = "multi_thread")]
    async fn an_idle_campaign_saves_up_no_credit() {
        let pacer = Arc::new(Pacer::new(&fast_pacing()));
        let alone = Sharer {
            campaign: 0,
            weight: 1.0,
        };
        let late = Sharer {
            campaign: 1,
            weight: 1.0,
        };
        share_turns(&pacer, &[alone], 50).await;
        let taken = share_turns(&pacer, &[alone, late], 40).await;
        let late_turns = taken.iter().filter(|&&c| c == 1).count();
        assert!((19..=21).contains(&late_turns), "{taken:?}");
    }
}
