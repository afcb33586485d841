//! `outdial plan`: the choices `run` would make, without calling anyone. The contacts are read
//! in the same order and given caller IDs by the same rotation, so the planned load per number is
//! what a first run places; on top come what a campaign manager needs before launching: where
//! the pool has no local number (and the search that would find one), and who cannot be called
//! now or ever under the window.
//!
//! Every rule is asked of [`crate::rules::Rules`], the same checks `run` makes before a dial, so
//! the two cannot drift apart. The plan covers the whole contacts file, as a first run would: it
//! does not read the journal, and it records no call to the caps (it says how many days each
//! number's cap stretches over instead).
//!
//! Memory stays bounded however long the file: duplicate rows are found before the plan is
//! made, by an external sort of the phones ([`Repeats`]), instead of a set of every phone.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::area_codes::{AreaCode, Region};
use crate::campaign::Campaign;
use crate::caps::Ledger;
use crate::contacts::{Contact, ContactReader, ContactsError, Row};
use crate::phone::Phone;
use crate::report::CallerTally;
use crate::rotation::{Callee, Locale, Match};
use crate::rules::{CallerCheck, Rules, WindowCheck};
use crate::sorted::{SortedPairs, packed};
use crate::suppression::{Check, DoNotCall, ListCount, SuppressionError};
use crate::window::CalleeZones;

/// What a run of the campaign would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub campaign: String,
    /// Contacts that would be dialled.
    pub contacts: u64,
    /// CSV rows that are not contacts (bad phone, duplicate).
    pub skipped_rows: u64,
    /// Contacts on a do-not-call list.
    pub do_not_call: u64,
    /// How many numbers each do-not-call list gave, in campaign order.
    pub do_not_call_lists: Vec<ListCount>,
    /// Planned first calls per caller ID.
    pub load: BTreeMap<String, PlannedLoad>,
    /// Planned calls per local-presence match.
    pub matches: BTreeMap<Match, u64>,
    /// Share of planned calls from a number with the callee's area code.
    pub local_match_rate: Option<f64>,
    /// Area codes with contacts but no number of that area code in the pool, most contacts first.
    pub gaps: Vec<Gap>,
    /// States or provinces with contacts but no number there, most contacts first.
    pub regions_without_a_number: Vec<RegionGap>,
    pub window: WindowOutlook,
    /// When the last planned first call would start: calls paced at `calls_per_second` from the
    /// moment of planning, each number held to its caps and cooldown (RFC 3339, UTC).
    pub last_call_at: Option<Timestamp>,
    /// How long planning took, in seconds (both reads of the contacts file).
    pub elapsed_seconds: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PlannedLoad {
    #[serde(flatten)]
    pub calls: CallerTally,
    /// Days of calling this load needs at `max_calls_per_number_per_day`, when a cap is set.
    pub days_at_cap: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub area_code: AreaCode,
    pub region: Option<Region>,
    pub contacts: u64,
    /// The command that finds numbers to fill the gap.
    pub search: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionGap {
    pub region: Region,
    pub contacts: u64,
}

/// Who the window lets be called, seen from the moment of planning.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WindowOutlook {
    pub open_now: u64,
    /// Closed now, opening later.
    pub waiting: u64,
    /// The earliest opening among those waiting.
    pub next_opening: Option<String>,
    /// Contacts whose window never opens (within 400 days): outside every window.
    pub never: u64,
    /// Contacts held because their time zone is unknown (`window.unknown_zone = "hold"`).
    pub zone_unknown: u64,
    /// The first such contact's reason, with what to do.
    pub zone_unknown_reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Contacts(#[from] ContactsError),
    #[error(transparent)]
    DoNotCall(#[from] SuppressionError),
    #[error(
        "plan: cannot write its temporary files ({0}) — check the space in the temporary directory (TMPDIR)"
    )]
    Scratch(#[from] io::Error),
}

/// Plans `campaign` over `pool`, as seen at `now`.
pub fn plan(campaign: &Campaign, pool: &[Phone], now: Timestamp) -> Result<Plan, PlanError> {
    let started = Instant::now();
    let repeats = Repeats::find(campaign)?;
    let do_not_call = DoNotCall::load(&campaign.suppress.files, campaign.default_country)?;
    let do_not_call_lists = do_not_call.counts();
    let mut planner = Planner {
        rules: Rules::new(campaign, pool, do_not_call, Ledger::default()),
        campaign,
        now,
        at: now,
        pace: SignedDuration::try_from(campaign.pacing.calls_per_second.interval())
            .unwrap_or(SignedDuration::MAX),
        plan: Plan {
            campaign: campaign.name.clone(),
            do_not_call_lists,
            ..Plan::default()
        },
        area_code_gaps: BTreeMap::new(),
        region_gaps: BTreeMap::new(),
        earliest_opening: None,
    };
    let rows = ContactReader::open(&campaign.contacts, campaign.default_country)?;
    for (index, row) in (0..).zip(rows) {
        match row? {
            Row::Contact(contact) if !repeats.contains(index) => planner.take(contact),
            _ => planner.plan.skipped_rows += 1,
        }
    }
    let mut plan = planner.finish(pool);
    plan.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(plan)
}

/// The data rows (counted from 0, rejected rows included) whose phone an earlier row already
/// has, as `run` skips them. Found by an external sort of (phone, row) pairs ([`SortedPairs`]):
/// the first row of each phone is kept, every later one is a repeat. Memory: the sort's bound,
/// plus one bit per row.
struct Repeats {
    bits: Vec<u64>,
}

impl Repeats {
    fn find(campaign: &Campaign) -> Result<Repeats, PlanError> {
        let mut pairs = SortedPairs::new();
        let mut rows = 0u64;
        for row in ContactReader::open(&campaign.contacts, campaign.default_country)? {
            if let Row::Contact(contact) = row? {
                pairs.push((packed(&contact.phone), rows))?;
            }
            rows += 1;
        }
        let mut repeats = Repeats {
            bits: vec![0; rows.div_ceil(64) as usize],
        };
        let mut previous = None;
        for pair in pairs.sorted()? {
            let (phone, row) = pair?;
            if previous == Some(phone) {
                repeats.bits[(row / 64) as usize] |= 1 << (row % 64);
            }
            previous = Some(phone);
        }
        Ok(repeats)
    }

    fn contains(&self, row: u64) -> bool {
        self.bits
            .get((row / 64) as usize)
            .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }
}

struct Planner<'a> {
    campaign: &'a Campaign,
    rules: Rules,
    now: Timestamp,
    /// The moment of the next planned call: the plan moves through time as a run does, one
    /// call per `pace`, so caps and cooldowns bite as they will.
    at: Timestamp,
    pace: SignedDuration,
    plan: Plan,
    area_code_gaps: BTreeMap<AreaCode, (Option<Region>, u64)>,
    region_gaps: BTreeMap<Region, u64>,
    earliest_opening: Option<(Timestamp, CalleeZones)>,
}

