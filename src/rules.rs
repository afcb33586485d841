//! The rules checked before every dial, in one home: do-not-call lists, whether this run's
//! contacts file still lists the contact, the callee's calling window, and a caller ID under its
//! caps and not resting (rotation, number health). `run` asks [`Rules::verdict`] at the moment
//! of dialling; `plan` asks the same checks of every contact. So plan and run agree by
//! construction: neither re-implements a rule.
//!
//! The checks are in the order a person would give them: a number on a do-not-call list is never
//! called, whatever else holds; one the contacts file no longer lists is not called either; then
//! comes the question of when (window) and from which number (caps, rotation).

use jiff::Timestamp;

use crate::campaign::{Campaign, Window};
use crate::caps::{Caps, Held, Ledger};
use crate::contacts::Contact;
use crate::health::{Health, Rest};
use crate::history::{Attempt, Reach};
use crate::journal::Entry;
use crate::phone::Phone;
use crate::rotation::{Callee, Choice, Locale, Rotation};
use crate::suppression::{Check, DoNotCall, Unreadable};
use crate::window::{CalleeZones, CallingHours, Unplaced};

/// The campaign's rules and the state they keep (caps usage, rotation order, list contents).
pub struct Rules {
    do_not_call: DoNotCall,
    hours: CallingHours,
    caps: Caps,
    rotation: Rotation,
    /// Number health: a resting number is not chosen, as one at its caps is not.
    health: Health,
    /// The calling window as configured: where a callee's zones come from when neither the CSV
    /// nor the area code places them (`window.unknown_zone`, `window.timezone`).
    window: Window,
}

/// Whether this run's contacts file lists a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// This run's CSV has listed it.
    Listed,
    /// Not listed so far, and the CSV is still being read: it may come further down.
    NotYetKnown,
    /// The CSV has been read to its end without it: it was removed.
    Removed,
}

/// What the calling window says at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCheck {
    Open,
    OpensAt(Timestamp),
    /// Not within the next 400 days.
    Never,
}

/// Which caller ID may call now.
#[derive(Debug, Clone, PartialEq)]
pub enum CallerCheck {
    Free(Choice),
    /// Every active number is at a cap until this moment.
    FreeAt(Timestamp),
    /// No number is left in rotation (all refused by the API).
    PoolExhausted,
}

/// What the rules say of a contact at the moment of dialling.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Dial(Choice),
    /// Not before this moment (its window opens, or a caller ID comes off its caps).
    Wait(Timestamp),
    /// Not until this run's CSV lists it: it is taken up again when it does, and skipped as
    /// removed if the CSV ends without it.
    Hold,
    Skip(String),
    /// Nobody can be called: every caller ID was refused.
    PoolExhausted,
    /// Nobody may be called while a do-not-call list cannot be read (fail closed).
    ListUnreadable(Unreadable),
}

/// Why a contact the CSV no longer lists is never called.
/// The weighted strategy's seed: the campaign's name, so a campaign's draws repeat.
fn seed_of(campaign: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(campaign.as_bytes())
}

pub const REMOVED: &str = "no longer in the contacts file";

impl Rules {
    /// The rules of `campaign` over `pool`, with its do-not-call lists read once (`plan`) or
    /// watched as a run goes ([`DoNotCall::watch`]), counting caps in `ledger` (shared with the
    /// process's other campaigns, or the campaign's own).
    pub fn new(
        campaign: &Campaign,
        pool: &[Phone],
        do_not_call: DoNotCall,
        ledger: Ledger,
    ) -> Rules {
        Rules {
            do_not_call,
            hours: CallingHours::new(&campaign.window),
            caps: Caps::sharing(
                campaign.rotation.max_calls_per_number_per_day,
                campaign.rotation.min_gap_per_number,
                ledger,
            ),
            rotation: Rotation::of_policy(&campaign.rotation, pool, seed_of(&campaign.name)),
            health: Health::new(campaign.health, pool),
            window: campaign.window.clone(),
        }
    }

    /// Every rule, in order, for `entry` at `at`. A call it lets through has its caller ID's
    /// start counted already (see [`Rules::claim_caller_id`]).
    pub fn verdict(&mut self, entry: &Entry, listing: Listing, at: Timestamp) -> Verdict {
        match self.do_not_call(entry.phone()) {
            Check::Clear => {}
            Check::Listed(list) => {
                return Verdict::Skip(format!("on the do-not-call list {}", list.display()));
            }
            Check::Unreadable(trouble) => return Verdict::ListUnreadable(trouble),
        }
        match listing {
            Listing::Listed => {}
            Listing::NotYetKnown => return Verdict::Hold,
            Listing::Removed => return Verdict::Skip(REMOVED.into()),
        }
        let zones = match self.zones(&entry.contact) {
            Ok(zones) => zones,
            Err(unplaced) => return Verdict::Skip(unplaced.to_string()),
        };
        match self.window(&zones, at) {
            WindowCheck::Open => {}
            WindowCheck::OpensAt(opening) => return Verdict::Wait(opening),
            WindowCheck::Never => {
                return Verdict::Skip(format!(
                    "the calling window never opens in {} within 400 days",
                    zones.names().join(", ")
                ));
            }
        }
        let callee = Callee {
            phone: entry.phone().clone(),
            locale: Locale::of_contact(&entry.contact),
            previous: entry.caller_id.clone(),
        };
        match self.claim_caller_id(&callee, at) {
            CallerCheck::Free(choice) => Verdict::Dial(Choice {
                local: Some(zones.local_moment(at)),
                ..choice
            }),
            CallerCheck::FreeAt(moment) => Verdict::Wait(moment),
            CallerCheck::PoolExhausted => Verdict::PoolExhausted,
        }
    }

