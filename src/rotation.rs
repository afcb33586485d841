//! Caller-ID rotation (SPEC §4): which of the agent's numbers each call goes out from.
//!
//! The rotation keeps the pool (each number's place, when it was last used, whether it is
//! retired) and enforces what no strategy may break: a retired number, or one the rules say is
//! not eligible (caps, cooldown, a health rest), is never chosen, and a redial stays on its
//! previous number while that one is usable (sticky). Among the rest a [`Strategy`] picks:
//!
//! - `region` ([`RegionStrategy`]): local presence, tier by tier in the configured order (area
//!   code, state or province, time zone, any), ties broken by least recent use or by fewest
//!   calls today;
//! - `round-robin` ([`RoundRobin`]): the pool in order;
//! - `weighted` ([`Weighted`]): Thompson sampling on each number's recent connection rate, within
//!   the best tier that has a usable number.
//!
//! With `[rotation] arms`, contacts are split between strategies by a hash of their phone (A/B
//! arms); the arms share the pool and its order. Plain synchronous code: the dialer owns one
//! `Rotation` (through its rules) and asks it for each call.

mod region;
mod round_robin;
mod weighted;

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::area_codes::{self, AreaCode, Region};
use crate::campaign::{RotationPolicy, Strategy as Named};
use crate::contacts::Contact;
use crate::history::LocalMoment;
use crate::phone::Phone;

pub use region::RegionStrategy;
pub use round_robin::RoundRobin;
pub use weighted::{REMEMBERED, Weighted};

/// How local a caller ID is to its callee, from most to least local: also the tiers of local
/// presence a strategy goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    AreaCode,
    Region,
    TimeZone,
    Other,
}

/// Where a phone is, as far as local presence goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Locale {
    pub area_code: Option<AreaCode>,
    pub region: Option<Region>,
    pub time_zones: Vec<String>,
}

/// The callee of one call: who, where they are, and the caller ID of their previous attempt.
#[derive(Debug, Clone)]
pub struct Callee {
    /// Decides the callee's A/B arm.
    pub phone: Phone,
    pub locale: Locale,
    /// Retries stay on this number while it is in the pool and eligible (sticky).
    pub previous: Option<Phone>,
}

/// The rotation's answer for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub caller_id: Phone,
    pub local_match: Match,
    /// The callee's local hour and weekday at the moment of the choice, for the attempt
    /// history; the rules fill it in, as only they know the callee's zones.
    pub local: Option<LocalMoment>,
}

/// One way of picking a caller ID among the usable numbers of the pool. A strategy only ever
/// sees numbers it may choose: the rotation has already ruled out retired numbers and those the
/// rules make ineligible, and handled sticky redials, so no strategy can break a cap, a
/// cooldown or a rest. See the README's "Adding a strategy".
pub trait Strategy: Send {
    /// The index (in `pool`) of the number for `ask`'s callee, among the usable ones; `None`
    /// when none is usable.
    fn pick(&mut self, pool: &Pool, ask: &Ask<'_>) -> Option<usize>;

    /// The number at `index` was chosen, by this strategy or not (a sticky redial, another arm).
    fn used(&mut self, _index: usize) {}

    /// An attempt from the number at `index` ended, connected or not (see [`crate::history`]).
    fn learn(&mut self, _index: usize, _connected: bool) {}
}

/// What a strategy is asked: for whom, which numbers it may use, and how loaded each is today.
pub struct Ask<'a> {
    pub callee: &'a Locale,
    pub usable: &'a dyn Fn(usize) -> bool,
    /// Calls started today by the number at an index, as the caps count them.
    pub used_today: &'a dyn Fn(&Phone) -> u32,
}

/// The pool every strategy shares: the numbers, their places, and their usage order.
pub struct Pool {
    numbers: Vec<Number>,
    index: HashMap<Phone, usize>,
    /// Logical clock: each use stamps the number with the next tick; 0 means never used.
    clock: u64,
    /// Least-recently-used order within each local-presence group.
    by_area_code: HashMap<AreaCode, Lru>,
    by_region: HashMap<Region, Lru>,
    by_time_zone: HashMap<String, Lru>,
    everyone: Lru,
}

