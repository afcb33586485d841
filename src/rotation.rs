//! Caller-ID rotation (SPEC §4): which of the agent's numbers each call goes out from.
//!
//! `region` is local presence: a number with the callee's area code, else one in the callee's
//! state or province, else one in the callee's time zone, else any; among equals the least
//! recently used. `round-robin` cycles through the pool in order. Both skip numbers the caller
//! says are not eligible (caps, cooldown) and numbers retired for the run. Plain synchronous code:
//! the dialer owns one `Rotation` and asks it for each call.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::area_codes::{self, AreaCode, Region};
use crate::campaign::Strategy;
use crate::contacts::Contact;
use crate::history::LocalMoment;
use crate::phone::Phone;

/// How local a caller ID is to its callee, from most to least local.
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

/// The callee of one call: where they are, and the caller ID of their previous attempt.
#[derive(Debug, Clone)]
pub struct Callee {
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

/// The pool and its usage order.
pub struct Rotation {
    strategy: Strategy,
    numbers: Vec<Number>,
    index: HashMap<Phone, usize>,
    /// Logical clock: each use stamps the number with the next tick; 0 means never used.
    clock: u64,
    /// Round-robin: where the next search starts.
    cursor: usize,
    /// Least-recently-used order within each local-presence group.
    by_area_code: HashMap<AreaCode, Lru>,
    by_region: HashMap<Region, Lru>,
    by_time_zone: HashMap<String, Lru>,
    everyone: Lru,
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
}

impl Rotation {
    /// A rotation over `pool` (duplicates are dropped; order is kept for round-robin).
    pub fn new(strategy: Strategy, pool: &[Phone]) -> Rotation {
        let mut rotation = Rotation {
            strategy,
            numbers: Vec::with_capacity(pool.len()),
            index: HashMap::with_capacity(pool.len()),
            clock: 0,
            cursor: 0,
            by_area_code: HashMap::new(),
            by_region: HashMap::new(),
            by_time_zone: HashMap::new(),
            everyone: Lru::default(),
        };
        for phone in pool {
            if !rotation.index.contains_key(phone) {
                rotation.add(phone.clone());
            }
        }
        rotation
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

    /// The numbers not retired, in order.
    pub fn active(&self) -> impl Iterator<Item = &Phone> {
        self.numbers.iter().filter(|n| !n.retired).map(|n| &n.phone)
    }

    /// Picks the caller ID for one call and counts it as used. `None` when no number is eligible.
    pub fn choose(&mut self, callee: &Callee, eligible: impl Fn(&Phone) -> bool) -> Option<Choice> {
        let usable = |n: &Number| !n.retired && eligible(&n.phone);
        let sticky = callee
            .previous
            .as_ref()
            .and_then(|p| self.index_of(p))
            .filter(|&i| usable(&self.numbers[i]));
        let index = sticky.or_else(|| match self.strategy {
            Strategy::RoundRobin => self.next_in_turn(&usable),
            Strategy::Region => self.most_local(&callee.locale, &usable),
        })?;
        self.mark_used(index);
        let number = &self.numbers[index];
        Some(Choice {
            caller_id: number.phone.clone(),
            local_match: Match::between(&callee.locale, &number.locale),
            local: None,
        })
    }

    /// Takes a number out of the rotation for the rest of the run (e.g. the API refused it).
    pub fn retire(&mut self, phone: &Phone) -> bool {
        match self.index_of(phone) {
            Some(i) if !self.numbers[i].retired => {
                self.numbers[i].retired = true;
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
            .filter_map(|(phone, at)| Some((at, self.index_of(&phone)?)))
            .collect();
        uses.sort();
        for (_, index) in uses {
            self.mark_used(index);
        }
    }

    fn next_in_turn(&mut self, usable: &impl Fn(&Number) -> bool) -> Option<usize> {
        let len = self.numbers.len();
        (0..len)
            .map(|step| (self.cursor + step) % len)
            .find(|&i| usable(&self.numbers[i]))
    }

    fn most_local(&self, callee: &Locale, usable: &impl Fn(&Number) -> bool) -> Option<usize> {
        let first = |group: Option<&Lru>| group.and_then(|g| g.first(&self.numbers, usable));
        let by_zone = || {
            callee
                .time_zones
                .iter()
                .filter_map(|z| first(self.by_time_zone.get(z)))
                .min()
        };
        first(callee.area_code.and_then(|a| self.by_area_code.get(&a)))
            .or_else(|| first(callee.region.as_ref().and_then(|r| self.by_region.get(r))))
            .or_else(by_zone)
            .or_else(|| first(Some(&self.everyone)))
            .map(|(_, index)| index)
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
        self.cursor = (index + 1) % self.numbers.len();
    }

    /// The LRU groups a number with `locale` belongs to (created on first sight).
    fn groups_of(&mut self, locale: &Locale) -> Vec<&mut Lru> {
        for zone in &locale.time_zones {
            self.by_time_zone.entry(zone.clone()).or_default();
        }
        let Rotation {
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

impl Lru {
    /// The least recently used usable number: its (last use, index).
    fn first(&self, numbers: &[Number], usable: &impl Fn(&Number) -> bool) -> Option<(u64, usize)> {
        self.0.iter().find(|(_, i)| usable(&numbers[*i])).copied()
    }
}