impl Planner<'_> {
    /// A contact of a row that is no repeat of an earlier one.
    fn take(&mut self, contact: Contact) {
        if let Check::Listed(_) = self.rules.do_not_call(&contact.phone) {
            self.plan.do_not_call += 1;
            return;
        }
        let zones = match self.rules.zones(&contact) {
            Ok(zones) => zones,
            Err(unplaced) => {
                let window = &mut self.plan.window;
                window.zone_unknown += 1;
                window
                    .zone_unknown_reason
                    .get_or_insert(unplaced.to_string());
                return;
            }
        };
        self.plan.contacts += 1;
        self.outlook(zones);
        let callee = Callee {
            phone: contact.phone.clone(),
            locale: Locale::of_contact(&contact),
            previous: None,
        };
        if let Some(choice) = self.next_call(&callee) {
            let load = self
                .plan
                .load
                .entry(choice.caller_id.to_string())
                .or_default();
            load.calls.calls += 1;
            load.calls.local += u64::from(choice.local_match == Match::AreaCode);
            *self.plan.matches.entry(choice.local_match).or_default() += 1;
            self.note_gap(&callee.locale, choice.local_match);
        }
    }

    /// The caller ID of `callee`'s first call, at the planned moment: when every number is at
    /// its cap or in its cooldown, the plan waits, as the run would, until one frees up.
    fn next_call(&mut self, callee: &Callee) -> Option<crate::rotation::Choice> {
        loop {
            match self.rules.claim_caller_id(callee, self.at) {
                CallerCheck::Free(choice) => {
                    self.plan.last_call_at = Some(self.at);
                    self.at = self.at.saturating_add(self.pace).unwrap_or(self.at);
                    return Some(choice);
                }
                CallerCheck::FreeAt(moment) if moment > self.at => self.at = moment,
                CallerCheck::FreeAt(_) | CallerCheck::PoolExhausted => return None,
            }
        }
    }

    fn outlook(&mut self, zones: CalleeZones) {
        let window = &mut self.plan.window;
        match self.rules.window(&zones, self.now) {
            WindowCheck::Open => window.open_now += 1,
            WindowCheck::OpensAt(opening) => {
                window.waiting += 1;
                if self
                    .earliest_opening
                    .as_ref()
                    .is_none_or(|(at, _)| opening < *at)
                {
                    self.earliest_opening = Some((opening, zones));
                }
            }
            WindowCheck::Never => window.never += 1,
        }
    }

    /// A contact whose caller ID is not of its area code shows a gap in the pool.
    fn note_gap(&mut self, callee: &Locale, matched: Match) {
        if matched == Match::AreaCode {
            return;
        }
        if let Some(code) = callee.area_code {
            self.area_code_gaps
                .entry(code)
                .or_insert((callee.region.clone(), 0))
                .1 += 1;
        }
        if matched != Match::Region
            && let Some(region) = &callee.region
        {
            *self.region_gaps.entry(region.clone()).or_default() += 1;
        }
    }

    fn finish(mut self, pool: &[Phone]) -> Plan {
        let pooled: HashSet<AreaCode> = pool.iter().filter_map(Phone::area_code).collect();
        let mut gaps: Vec<Gap> = self
            .area_code_gaps
            .into_iter()
            .filter(|(code, _)| !pooled.contains(code))
            .map(|(area_code, (region, contacts))| Gap {
                area_code,
                region,
                contacts,
                search: format!("outdial numbers search --area-code {area_code}"),
            })
            .collect();
        gaps.sort_by(|a, b| {
            b.contacts
                .cmp(&a.contacts)
                .then(a.area_code.cmp(&b.area_code))
        });
        let mut regions: Vec<RegionGap> = self
            .region_gaps
            .into_iter()
            .map(|(region, contacts)| RegionGap { region, contacts })
            .collect();
        regions.sort_by(|a, b| b.contacts.cmp(&a.contacts).then(a.region.cmp(&b.region)));
        self.plan.local_match_rate = crate::report::local_match_rate(&self.plan.matches);
        self.plan.gaps = gaps;
        self.plan.regions_without_a_number = regions;
        self.plan.window.next_opening = self
            .earliest_opening
            .map(|(at, zones)| self.rules.describe_opening(&zones, at, self.now));
        if let Some(cap) = self.campaign.rotation.max_calls_per_number_per_day {
            for load in self.plan.load.values_mut() {
                load.days_at_cap = Some(load.calls.calls.div_ceil(u64::from(cap.get())));
            }
        }
        self.plan
    }
}