    /// What the do-not-call lists, as last read, say of `phone`.
    pub fn do_not_call(&self, phone: &Phone) -> Check {
        self.do_not_call.check(phone)
    }

    /// The zones the callee may be in (the window must be open in all of them), or why nobody
    /// can tell: such a callee is never called on a guess.
    pub fn zones(&self, contact: &Contact) -> Result<CalleeZones, Unplaced> {
        CalleeZones::of_contact(contact, &self.window)
    }

    pub fn window(&self, zones: &CalleeZones, at: Timestamp) -> WindowCheck {
        if self.hours.is_open(zones, at) {
            return WindowCheck::Open;
        }
        match self.hours.next_opening(zones, at) {
            Some(opening) => WindowCheck::OpensAt(opening),
            None => WindowCheck::Never,
        }
    }

    /// A caller ID for `callee` under its caps and not resting at `at`, as the rotation orders
    /// the pool, with its call counted to its caps in the same step: the caps ledger stays
    /// locked from the choice to the count, so another campaign sharing it cannot take the
    /// same last call of a number in between. A sticky redial whose number rests moves to
    /// another.
    pub fn claim_caller_id(&mut self, callee: &Callee, at: Timestamp) -> CallerCheck {
        let health = &self.health;
        let mut caps = self.caps.held();
        let free_at = |caps: &Held, number: &Phone| {
            let rested = health.resting(number, at).map_or(at, |rest| rest.until);
            caps.next_allowed(number, at).max(rested)
        };
        let choice = self.rotation.choose_loaded(
            callee,
            |number| free_at(&caps, number) == at,
            |number| caps.used_on(number, at),
        );
        if let Some(choice) = choice {
            caps.record(&choice.caller_id, at);
            return CallerCheck::Free(choice);
        }
        let free_again = self.rotation.active().map(|n| free_at(&caps, n)).min();
        free_again.map_or(CallerCheck::PoolExhausted, CallerCheck::FreeAt)
    }

    /// `caller`'s latest attempts, newest first, replace what number health knew of it.
    /// The rotation's learning strategies hear them too, oldest first.
    pub fn observe(&mut self, caller: &Phone, latest: &[Attempt]) {
        self.health.observe(caller, latest);
        for attempt in latest.iter().rev() {
            self.learn(attempt);
        }
    }

    /// An attempt has ended: it joins its number's health window, and the rotation's learning
    /// strategies hear whether it connected.
    pub fn call_ended(&mut self, attempt: &Attempt) {
        self.health.ended(attempt);
        self.learn(attempt);
    }

    /// Number health judges every number at `at`; the new rests, already in force, are returned
    /// to be journalled.
    pub fn judge(&mut self, at: Timestamp) -> Vec<Rest> {
        self.health.judge(at)
    }

    /// A rest an earlier run decided, back in force until it ends.
    pub fn restore_rest(&mut self, rest: Rest) {
        self.health.restore(rest);
    }

    /// How a person should read an opening (see [`CallingHours::describe_opening`]).
    pub fn describe_opening(
        &self,
        zones: &CalleeZones,
        opening: Timestamp,
        now: Timestamp,
    ) -> String {
        self.hours.describe_opening(zones, opening, now)
    }

    /// A call from `caller` starts at `at` (or started, in an earlier run): it counts to caps.
    pub fn record_call(&mut self, caller: &Phone, at: Timestamp) {
        self.caps.record(caller, at);
    }

    /// The call recorded at `at` was never created: it does not count to caps.
    pub fn forget_call(&mut self, caller: &Phone, at: Timestamp) {
        self.caps.forget(caller, at);
    }

    /// The shared store refused a call from `caller` at `at`: other processes used it up.
    pub fn taken_elsewhere(
        &mut self,
        caller: &Phone,
        at: Timestamp,
        taken: crate::caps::Elsewhere,
    ) {
        self.caps.taken_elsewhere(caller, at, taken);
    }

    /// The create request of the call recorded last for `caller` left at `at`.
    pub fn sent(&mut self, caller: &Phone, at: Timestamp) {
        self.caps.sent(caller, at);
    }

    /// An attempt from `caller` ended, connected or not: the rotation's strategies learn it.
    fn learn(&mut self, attempt: &Attempt) {
        if let Some(reach) = attempt.reach().filter(|r| *r != Reach::Unknown) {
            self.rotation.learn(&attempt.caller_id, reach.connected());
        }
    }

    /// Takes a caller ID the API refuses out of rotation; true the first time.
    pub fn retire(&mut self, caller: &Phone) -> bool {
        self.rotation.retire(caller)
    }

    /// The numbers in rotation.
    pub fn numbers(&self) -> Vec<Phone> {
        self.rotation.active().cloned().collect()
    }

    /// The rotation's order as earlier runs left it: each number's latest call.
    pub fn restore(&mut self, latest: impl IntoIterator<Item = (Phone, Timestamp)>) {
        self.rotation.restore(latest);
    }
}
