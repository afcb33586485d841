//! The account's limits and the numbers' caps as a run asks for them when they live in the
//! shared store: live-call leases kept alive by a heartbeat, start turns booked on the account's
//! schedule, and caller-ID starts admitted against every process's starts.
//!
//! The store can go away (a restart, a cut): every ask is then retried with a backoff until the
//! store answers again, and nothing is dialled meanwhile. Waiting is the fail-closed answer; a
//! guess would be a limit exceeded.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use jiff::Timestamp;

use super::{Admit, Day, Lease, Renewal, Store, StoreError};
use crate::phone::Phone;

/// How long a live-call lease lasts unless renewed: a dead host's calls free their slots after
/// at most this long.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// How often held leases are renewed: three times within their time to live, so one missed
/// heartbeat (a slow store, a pause) loses nothing.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The store's schedule spaces starts by the account's interval and a fiftieth of it: processes
/// wake for their booked starts with a millisecond or so of jitter each, and an account that
/// counts its starts per second must never see the sixth of five-a-second inside one second.
const SCHEDULE_MARGIN: u32 = 50;

/// The margin's ceiling, for slow rates (a call a minute needs no 1.2 s of margin).
const MAX_SCHEDULE_MARGIN: Duration = Duration::from_millis(25);

/// How soon a full account is asked again for a lease.
const LEASE_POLL: Duration = Duration::from_millis(50);

/// The longest pause between two asks of a store that does not answer.
const MAX_RETRY: Duration = Duration::from_secs(5);

/// One account's ledger in the store, shared by the campaigns of a process on that account.
pub struct AccountLedger {
    store: Arc<Store>,
    account: String,
    max_live: NonZeroU32,
    interval: Duration,
    /// The leases this process holds, renewed by the heartbeat.
    held: Mutex<HashSet<i64>>,
}

/// A live-call slot in the store; dropping it gives the slot back.
pub struct HeldLease {
    ledger: Arc<AccountLedger>,
    lease: Option<Lease>,
}