/// The pool and the strategies (one per A/B arm) that choose from it.
pub struct Rotation {
    pool: Pool,
    arms: Vec<Box<dyn Strategy>>,
}

struct Number {
    phone: Phone,
    locale: Locale,
    last_used: u64,
    retired: bool,
}

/// Numbers ordered by last use: the first eligible one is the least recently used.
#[derive(Default)]
struct Lru(BTreeSet<(u64, usize)>);

impl Locale {
    /// Where a number is, from the area-code table.
    pub fn of_number(phone: &Phone) -> Locale {
        let area_code = phone.area_code();
        let place = area_code.and_then(area_codes::place);
        Locale {
            area_code,
            region: place.and_then(|p| p.region.clone()),
            time_zones: place.map(|p| p.time_zones.clone()).unwrap_or_default(),
        }
    }

    /// Where a contact is: the CSV's `region` and `timezone` columns override the table.
    pub fn of_contact(contact: &Contact) -> Locale {
        let mut locale = Locale::of_number(&contact.phone);
        if let Some(region) = &contact.region {
            locale.region = Some(region.clone());
        }
        if let Some(zone) = &contact.time_zone {
            locale.time_zones = vec![zone.clone()];
        }
        locale
    }
}

impl Match {
    /// Every tier, most local first: the default order of `[rotation] tiers`.
    pub const TIERS: [Match; 4] = [
        Match::AreaCode,
        Match::Region,
        Match::TimeZone,
        Match::Other,
    ];

    /// How local `caller` is to `callee`.
    pub fn between(callee: &Locale, caller: &Locale) -> Match {
        fn same<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            a.is_some() && a == b
        }
        if same(&callee.area_code, &caller.area_code) {
            Match::AreaCode
        } else if same(&callee.region, &caller.region) {
            Match::Region
        } else if callee
            .time_zones
            .iter()
            .any(|z| caller.time_zones.contains(z))
        {
            Match::TimeZone
        } else {
            Match::Other
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Match::AreaCode => "area code",
            Match::Region => "state/province",
            Match::TimeZone => "time zone",
            Match::Other => "none",
        }
    }

    /// The tier as `[rotation] tiers` writes it.
    pub fn key(self) -> &'static str {
        match self {
            Match::AreaCode => "area_code",
            Match::Region => "state",
            Match::TimeZone => "time_zone",
            Match::Other => "any",
        }
    }
}

impl Pool {
    fn new(pool: &[Phone]) -> Pool {
        let mut this = Pool {
            numbers: Vec::with_capacity(pool.len()),
            index: HashMap::with_capacity(pool.len()),
            clock: 0,
            by_area_code: HashMap::new(),
            by_region: HashMap::new(),
            by_time_zone: HashMap::new(),
            everyone: Lru::default(),
        };
        for phone in pool {
            if !this.index.contains_key(phone) {
                this.add(phone.clone());
            }
        }
        this
    }

    fn add(&mut self, phone: Phone) {
        let index = self.numbers.len();
        let locale = Locale::of_number(&phone);
        for group in self.groups_of(&locale) {
            group.0.insert((0, index));
        }
        self.index.insert(phone.clone(), index);
        self.numbers.push(Number {
            phone,
            locale,
            last_used: 0,
            retired: false,
        });
    }

