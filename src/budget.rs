//! What the campaigns one process runs share (`outdial run a.toml b.toml`): each account's
//! pacer (its start schedule, its live-call bound, its 429s and its status reads), handed out
//! by the campaigns' weights, and one ledger of caller-ID caps, so that a number's cap and
//! cooldown count every campaign's calls from it. Each campaign keeps its own journal, rules and
//! figures; a campaign run alone has a budget of its own, and runs exactly as before.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::campaign::{ApiKey, Campaign, Pacing};
use crate::caps::Ledger;
use crate::pacing::{Pacer, Sharer, Slot};
use crate::store::Store;
use crate::store::account::account_id;
use crate::store::ledger::{AccountLedger, LockState};
use tokio::sync::watch;

/// The shares of campaigns run side by side, in their order: one budget per account (base URL
/// and key), at the strictest of the limits its campaign files give (see
/// [`Pacing::strictest`]), and one caps ledger for them all; with a shared `store`, each
/// account's limits and every number's caps also count other processes' calls. With them, a
/// sentence for each account whose campaign files disagree on its limits, saying what it runs
/// at. Made inside the runtime.
pub fn shares(
    campaigns: &[(&Campaign, &ApiKey)],
    store: Option<&Arc<Store>>,
) -> (Vec<Share>, Vec<String>) {
    let ledger = Ledger::default();
    let mut accounts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (campaign, key)) in campaigns.iter().enumerate() {
        let account = account_id(&campaign.api.base_url, key);
        accounts.entry(account).or_default().push(i);
    }
    let mut shares: Vec<Option<Share>> = vec![None; campaigns.len()];
    let mut notes = Vec::new();
    for (account, members) in &accounts {
        let pacings = members.iter().map(|&i| &campaigns[i].0.pacing);
        let strictest = pacings
            .clone()
            .fold(campaigns[members[0]].0.pacing, |all, one| {
                all.strictest(one)
            });
        if pacings.clone().any(|p| differ(p, &strictest)) {
            notes.push(disagreement(
                members.iter().map(|&i| campaigns[i].0),
                &strictest,
            ));
        }
        let mut budget = match store {
            Some(store) => Budget::sharing(&strictest, ledger.clone(), store, account),
            None => Budget::new(&strictest, ledger.clone()),
        };
        for &i in members {
            shares[i] = Some(budget.share(campaigns[i].0.pacing.weight));
        }
    }
    let shares = shares
        .into_iter()
        .map(|share| share.expect("every campaign is in one account"))
        .collect();
    (shares, notes)
}

/// Whether a campaign file's limits are not the account's.
fn differ(pacing: &Pacing, account: &Pacing) -> bool {
    pacing.calls_per_second != account.calls_per_second
        || pacing.max_live_calls != account.max_live_calls
        || pacing.reads_per_second != account.reads_per_second
}

fn disagreement<'c>(campaigns: impl Iterator<Item = &'c Campaign>, account: &Pacing) -> String {
    let mut names = Vec::new();
    let mut base_url = String::new();
    for campaign in campaigns {
        names.push(campaign.name.clone());
        base_url = campaign.api.base_url.to_string();
    }
    format!(
        "campaigns {} share the account at {base_url} but their [pacing] differs: the account runs at the strictest of each, {} calls/s, {} live calls, {} status reads/s",
        names.join(", "),
        account.calls_per_second.per_second(),
        account.max_live_calls,
        account.reads_per_second.per_second(),
    )
}

/// One account's pacer and the process's caps ledger, handed out to the account's campaigns.
pub struct Budget {
    pacer: Arc<Pacer>,
    ledger: Ledger,
    shared: Option<Arc<AccountLedger>>,
    shares: usize,
}

/// A campaign's part of a [`Budget`].
#[derive(Clone)]
pub struct Share {
    pacer: Arc<Pacer>,
    ledger: Ledger,
    shared: Option<Arc<AccountLedger>>,
    sharer: Sharer,
    /// With a shared store: the campaign's lock there, without which nobody is dialled.
    lock: Option<watch::Receiver<LockState>>,
}

impl Budget {
    /// The budget of an account whose campaign files give `pacing` (see
    /// [`Pacing::strictest`] to combine several), counting caps in `ledger`.
    pub fn new(pacing: &Pacing, ledger: Ledger) -> Budget {
        Budget {
            pacer: Arc::new(Pacer::new(pacing)),
            ledger,
            shared: None,
            shares: 0,
        }
    }