impl AccountLedger {
    /// The ledger of `account` (see [`super::account::account_id`]) at `max_live` calls live
    /// and one start per `interval` (and 2%: see [`SCHEDULE_MARGIN`]), with its heartbeat
    /// running while the ledger lives.
    pub fn new(
        store: Arc<Store>,
        account: String,
        max_live: NonZeroU32,
        interval: Duration,
    ) -> Arc<AccountLedger> {
        let ledger = Arc::new(AccountLedger {
            store,
            account,
            max_live,
            interval: interval + (interval / SCHEDULE_MARGIN).min(MAX_SCHEDULE_MARGIN),
            held: Mutex::new(HashSet::new()),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&ledger)));
        ledger
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A live-call lease, once the account has one free.
    pub async fn lease(self: &Arc<Self>) -> HeldLease {
        loop {
            let taken = retried("taking a live-call lease", || {
                self.store.lease(&self.account, self.max_live, LEASE_TTL)
            })
            .await;
            if let Some(lease) = taken {
                self.held().insert(lease.id);
                return HeldLease {
                    ledger: Arc::clone(self),
                    lease: Some(lease),
                };
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    /// Books the account's next start and waits for it.
    pub async fn start_turn(&self) {
        let turn = retried("booking a call start", || {
            self.store.next_start(&self.account, self.interval)
        })
        .await;
        if let super::StartTurn::WaitUntil(at) = turn {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
    }

    /// Checks a start from `number` at `at` against its cap and cooldown over every process's
    /// starts, and records it when admitted. `Err` when the store cannot be asked now: the call
    /// must not be made.
    pub async fn admit_start(
        &self,
        number: &Phone,
        at: Timestamp,
        cap_per_day: Option<NonZeroU32>,
        cooldown: Duration,
    ) -> Result<Admit, StoreError> {
        self.store
            .record_start(number, at, cap_per_day, Day::utc_of(at), cooldown)
            .await
    }

    /// Takes back a start admitted by [`AccountLedger::admit_start`] whose create request made
    /// no call. Not asked again if the store cannot answer: the start then stays counted, which
    /// costs the number a call that day, never adds one.
    pub async fn forget_start(&self, number: &Phone, at: Timestamp) {
        if let Err(e) = self.store.forget_start(number, at).await {
            tracing::warn!("a call start that made no call stays counted in the store: {e}");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        self.ledger.held().remove(&lease.id);
        let store = Arc::clone(&self.ledger.store);
        // Given back in the background; a lease whose release is lost expires by itself.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.release(lease).await {
                    tracing::warn!(
                        "a live-call lease was not given back (it expires by itself): {e}"
                    );
                }
            });
        }
    }
}

/// Renews the process's leases until the ledger is gone.
async fn heartbeat(ledger: Weak<AccountLedger>) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        let Some(ledger) = ledger.upgrade() else {
            return;
        };
        let ids: Vec<i64> = ledger.held().iter().copied().collect();
        for id in ids {
            let lease = Lease {
                id,
                account: ledger.account.clone(),
            };
            match ledger.store.renew(&lease, LEASE_TTL).await {
                Ok(Renewal::InTime) => {}
                // Its call ended while the lease was taken back: give it back again.
                Ok(Renewal::TakenBack) if !ledger.held().contains(&id) => {
                    if let Err(e) = ledger.store.release(lease).await {
                        tracing::warn!(
                            "a live-call lease was not given back (it expires by itself): {e}"
                        );
                    }
                }
                Ok(Renewal::TakenBack) => tracing::warn!(
                    "live-call lease {id} had expired (the store was out of reach for longer than \
                     {LEASE_TTL:?}) and is taken back: its call is still live, so no process \
                     starts another call until the account is within its live bound again"
                ),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
}

/// Asks the store until it answers, pausing longer each time (up to [`MAX_RETRY`]).
async fn retried<T, F: Future<Output = Result<T, StoreError>>>(
    what: &str,
    mut ask: impl FnMut() -> F,
) -> T {
    let mut pause = Duration::from_millis(100);
    loop {
        match ask().await {
            Ok(answer) => return answer,
            Err(e) => {
                tracing::warn!("{what}: {e}; dialling waits and asks again in {pause:?}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY);
            }
        }
    }
}

/// How often a run checks that it still holds its campaign's lock in the store.
const LOCK_CHECK: Duration = Duration::from_secs(1);

/// Whether a run may dial its campaign, as its lock in the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    Held,
    /// The lock's session was cut (a store restart, a network cut): dialling waits while the
    /// lock is taken again.
    Lost,
    /// Another process took the campaign while the lock was lost: the run must stop.
    TakenBy(super::CampaignHolder),
}

/// A campaign's lock in the store, kept by a task of its own: checked every second, and taken
/// again when its session was cut. Dropping it lets the lock go.
pub struct KeptLock {
    campaign: String,
    at: String,
    state: tokio::sync::watch::Receiver<LockState>,
    let_go: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<super::CampaignLock>>,
}

impl KeptLock {
    /// Takes `campaign`'s lock in `store` (refused, naming the holder, when another process
    /// holds it) and keeps it.
    pub async fn take(store: Arc<Store>, campaign: &str) -> Result<KeptLock, StoreError> {
        let lock = store.lock_campaign(campaign).await?;
        let (tell, state) = tokio::sync::watch::channel(LockState::Held);
        let (let_go, asked) = tokio::sync::oneshot::channel();
        let at = store.at().to_owned();
        let task = tokio::spawn(keep(store, campaign.to_owned(), lock, tell, asked));
        Ok(KeptLock {
            campaign: campaign.to_owned(),
            at,
            state,
            let_go,
            task,
        })
    }

    /// Why the run had to stop, when another process took the campaign while the lock was lost.
    pub fn taken(&self) -> Option<StoreError> {
        match &*self.state.borrow() {
            LockState::TakenBy(holder) => Some(StoreError::CampaignLocked {
                campaign: self.campaign.clone(),
                at: self.at.clone(),
                holder: holder.clone(),
            }),
            LockState::Held | LockState::Lost => None,
        }
    }

    /// What the run may do, now and as it changes.
    pub fn state(&self) -> tokio::sync::watch::Receiver<LockState> {
        self.state.clone()
    }

    /// Lets go of the lock at once (rather than when the server notices the closed session).
    pub async fn release(self) {
        let _ = self.let_go.send(());
        if let Ok(Some(lock)) = self.task.await
            && let Err(e) = lock.release().await
        {
            tracing::warn!("{e}");
        }
    }
}

/// Checks the lock until it is lost, then takes it again; ends when another process took it,
/// or with the lock when the run lets it go.
async fn keep(
    store: Arc<Store>,
    campaign: String,
    mut lock: super::CampaignLock,
    tell: tokio::sync::watch::Sender<LockState>,
    mut let_go: tokio::sync::oneshot::Receiver<()>,
) -> Option<super::CampaignLock> {
    loop {
        tokio::select! {
            _ = &mut let_go => return Some(lock),
            () = tokio::time::sleep(LOCK_CHECK) => {}
        }
        if lock.check().await.is_ok() {
            continue;
        }
        tell.send_replace(LockState::Lost);
        tracing::warn!(
            "campaign `{campaign}` lost its lock in the store at {}: dialling waits until it is taken again",
            store.at()
        );
        let mut pause = Duration::from_millis(100);
        lock = loop {
            match store.lock_campaign(&campaign).await {
                Ok(lock) => break lock,
                Err(StoreError::CampaignLocked { holder, .. }) => {
                    tracing::error!(
                        "campaign `{campaign}` was taken by another process ({holder}) while its lock was lost: this run stops"
                    );
                    tell.send_replace(LockState::TakenBy(holder));
                    return None;
                }
                Err(e) => {
                    tracing::warn!("{e}; asking again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(MAX_RETRY);
                }
            }
        };
        tell.send_replace(LockState::Held);
    }
}