    /// How many numbers the pool has, retired ones included.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    pub fn phone(&self, index: usize) -> &Phone {
        &self.numbers[index].phone
    }

    /// The tick of the number's latest use (0: never used); a later use has a larger tick.
    pub fn last_used(&self, index: usize) -> u64 {
        self.numbers[index].last_used
    }

    /// How local the number at `index` is to `callee`.
    pub fn tier_of(&self, index: usize, callee: &Locale) -> Match {
        Match::between(callee, &self.numbers[index].locale)
    }

    /// The least recently used usable number exactly in `tier` for `callee` (or, for
    /// [`Match::Other`], anywhere in the pool).
    pub fn least_recent_in(
        &self,
        tier: Match,
        callee: &Locale,
        usable: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        self.groups_for(tier, callee)
            .filter_map(|group| group.0.iter().find(|(_, i)| usable(*i)).copied())
            .min()
            .map(|(_, index)| index)
    }

    /// Every usable number of `tier` for `callee` (see [`Pool::least_recent_in`]); a number in
    /// several of the callee's zones comes once per zone.
    pub fn usable_in<'a>(
        &'a self,
        tier: Match,
        callee: &'a Locale,
        usable: &'a dyn Fn(usize) -> bool,
    ) -> impl Iterator<Item = usize> + 'a {
        self.groups_for(tier, callee)
            .flat_map(|group| group.0.iter().map(|(_, index)| *index))
            .filter(move |index| usable(*index))
    }

    /// The LRU groups that hold `tier`'s numbers for `callee`.
    fn groups_for<'a>(&'a self, tier: Match, callee: &'a Locale) -> impl Iterator<Item = &'a Lru> {
        let groups: Vec<&Lru> = match tier {
            Match::AreaCode => callee
                .area_code
                .and_then(|code| self.by_area_code.get(&code))
                .into_iter()
                .collect(),
            Match::Region => callee
                .region
                .as_ref()
                .and_then(|region| self.by_region.get(region))
                .into_iter()
                .collect(),
            Match::TimeZone => callee
                .time_zones
                .iter()
                .filter_map(|zone| self.by_time_zone.get(zone))
                .collect(),
            Match::Other => vec![&self.everyone],
        };
        groups.into_iter()
    }

    fn mark_used(&mut self, index: usize) {
        self.clock += 1;
        let (old, new) = (self.numbers[index].last_used, self.clock);
        let locale = self.numbers[index].locale.clone();
        for group in self.groups_of(&locale) {
            group.0.remove(&(old, index));
            group.0.insert((new, index));
        }
        self.numbers[index].last_used = new;
    }

    /// The LRU groups a number with `locale` belongs to (created on first sight).
    fn groups_of(&mut self, locale: &Locale) -> Vec<&mut Lru> {
        for zone in &locale.time_zones {
            self.by_time_zone.entry(zone.clone()).or_default();
        }
        let Pool {
            by_area_code,
            by_region,
            by_time_zone,
            everyone,
            ..
        } = self;
        let mut groups = vec![everyone];
        if let Some(code) = locale.area_code {
            groups.push(by_area_code.entry(code).or_default());
        }
        if let Some(region) = &locale.region {
            groups.push(by_region.entry(region.clone()).or_default());
        }
        let zones = by_time_zone
            .iter_mut()
            .filter(|(zone, _)| locale.time_zones.contains(zone));
        groups.extend(zones.map(|(_, lru)| lru));
        groups
    }

    fn index_of(&self, phone: &Phone) -> Option<usize> {
        self.index.get(phone).copied()
    }
}

impl Rotation {
    /// A rotation over `pool` (duplicates are dropped; order is kept for round-robin) by one
    /// strategy, with the default tiers and tie-break.
    pub fn new(strategy: Named, pool: &[Phone]) -> Rotation {
        let policy = RotationPolicy {
            strategy,
            ..RotationPolicy::default()
        };
        Rotation::of_policy(&policy, pool, 0)
    }

    /// The rotation `policy` describes: its strategy, or one per A/B arm. `seed` makes the
    /// weighted strategy's draws repeatable.
    pub fn of_policy(policy: &RotationPolicy, pool: &[Phone], seed: u64) -> Rotation {
        let names = match policy.arms.is_empty() {
            true => vec![policy.strategy],
            false => policy.arms.clone(),
        };
        let arms = names
            .iter()
            .enumerate()
            .map(|(arm, name)| strategy(*name, policy, seed.wrapping_add(arm as u64)))
            .collect();
        Rotation {
            pool: Pool::new(pool),
            arms,
        }
    }

