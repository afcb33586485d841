//! The life of one call, as its own task: create it once its `dialing` mark is durable, or find
//! it when its creation was uncertain, then follow it to its terminal status, holding its live
//! slot all along. Each step is reported to the dialer, which alone writes the journal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::api::{ApiError, CallRequest, CallState, Synthflow};
use crate::clock::Clock;
use crate::journal::{Entry, JournalError};
use crate::pacing::{Pacer, Slot};
use crate::phone::Phone;

/// A call is followed at most this long; past it, its outcome is recorded as unknown.
const LONGEST_CALL: Duration = Duration::from_secs(6 * 3600);
/// The first poll comes this soon; the gap then grows with the call's age.
const FIRST_POLL: Duration = Duration::from_millis(50);
/// The gap between polls is at most this, so an ended call frees its slot within it.
const MAX_POLL_GAP: Duration = Duration::from_secs(5);

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
}

/// Starts call tasks; cheap to clone into each.
#[derive(Clone)]
pub struct Calls {
    pub api: Synthflow,
    pub agent: String,
    pub pacer: Arc<Pacer>,
    pub reports: mpsc::UnboundedSender<Report>,
    /// Turns true when the run stops: following and searching end at once (the journal keeps
    /// their contacts `placed` or `uncertain` for the next run); create requests still finish.
    pub stop: watch::Receiver<bool>,
    pub clock: Clock,
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
            let result = match durable.await {
                Ok(()) => {
                    calls.pacer.send_turn().await;
                    if let Some(caller) = entry.caller_id.clone() {
                        calls.report(Report::Sending {
                            caller,
                            at: calls.clock.now(),
                        });
                    }
                    calls
                        .api
                        .create_call(&request(&calls.agent, &entry))
                        .await
                        .map_err(CreateError::Api)
                }
                Err(e) => Err(CreateError::NotSent(e)),
            };
            let created = result.as_ref().ok().cloned();
            let phone = entry.phone().clone();
            calls.report(Report::Created { entry, result });
            #[cfg(debug_assertions)]
            panic_when_asked(created.is_some());
            if let Some(call_id) = created {
                calls.follow_to_end(phone, &call_id).await;
            }
            drop(slot);
        });
    }

    /// Looks for the call of a contact whose creation was uncertain (only calls started at or
    /// after its `dialing` mark count), then follows it if found.
    pub fn find(&self, tasks: &mut JoinSet<()>, entry: Entry) {
        let calls = self.clone();
        tasks.spawn(async move {
            let slot = calls.pacer.live_slot().await;
            let since_ms = entry.dialed_at.map_or(i64::MIN, |t| t.as_millisecond());
            let search = calls.api.calls_to(&calls.agent, entry.phone());
            let result = tokio::select! {
                result = search => result,
                () = stopped(calls.stop.clone()) => { drop(slot); return; }
            };
            // A listed call without a start time may still be queued: count it, never call twice.
            let found = result.map(|listed| {
                listed
                    .into_iter()
                    .find(|c| c.start_ms().is_none_or(|ms| ms >= since_ms))
                    .map(|c| c.call_id)
            });
            let follow = found.as_ref().ok().cloned().flatten();
            let phone = entry.phone().clone();
            calls.report(Report::Found {
                entry,
                result: found,
            });
            if let Some(call_id) = follow {
                calls.follow_to_end(phone, &call_id).await;
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
                calls
                    .follow_to_end(entry.contact.phone.clone(), call_id)
                    .await;
            }
            drop(slot);
        });
    }

    /// Polls until the call ends, then reports it; returns early, silently, when the run stops.
    async fn follow_to_end(&self, phone: Phone, call_id: &str) {
        let ended = tokio::select! {
            ended = self.poll_until_terminal(call_id) => ended,
            () = stopped(self.stop.clone()) => return,
        };
        self.report(Report::Ended {
            phone,
            result: ended,
        });
    }

    /// Polls `GET /v2/calls/{id}` with a gap that grows with the call's age (a twentieth of it),
    /// so a call's end is seen within about 5% of its length, and long calls cost few polls.
    async fn poll_until_terminal(&self, call_id: &str) -> Result<CallState, ApiError> {
        let started = Instant::now();
        loop {
            let gap = (started.elapsed() / 20).clamp(FIRST_POLL, MAX_POLL_GAP);
            tokio::time::sleep(gap).await;
            self.pacer.poll_turn().await;
            match self.api.call(call_id).await {
                Ok(state) if state.is_terminal() => return Ok(state),
                Ok(_) => {}
                Err(e @ ApiError::Account { .. }) => return Err(e),
                // A fresh call may 404 for a moment; a passing fault is polled through.
                Err(e) => tracing::debug!("polling call {call_id}: {e}"),
            }
            if started.elapsed() > LONGEST_CALL {
                return Err(ApiError::Unexpected(format!(
                    "no terminal status after {}h",
                    LONGEST_CALL.as_secs() / 3600
                )));
            }
        }
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
