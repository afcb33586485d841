//! The life of one call, as its own task: create it once its `dialing` mark is durable, or find
//! it when its creation was uncertain, then wait for the follower (`follow`) to see it reach its
//! terminal status, holding its live slot all along. Each step is reported to the dialer, which alone writes the journal.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::api::{ApiError, CallRequest, CallState, ListedCall, Synthflow};
use crate::clock::Clock;
use crate::follow::{Dialed, Follower};
use crate::journal::{Entry, JournalError};
use crate::pacing::{Pacer, Slot};
use crate::phone::Phone;
use crate::store::ledger::AccountLedger;
use crate::store::{Admit, StoreError};

/// A listed call counts as the latest attempt's if it started at most this long before the
/// attempt's `dialing` mark (read on the vendor's clock, as its `Date` header sets it): the
/// header has whole seconds and clocks drift between answers. Earlier attempts' calls are
/// excluded by id, so the margin can be generous; it only keeps out calls made long before.
const START_MARGIN_MS: i64 = 60_000;

/// What a call task tells the dialer.
pub enum Report {
    /// The create request is leaving now, from this caller ID.
    Sending { caller: Phone, at: jiff::Timestamp },
    /// The create request was answered (or could not be sent).
    Created {
        entry: Entry,
        result: Result<String, CreateError>,
    },
    /// The search for a call whose creation was uncertain: its id, or `None` when not found.
    Found {
        entry: Entry,
        result: Result<Option<String>, ApiError>,
    },
    /// The call reached a terminal status (or could not be followed).
    Ended {
        phone: Phone,
        result: Result<CallState, ApiError>,
    },
}

pub enum CreateError {
    Api(ApiError),
    /// The `dialing` mark could not be made durable, so the request was never sent.
    NotSent(JournalError),
    /// The shared store refused the caller ID: other processes' calls from it reached its cap
    /// or hold it in its cooldown. Nothing was sent.
    CallerTaken(Admit),
    /// The shared store could not be asked whether the caller ID is free, so nothing was sent.
    StoreUnavailable(StoreError),
}

/// A campaign's caps as the shared store checks them over every process's calls.
#[derive(Clone)]
pub struct SharedCaps {
    pub ledger: Arc<AccountLedger>,
    pub cap_per_day: Option<NonZeroU32>,
    pub cooldown: Duration,
}

/// Starts call tasks; cheap to clone into each.
#[derive(Clone)]
pub struct Calls {
    pub api: Synthflow,
    pub agent: String,
    /// Follows every live call in bulk, and answers each task when its call ends.
    pub follower: Follower,
    pub pacer: Arc<Pacer>,
    pub reports: mpsc::UnboundedSender<Report>,
    /// Turns true when the run stops: following and searching end at once (the journal keeps
    /// their contacts `placed` or `uncertain` for the next run); create requests still finish.
    pub stop: watch::Receiver<bool>,
    pub clock: Clock,
    /// Set with a shared store: each start is admitted there before it is sent.
    pub shared_caps: Option<SharedCaps>,
}

impl Calls {
    /// Sends the create request once `durable` resolves, then follows the call; the task is
    /// owned by `tasks`.
    pub fn create(
        &self,
        tasks: &mut JoinSet<()>,
        entry: Entry,
        durable: impl Future<Output = Result<(), JournalError>> + Send + 'static,
        slot: Slot,
    ) {
        let calls = self.clone();
        tasks.spawn(async move {
            let durable = durable.await;
            // Read before the create leaves, so the call cannot start before it.
            let shown_before = calls.follower.shown();
            let result = match durable {
                Ok(()) => calls.send(&entry).await,
                Err(e) => Err(CreateError::NotSent(e)),
            };
            if matches!(result, Err(CreateError::CallerTaken(_))) {
                // No call was made: the slot, with its turn and lease, goes to the next start.
                calls.pacer.give_back(slot);
                calls.report(Report::Created { entry, result });
                return;
            }
            let created = result.as_ref().ok().cloned();
            let followed = entry.clone();
            calls.report(Report::Created { entry, result });
            #[cfg(debug_assertions)]
            panic_when_asked(created.is_some());
            if let Some(call_id) = created {
                calls.follow_to_end(&followed, &call_id, shown_before).await;
            }
            drop(slot);
        });
    }