    /// [`Budget::new`], with the account's limits (and the numbers' caps) also kept in the
    /// shared store, where other processes on the account count theirs.
    pub fn sharing(pacing: &Pacing, ledger: Ledger, store: &Arc<Store>, account: &str) -> Budget {
        let shared = AccountLedger::new(
            Arc::clone(store),
            account.to_owned(),
            pacing.max_live_calls,
            pacing.calls_per_second.interval(),
        );
        Budget {
            pacer: Arc::new(Pacer::sharing(pacing, Arc::clone(&shared))),
            ledger,
            shared: Some(shared),
            shares: 0,
        }
    }

    /// The next campaign's share, of `weight`.
    pub fn share(&mut self, weight: f64) -> Share {
        let sharer = Sharer {
            campaign: self.shares,
            weight,
        };
        self.shares += 1;
        Share {
            pacer: Arc::clone(&self.pacer),
            ledger: self.ledger.clone(),
            shared: self.shared.clone(),
            sharer,
            lock: None,
        }
    }
}

impl Share {
    /// The whole of a budget of its own: a campaign run alone.
    pub fn alone(pacing: &Pacing) -> Share {
        Budget::new(pacing, Ledger::default()).share(pacing.weight)
    }

    /// The share of a campaign that dials only while `lock` says its lock in the store is held.
    pub fn guarded_by(self, lock: watch::Receiver<LockState>) -> Share {
        Share {
            lock: Some(lock),
            ..self
        }
    }

    /// Waits until the campaign's lock is held (with a store), then for this campaign's turn to
    /// start a call (see [`Pacer::slot`]).
    pub async fn slot(&self) -> Slot {
        if let Some(mut lock) = self.lock.clone()
            && lock
                .wait_for(|state| *state == LockState::Held)
                .await
                .is_err()
        {
            // The keeper is gone: the lock with it. Never dial again.
            std::future::pending::<()>().await;
        }
        self.pacer.slot(self.sharer).await
    }

    /// The account's pacer, for what every campaign's calls do alike (send turns, reads, 429s).
    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    /// The caps ledger the campaign counts in.
    pub fn ledger(&self) -> Ledger {
        self.ledger.clone()
    }

    /// The account's ledger in the shared store, where every process's calls count.
    pub fn shared(&self) -> Option<&Arc<AccountLedger>> {
        self.shared.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::campaign::Overrides;
    use crate::caps::Caps;

    fn campaign(name: &str, pacing: &str) -> Campaign {
        let text =
            format!("name = \"{name}\"\nagent = \"a\"\ncontacts = \"c.csv\"\n[pacing]\n{pacing}\n");
        let overrides = Overrides {
            api_base: Some("http://127.0.0.1:9/".into()),
        };
        Campaign::from_text(Path::new("/tmp/x.toml"), &text, &overrides).unwrap()
    }

    /// One key is one account: one pacer at the strictest limits, with the disagreement said;
    /// another key is another account with a pacer of its own. The caps ledger is one for all.
    #[test]
    fn one_pacer_per_account_at_the_strictest_limits() {
        let a = campaign("a", "calls_per_second = 5\nmax_live_calls = 20");
        let b = campaign("b", "calls_per_second = 2\nmax_live_calls = 30");
        let c = campaign("c", "calls_per_second = 9\nmax_live_calls = 40");
        let (one, other) = (ApiKey::new("one"), ApiKey::new("other"));
        let (shares, notes) = shares(&[(&a, &one), (&b, &one), (&c, &other)], None);
        assert!(Arc::ptr_eq(shares[0].pacer(), shares[1].pacer()));
        assert!(!Arc::ptr_eq(shares[0].pacer(), shares[2].pacer()));
        let number = crate::phone::Phone::parse("+12125550101", Default::default()).unwrap();
        let at = jiff::Timestamp::UNIX_EPOCH;
        let once = Some(std::num::NonZeroU32::MIN);
        let gap = std::time::Duration::ZERO;
        Caps::sharing(once, gap, shares[0].ledger()).record(&number, at);
        assert!(!Caps::sharing(once, gap, shares[2].ledger()).allows(&number, at));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("campaigns a, b") && notes[0].contains("2 calls/s, 20 live calls"),
            "{notes:?}"
        );
    }

    /// Campaign files that agree say nothing.
    #[test]
    fn agreeing_files_say_nothing() {
        let a = campaign("a", "calls_per_second = 5");
        let b = campaign("b", "calls_per_second = 5\nweight = 3");
        let key = ApiKey::new("one");
        let (_, notes) = shares(&[(&a, &key), (&b, &key)], None);
        assert!(notes.is_empty(), "{notes:?}");
    }
}