    /// The numbers not retired, in order.
    pub fn active(&self) -> impl Iterator<Item = &Phone> {
        self.pool
            .numbers
            .iter()
            .filter(|n| !n.retired)
            .map(|n| &n.phone)
    }

    /// Picks the caller ID for one call and counts it as used. `None` when no number is eligible.
    pub fn choose(&mut self, callee: &Callee, eligible: impl Fn(&Phone) -> bool) -> Option<Choice> {
        self.choose_loaded(callee, eligible, |_| 0)
    }

    /// [`Rotation::choose`], telling the strategy how many calls each number made today.
    pub fn choose_loaded(
        &mut self,
        callee: &Callee,
        eligible: impl Fn(&Phone) -> bool,
        used_today: impl Fn(&Phone) -> u32,
    ) -> Option<Choice> {
        let numbers = &self.pool.numbers;
        let usable = |i: usize| !numbers[i].retired && eligible(&numbers[i].phone);
        let sticky = callee
            .previous
            .as_ref()
            .and_then(|p| self.pool.index_of(p))
            .filter(|&i| usable(i));
        let arm = arm_of(&callee.phone, self.arms.len());
        let index = sticky.or_else(|| {
            let ask = Ask {
                callee: &callee.locale,
                usable: &usable,
                used_today: &used_today,
            };
            self.arms[arm].pick(&self.pool, &ask)
        })?;
        // A strategy answers for usable numbers only; the rotation holds it to that.
        if !usable(index) {
            return None;
        }
        self.pool.mark_used(index);
        for strategy in &mut self.arms {
            strategy.used(index);
        }
        let number = &self.pool.numbers[index];
        Some(Choice {
            caller_id: number.phone.clone(),
            local_match: Match::between(&callee.locale, &number.locale),
            local: None,
        })
    }

    /// An attempt from `caller` ended, connected or not: the strategies that learn, learn.
    pub fn learn(&mut self, caller: &Phone, connected: bool) {
        if let Some(index) = self.pool.index_of(caller) {
            for strategy in &mut self.arms {
                strategy.learn(index, connected);
            }
        }
    }

    /// Takes a number out of the rotation for the rest of the run (e.g. the API refused it).
    pub fn retire(&mut self, phone: &Phone) -> bool {
        match self.pool.index_of(phone) {
            Some(i) if !self.pool.numbers[i].retired => {
                self.pool.numbers[i].retired = true;
                true
            }
            _ => false,
        }
    }

    /// Replays earlier use (from the journal) so that a resumed run continues the same order:
    /// `latest` holds each number's most recent use, in any order, as comparable instants.
    pub fn restore<T: Ord>(&mut self, latest: impl IntoIterator<Item = (Phone, T)>) {
        let mut uses: Vec<(T, usize)> = latest
            .into_iter()
            .filter_map(|(phone, at)| Some((at, self.pool.index_of(&phone)?)))
            .collect();
        uses.sort();
        for (_, index) in uses {
            self.pool.mark_used(index);
            for strategy in &mut self.arms {
                strategy.used(index);
            }
        }
    }
}

/// The A/B arm of a callee among `arms`: a hash of the phone, so a contact stays in its arm
/// across runs and processes, whatever the order contacts come in.
pub fn arm_of(phone: &Phone, arms: usize) -> usize {
    let hash = xxhash_rust::xxh3::xxh3_64(phone.as_str().as_bytes());
    (hash % arms.max(1) as u64) as usize
}

/// The strategy named `name`, configured by `policy`.
fn strategy(name: Named, policy: &RotationPolicy, seed: u64) -> Box<dyn Strategy> {
    match name {
        Named::Region => Box::new(RegionStrategy::new(policy.tiers.clone(), policy.tie_break)),
        Named::RoundRobin => Box::new(RoundRobin::default()),
        Named::Weighted => Box::new(Weighted::new(policy.tiers.clone(), seed)),
    }
}