    /// Sends the create request of `entry`, whose mark is durable, once its caller ID is
    /// admitted by the shared store (when there is one) and its send turn has come.
    async fn send(&self, entry: &Entry) -> Result<String, CreateError> {
        let mut admitted = None;
        if let (Some(caps), Some(caller)) = (&self.shared_caps, &entry.caller_id) {
            let at = self.clock.now();
            match caps
                .ledger
                .admit_start(caller, at, caps.cap_per_day, caps.cooldown)
                .await
            {
                Ok(Admit::Admitted) => admitted = Some((caps, caller, at)),
                Ok(refused) => return Err(CreateError::CallerTaken(refused)),
                Err(e) => return Err(CreateError::StoreUnavailable(e)),
            }
        }
        self.pacer.send_turn().await;
        if let Some(caller) = entry.caller_id.clone() {
            self.report(Report::Sending {
                caller,
                at: self.clock.now(),
            });
        }
        let created = self.api.create_call(&request(&self.agent, entry)).await;
        if let (Err(refused), Some((caps, caller, at))) = (&created, admitted)
            && !refused.may_have_created()
        {
            caps.ledger.forget_start(caller, at).await;
        }
        created.map_err(CreateError::Api)
    }

    /// Looks for the call of a contact whose creation was uncertain (see [`Attempt`]), then
    /// follows it if found.
    pub fn find(&self, tasks: &mut JoinSet<()>, entry: Entry) {
        let calls = self.clone();
        tasks.spawn(async move {
            let slot = calls.pacer.live_slot().await;
            let search = calls.api.calls_to(&calls.agent, entry.phone());
            let result = tokio::select! {
                biased;
                result = search => result,
                () = stopped(calls.stop.clone()) => { drop(slot); return; }
            };
            let attempt = Attempt::of(&entry, calls.api.clock_ahead_ms());
            let found = result.map(|listed| {
                listed
                    .into_iter()
                    .find(|call| attempt.made(call))
                    .map(|call| call.call_id)
            });
            let follow = found.as_ref().ok().cloned().flatten();
            let followed = entry.clone();
            calls.report(Report::Found {
                entry,
                result: found,
            });
            if let Some(call_id) = follow {
                calls.follow_to_end(&followed, &call_id, None).await;
            }
            drop(slot);
        });
    }

    /// Follows a call created by an earlier run.
    pub fn follow(&self, tasks: &mut JoinSet<()>, entry: Entry) {
        let calls = self.clone();
        tasks.spawn(async move {
            let slot = calls.pacer.live_slot().await;
            if let Some(call_id) = &entry.call_id {
                calls.follow_to_end(&entry, call_id, None).await;
            }
            drop(slot);
        });
    }

    /// Waits for the follower to see the call end, then reports it; returns early, silently,
    /// when the run stops. `shown_before`: [`Follower::shown`] read before this run sent the
    /// call's create, if it did.
    async fn follow_to_end(
        &self,
        entry: &Entry,
        call_id: &str,
        shown_before: Option<jiff::Timestamp>,
    ) {
        let dialed = Dialed {
            at: self.on_machine_clock(entry.dialed_at),
            shown_before,
        };
        let ended = self.follower.follow(call_id.to_owned(), dialed);
        let ended = tokio::select! {
            biased;
            ended = ended => ended.expect("the follower answers every call it is given"),
            () = stopped(self.stop.clone()) => return,
        };
        self.report(Report::Ended {
            phone: entry.phone().clone(),
            result: ended,
        });
    }

    /// A `dialing` mark (read on the run's clock) on the client's clock, which the vendor's
    /// `Date` is compared with; without a mark, now (the follower then looks the call up alone
    /// if the list does not show it).
    fn on_machine_clock(&self, mark: Option<jiff::Timestamp>) -> jiff::Timestamp {
        let now = self.api.clock().now();
        let Some(mark) = mark else { return now };
        let ago = self.clock.now().duration_since(mark);
        now.checked_sub(ago).unwrap_or(now)
    }

    fn report(&self, report: Report) {
        // The dialer outlives every task it starts; a closed channel means it has already failed.
        let _ = self.reports.send(report);
    }
}

/// The test hook behind `tests/task_panic.rs` (debug builds only): with
/// `OUTDIAL_TEST_PANIC_AFTER_CREATE` set, a create task panics once its call is created, as a bug
/// in a call task would, so the test can show that the run ends loudly instead of hanging.
#[cfg(debug_assertions)]
fn panic_when_asked(created: bool) {
    if created && std::env::var_os("OUTDIAL_TEST_PANIC_AFTER_CREATE").is_some() {
        panic!("OUTDIAL_TEST_PANIC_AFTER_CREATE is set: a call task panics on purpose");
    }
}

/// What a look-up knows of the attempt whose creation was uncertain, to tell its call from any
/// other in the vendor's list.
struct Attempt<'e> {
    entry: &'e Entry,
    /// The earliest vendor `start_time` this attempt's call can have: our `dialing` mark moved
    /// onto the vendor's clock, less [`START_MARGIN_MS`].
    earliest_start_ms: i64,
}

impl<'e> Attempt<'e> {
    fn of(entry: &'e Entry, clock_ahead_ms: Option<i64>) -> Attempt<'e> {
        let earliest_start_ms = entry.dialed_at.map_or(i64::MIN, |mark| {
            mark.as_millisecond()
                .saturating_add(clock_ahead_ms.unwrap_or(0))
                .saturating_sub(START_MARGIN_MS)
        });
        Attempt {
            entry,
            earliest_start_ms,
        }
    }

    /// Whether `call` is this attempt's: *to* this contact (the list also has calls *from* it,
    /// when its phone is one of our caller IDs), not an earlier attempt's, and not started long
    /// before the attempt. A call without a start time may still be queued: it counts, as does
    /// one whose callee is not given, since counting a call never calls anyone twice.
    fn made(&self, call: &ListedCall) -> bool {
        let to_contact = call.callee().is_none_or(|to| {
            Phone::try_from(to.to_owned()).map_or(to == self.entry.phone().as_str(), |to| {
                to == *self.entry.phone()
            })
        });
        let earlier = self.entry.earlier_calls.contains(&call.call_id);
        let in_time = call
            .start_ms()
            .is_none_or(|ms| ms >= self.earliest_start_ms);
        to_contact && !earlier && in_time
    }
}

/// Resolves once the run stops.
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn request<'e>(agent: &'e str, entry: &'e Entry) -> CallRequest<'e> {
    CallRequest {
        model_id: agent,
        phone: entry.phone().as_str(),
        name: &entry.contact.name,
        from_phone_number: entry.caller_id.as_ref().map_or("", |c| c.as_str()),
        custom_variables: &entry.contact.custom_variables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::StringOrNumber;
    use crate::contacts::Contact;
    use crate::phone::Country;

    fn entry(phone: &str, dialed_ms: i64, earlier: &[&str]) -> Entry {
        let contact = Contact {
            phone: Phone::parse(phone, Country::default()).unwrap(),
            name: "Ada".into(),
            line: 2,
            time_zone: None,
            region: None,
            custom_variables: vec![],
        };
        let dialed = jiff::Timestamp::from_millisecond(dialed_ms).unwrap();
        let mut entry = Entry::new(contact, 1, dialed);
        entry.dialed_at = Some(dialed);
        entry.earlier_calls = earlier.iter().map(|id| id.to_string()).collect();
        entry
    }

    fn listed(id: &str, to: &str, start_ms: i64) -> ListedCall {
        ListedCall {
            call_id: id.into(),
            start_time: Some(StringOrNumber::String(start_ms.to_string())),
            phone_number_to: Some(to.into()),
            lead_phone_number: Some(to.into()),
        }
    }

    /// A look-up takes the attempt's own call, whatever the skew, and never another's: not an
    /// earlier attempt's, not one *from* the contact's number, not one made long before.
    #[test]
    fn an_attempt_owns_only_its_own_call() {
        const ADA: &str = "+14155550199";
        const MARK: i64 = 1_700_000_000_000;
        let fresh = entry(ADA, MARK, &[]);
        for skew_ms in [-5_000, -500, 0, 500, 5_000] {
            let call = listed("c1", ADA, MARK + skew_ms + 40);
            assert!(Attempt::of(&fresh, Some(skew_ms)).made(&call), "{skew_ms}");
            assert!(
                Attempt::of(&fresh, None).made(&call),
                "{skew_ms} without a Date"
            );
        }
        let redialled = entry(ADA, MARK, &["c1"]);
        assert!(!Attempt::of(&redialled, Some(0)).made(&listed("c1", ADA, MARK)));
        let from_ada = listed("c2", "+12125550100", MARK + 10);
        assert!(!Attempt::of(&fresh, Some(0)).made(&from_ada));
        let last_week = listed("c3", ADA, MARK - 7 * 86_400_000);
        assert!(!Attempt::of(&fresh, Some(0)).made(&last_week));
        let queued = ListedCall {
            start_time: None,
            ..listed("c4", ADA, 0)
        };
        assert!(Attempt::of(&fresh, Some(0)).made(&queued));
    }
}
