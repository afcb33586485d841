//! The simulated numbers vendor's state (Flowyte, CONTRACT Part B): numbers for sale, holds on
//! them, the numbers the organisation owns, the prepaid wallet, agents' published versions and
//! the answers remembered under idempotency keys. Plain synchronous code that knows nothing of
//! HTTP and is told the time, so hold expiry is tested by passing a later instant.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::config::SandboxConfig;
use super::inventory;
use crate::area_codes::AreaCode;
use crate::phone::Phone;

/// How long a hold lasts ("holds ~30 min", CONTRACT B.1).
pub(crate) const HOLD: Duration = Duration::from_secs(30 * 60);

/// An amount of US dollars, kept in cents (the wallet's unit: 1 credit = 1 cent) so sums are
/// exact. Written `50`, `12.5` or `0.99` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Usd(u64);

/// Why a `--wallet` value is not an amount of dollars.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an amount of US dollars: write e.g. 50 or 12.50 (at most two decimals)")]
pub struct UsdError(String);

/// A number type, as the vendor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Local,
    TollFree,
    Mobile,
    National,
}

/// A number capability, as the vendor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feature {
    Voice,
    Sms,
    Mms,
    Fax,
    Emergency,
}

/// One number for sale.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub e164: Phone,
    pub kind: Kind,
    /// City (or state name); `None` for toll-free.
    pub locality: Option<String>,
    /// Two-letter state or province; `None` for toll-free.
    pub region: Option<String>,
    /// `US` or `CA`; `None` for toll-free, which serves both.
    pub country: Option<&'static str>,
    pub features: Vec<Feature>,
    pub monthly: Usd,
    pub setup: Usd,
}

/// A `GET /numbers/search` query, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Search {
    pub country: Option<String>,
    pub area_code: Option<AreaCode>,
    pub locality: Option<String>,
    pub administrative_area: Option<String>,
    pub kind: Option<Kind>,
    pub features: Vec<Feature>,
    /// Digit patterns, matched against the ten national digits.
    pub contains: Option<String>,
    pub starts_with: Option<String>,
    pub ends_with: Option<String>,
    pub best_effort: bool,
    pub limit: usize,
}

/// A free hold on a number for sale, until `expires_ms`.
#[derive(Debug, Clone)]
pub(crate) struct Hold {
    pub id: String,
    pub e164: Phone,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// A number the organisation owns, bought or imported.
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    pub id: String,
    pub e164: Phone,
    pub provider: String,
    /// The agent answering the number; `None` is the vendor's `status: available`.
    pub agent: Option<String>,
    pub monthly: Usd,
    pub created_ms: i64,
}

/// One published version of an agent.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub agent: String,
    pub number: u64,
    pub note: Option<String>,
    pub at_ms: i64,
}

/// A successful answer kept under its idempotency key, with the request body it answered, so a
/// repeat gets the same answer and a different body under the same key can be refused.
#[derive(Debug, Clone)]
pub(crate) struct Remembered {
    pub request: Value,
    pub status: u16,
    pub body: Value,
}

/// Why the vendor refuses a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("{0} is not in the inventory")]
    UnknownNumber(Phone),
    #[error("{0} is held by another reservation")]
    Held(Phone),
    #[error("{0} has been sold")]
    Sold(Phone),
    #[error(
        "reservation {id} is not an active hold on {e164}: it expired or is for another number"
    )]
    StaleReservation { id: String, e164: Phone },
    #[error("no active reservation {0}")]
    UnknownReservation(String),
    #[error("wallet balance ${balance} is below the ${needed} this purchase costs")]
    Insufficient { needed: Usd, balance: Usd },
    #[error("no number {0} in this organisation")]
    UnknownOwned(String),
    #[error("no agent {0} in this organisation")]
    UnknownAgent(String),
    #[error("{0} is already a number of this organisation")]
    AlreadyOwned(Phone),
    #[error("{0} is in Flowyte's own inventory: buy it instead of importing it")]
    ForSale(Phone),
}

/// Everything the simulated numbers vendor remembers, behind one lock in the server.
#[derive(Debug)]
pub(crate) struct Market {
    /// For sale, by number (so searches list in number order); sold numbers leave.
    listings: BTreeMap<Phone, Listing>,
    /// Active and lapsed holds; lapsed ones are dropped at the next change.
    holds: Vec<Hold>,
    /// By id.
    owned: BTreeMap<String, Owned>,
    balance: Usd,
    /// Every agent the sandbox serves, with its published versions.
    agents: HashMap<String, Vec<Version>>,
    /// By (operation, key).
    remembered: HashMap<(String, String), Remembered>,
    api_key: Option<String>,
    /// Seeded, so a replayed run hands out the same reservation and number ids.
    ids: StdRng,
}

impl Market {
    pub fn new(config: &SandboxConfig) -> Market {
        let listings = inventory::generate(config.inventory, config.seed);
        Market {
            listings: listings.into_iter().map(|l| (l.e164.clone(), l)).collect(),
            holds: Vec::new(),
            owned: BTreeMap::new(),
            balance: config.wallet,
            agents: config
                .agents_or_demo()
                .into_iter()
                .map(|agent| (agent.id, Vec::new()))
                .collect(),
            remembered: HashMap::new(),
            api_key: config.api_key.clone(),
            ids: StdRng::seed_from_u64(config.seed ^ 0x666c_6f77_7974_6521),
        }
    }

    /// Whether `token` (already known to be non-empty) may use the API.
    pub fn accepts(&self, token: &str) -> bool {
        self.api_key.as_deref().is_none_or(|key| key == token)
    }

    /// The numbers `query` finds at `now`, held ones left out. With best effort, a query that
    /// finds nothing is widened step by step (see [`Search::ladder`]) until one finds something.
    pub fn search(&self, query: &Search, now_ms: i64) -> Vec<&Listing> {
        for step in query.ladder(self) {
            let found: Vec<&Listing> = self
                .listings
                .values()
                .filter(|listing| {
                    step.matches(listing) && self.hold_on(&listing.e164, now_ms).is_none()
                })
                .take(query.limit)
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    /// Holds `e164` for [`HOLD`] from `now`.
    pub fn reserve(&mut self, e164: &Phone, now_ms: i64) -> Result<&Hold, Refusal> {
        self.drop_lapsed(now_ms);
        self.for_sale(e164)?;
        if self.hold_on(e164, now_ms).is_some() {
            return Err(Refusal::Held(e164.clone()));
        }
        let hold = Hold {
            id: self.new_id("res"),
            e164: e164.clone(),
            created_ms: now_ms,
            expires_ms: now_ms.saturating_add(HOLD.as_millis() as i64),
        };
        self.holds.push(hold);
        Ok(self.holds.last().expect("just pushed"))
    }

    /// Ends the hold `id` before it lapses.
    pub fn unreserve(&mut self, id: &str, now_ms: i64) -> Result<Hold, Refusal> {
        self.drop_lapsed(now_ms);
        let index = self
            .holds
            .iter()
            .position(|hold| hold.id == id)
            .ok_or_else(|| Refusal::UnknownReservation(id.to_owned()))?;
        Ok(self.holds.remove(index))
    }

    /// Buys `e164`, under `reservation` when it is held, debiting setup and the first month.
    pub fn purchase(
        &mut self,
        e164: &Phone,
        reservation: Option<&str>,
        now_ms: i64,
    ) -> Result<&Owned, Refusal> {
        self.drop_lapsed(now_ms);
        let listing = self.for_sale(e164)?;
        let price = listing.setup.plus(listing.monthly);
        let monthly = listing.monthly;
        match (self.hold_on(e164, now_ms), reservation) {
            (Some(hold), Some(id)) if hold.id == id => {}
            (Some(_), _) => return Err(Refusal::Held(e164.clone())),
            (None, Some(id)) => {
                return Err(Refusal::StaleReservation {
                    id: id.to_owned(),
                    e164: e164.clone(),
                });
            }
            (None, None) => {}
        }
        let balance = self.balance;
        self.balance = balance.minus(price).ok_or(Refusal::Insufficient {
            needed: price,
            balance,
        })?;
        self.listings.remove(e164);
        self.holds.retain(|hold| hold.e164 != *e164);
        let owned = Owned {
            id: self.new_id("num"),
            e164: e164.clone(),
            provider: "flowyte".to_owned(),
            agent: None,
            monthly,
            created_ms: now_ms,
        };
        Ok(self.keep(owned))
    }

    /// Brings in a number from the organisation's own carrier: no charge, no inventory change.
    pub fn import(
        &mut self,
        e164: &Phone,
        provider: &str,
        agent: Option<&str>,
        now_ms: i64,
    ) -> Result<&Owned, Refusal> {
        if self.owned.values().any(|owned| owned.e164 == *e164) {
            return Err(Refusal::AlreadyOwned(e164.clone()));
        }
        if self.listings.contains_key(e164) {
            return Err(Refusal::ForSale(e164.clone()));
        }
        if let Some(agent) = agent {
            self.known_agent(agent)?;
        }
        let owned = Owned {
            id: self.new_id("num"),
            e164: e164.clone(),
            provider: provider.to_owned(),
            agent: agent.map(str::to_owned),
            monthly: Usd::default(),
            created_ms: now_ms,
        };
        Ok(self.keep(owned))
    }

    /// The numbers the organisation owns, by id.
    pub fn owned(&self) -> impl Iterator<Item = &Owned> {
        self.owned.values()
    }

    /// Makes `agent` answer number `id`.
    pub fn assign(&mut self, id: &str, agent: &str) -> Result<&Owned, Refusal> {
        self.known_agent(agent)?;
        let owned = self.owned_mut(id)?;
        owned.agent = Some(agent.to_owned());
        Ok(owned)
    }

    /// Takes the agent off number `id`; the number stays owned (and billed).
    pub fn unassign(&mut self, id: &str) -> Result<&Owned, Refusal> {
        let owned = self.owned_mut(id)?;
        owned.agent = None;
        Ok(owned)
    }

    /// Gives number `id` back to the carrier, for good: it is neither owned nor for sale after.
    pub fn release(&mut self, id: &str) -> Result<Owned, Refusal> {
        self.owned
            .remove(id)
            .ok_or_else(|| Refusal::UnknownOwned(id.to_owned()))
    }

    pub fn balance(&self) -> Usd {
        self.balance
    }

    /// Freezes a new version of `agent`, numbered from 1.
    pub fn publish(
        &mut self,
        agent: &str,
        note: Option<String>,
        now_ms: i64,
    ) -> Result<&Version, Refusal> {
        let versions = self
            .agents
            .get_mut(agent)
            .ok_or_else(|| Refusal::UnknownAgent(agent.to_owned()))?;
        versions.push(Version {
            agent: agent.to_owned(),
            number: versions.len() as u64 + 1,
            note,
            at_ms: now_ms,
        });
        Ok(versions.last().expect("just pushed"))
    }

    /// The answer kept under `key` for `operation`, if any.
    pub fn recall(&self, operation: &str, key: &str) -> Option<&Remembered> {
        self.remembered.get(&(operation.to_owned(), key.to_owned()))
    }

    pub fn remember(&mut self, operation: &str, key: &str, answer: Remembered) {
        self.remembered
            .insert((operation.to_owned(), key.to_owned()), answer);
    }

    /// A fresh id for a refusal's `instance`.
    pub fn request_id(&mut self) -> String {
        self.new_id("req")
    }

    /// The listing of a number that can still be bought; a sold one is told apart from one
    /// that never existed, since the first is a conflict and the second a typo.
    fn for_sale(&self, e164: &Phone) -> Result<&Listing, Refusal> {
        self.listings.get(e164).ok_or_else(|| {
            if self.owned.values().any(|owned| owned.e164 == *e164) {
                Refusal::Sold(e164.clone())
            } else {
                Refusal::UnknownNumber(e164.clone())
            }
        })
    }

    fn hold_on(&self, e164: &Phone, now_ms: i64) -> Option<&Hold> {
        self.holds
            .iter()
            .find(|hold| hold.e164 == *e164 && hold.expires_ms > now_ms)
    }

    fn drop_lapsed(&mut self, now_ms: i64) {
        self.holds.retain(|hold| hold.expires_ms > now_ms);
    }

    fn known_agent(&self, agent: &str) -> Result<(), Refusal> {
        if self.agents.contains_key(agent) {
            Ok(())
        } else {
            Err(Refusal::UnknownAgent(agent.to_owned()))
        }
    }

    fn owned_mut(&mut self, id: &str) -> Result<&mut Owned, Refusal> {
        self.owned
            .get_mut(id)
            .ok_or_else(|| Refusal::UnknownOwned(id.to_owned()))
    }

    fn keep(&mut self, owned: Owned) -> &Owned {
        let id = owned.id.clone();
        self.owned.entry(id).or_insert(owned)
    }

    /// `res_…` or `num_…` with 16 hex digits.
    fn new_id(&mut self, prefix: &str) -> String {
        format!("{prefix}_{:016x}", self.ids.random::<u64>())
    }
}

impl Search {
    /// The queries a search tries, in order. Strict: only the query as asked. Best effort, the
    /// widening rule: (1) as asked; (2) without the digit patterns; (3) the whole state or
    /// province instead of the area code or city (the one asked for, else the one the area code
    /// or city lies in); (4) anywhere in the country. Type and features never widen: a number
    /// without the capability asked for is of no use, whereas a nearby one usually is.
    fn ladder(&self, market: &Market) -> Vec<Search> {
        let mut steps = vec![self.clone()];
        if !self.best_effort {
            return steps;
        }
        let loose = Search {
            contains: None,
            starts_with: None,
            ends_with: None,
            ..self.clone()
        };
        steps.push(loose.clone());
        if let Some(region) = self.implied_region(market) {
            steps.push(Search {
                area_code: None,
                locality: None,
                administrative_area: Some(region),
                ..loose.clone()
            });
        }
        steps.push(Search {
            area_code: None,
            locality: None,
            administrative_area: None,
            ..loose
        });
        steps
    }

    /// The state or province the query is about, when it names or implies one.
    fn implied_region(&self, market: &Market) -> Option<String> {
        let of_area_code = || {
            let (_, region) = inventory::region_of(self.area_code?)?;
            Some(region.to_owned())
        };
        let of_city = || {
            let city = self.locality.as_deref()?;
            market
                .listings
                .values()
                .find(|l| {
                    l.locality
                        .as_deref()
                        .is_some_and(|l| l.eq_ignore_ascii_case(city))
                })
                .and_then(|l| l.region.clone())
        };
        self.administrative_area
            .clone()
            .or_else(of_area_code)
            .or_else(of_city)
    }

    fn matches(&self, listing: &Listing) -> bool {
        let text = |asked: &Option<String>, got: Option<&str>| {
            asked
                .as_deref()
                .is_none_or(|asked| got.is_some_and(|got| got.eq_ignore_ascii_case(asked)))
        };
        let national = listing.e164.as_str().get(2..).unwrap_or_default();
        let toll_free_or =
            |asked: &Option<String>| listing.country.is_none() || text(asked, listing.country);
        toll_free_or(&self.country)
            && self
                .area_code
                .is_none_or(|code| listing.e164.area_code() == Some(code))
            && text(&self.locality, listing.locality.as_deref())
            && text(&self.administrative_area, listing.region.as_deref())
            && self.kind.is_none_or(|kind| kind == listing.kind)
            && self.features.iter().all(|f| listing.features.contains(f))
            && self
                .contains
                .as_deref()
                .is_none_or(|d| national.contains(d))
            && self
                .starts_with
                .as_deref()
                .is_none_or(|d| national.starts_with(d))
            && self
                .ends_with
                .as_deref()
                .is_none_or(|d| national.ends_with(d))
    }
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Local => "local",
            Kind::TollFree => "toll_free",
            Kind::Mobile => "mobile",
            Kind::National => "national",
        }
    }

    pub fn parse(written: &str) -> Option<Kind> {
        [Kind::Local, Kind::TollFree, Kind::Mobile, Kind::National]
            .into_iter()
            .find(|kind| kind.as_str() == written)
    }
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Voice => "voice",
            Feature::Sms => "sms",
            Feature::Mms => "mms",
            Feature::Fax => "fax",
            Feature::Emergency => "emergency",
        }
    }

    pub fn parse(written: &str) -> Option<Feature> {
        use Feature::*;
        [Voice, Sms, Mms, Fax, Emergency]
            .into_iter()
            .find(|feature| feature.as_str() == written)
    }
}

impl Owned {
    /// The vendor's `status`.
    pub fn status(&self) -> &'static str {
        if self.agent.is_some() {
            "assigned"
        } else {
            "available"
        }
    }
}

impl Usd {
    pub const fn from_cents(cents: u64) -> Usd {
        Usd(cents)
    }

    pub const fn from_dollars(dollars: u64) -> Usd {
        Usd(dollars * 100)
    }

    /// The amount as the JSON number the vendor sends, e.g. `1.15`.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }

    fn plus(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }

    fn minus(self, other: Usd) -> Option<Usd> {
        self.0.checked_sub(other.0).map(Usd)
    }
}

impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl FromStr for Usd {
    type Err = UsdError;

    fn from_str(written: &str) -> Result<Usd, UsdError> {
        let refuse = || UsdError(written.to_owned());
        let trimmed = written.trim().trim_start_matches('$');
        let (whole, cents) = trimmed.split_once('.').unwrap_or((trimmed, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(cents) || cents.len() > 2 {
            return Err(refuse());
        }
        let whole: u64 = whole.parse().map_err(|_| refuse())?;
        let cents: u64 = format!("{cents:0<2}").parse().map_err(|_| refuse())?;
        whole
            .checked_mul(100)
            .and_then(|c| c.checked_add(cents))
            .map(Usd)
            .ok_or_else(refuse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::config::DEMO_AGENT_ID;

    const MINUTE: i64 = 60_000;

    fn market(wallet: Usd) -> Market {
        Market::new(&SandboxConfig {
            inventory: 500,
            wallet,
            seed: 3,
            ..SandboxConfig::default()
        })
    }

    fn phone(e164: &str) -> Phone {
        Phone::try_from(e164.to_owned()).unwrap()
    }

    fn search() -> Search {
        Search {
            best_effort: false,
            limit: 50,
            ..Search::default()
        }
    }

    /// A number for sale in area code `npa`.
    fn for_sale_in(market: &Market, npa: u16) -> Phone {
        let query = Search {
            area_code: Some(AreaCode(npa)),
            ..search()
        };
        market.search(&query, 0)[0].e164.clone()
    }

    /// Every filter narrows the results to listings that meet it.
    #[test]
    fn search_honours_every_filter() {
        let market = market(Usd::from_dollars(50));
        let by_code = Search {
            area_code: Some(AreaCode(415)),
            ..search()
        };
        let found = market.search(&by_code, 0);
        assert!(!found.is_empty());
        assert!(found.iter().all(|l| l.e164.as_str().starts_with("+1415")));
        assert!(
            found
                .iter()
                .all(|l| l.locality.as_deref() == Some("San Francisco"))
        );

        let by_state = Search {
            administrative_area: Some("tx".into()),
            features: vec![Feature::Sms],
            kind: Some(Kind::Local),
            limit: 5,
            ..search()
        };
        let found = market.search(&by_state, 0);
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|l| l.region.as_deref() == Some("TX")
            && l.kind == Kind::Local
            && l.features.contains(&Feature::Sms)));

        let toll_free = Search {
            kind: Some(Kind::TollFree),
            ..search()
        };
        assert!(
            market
                .search(&toll_free, 0)
                .iter()
                .all(|l| l.locality.is_none())
        );

        let target = for_sale_in(&market, 212);
        let tail = &target.as_str()[8..];
        let by_digits = Search {
            starts_with: Some("212".into()),
            ends_with: Some(tail.into()),
            ..search()
        };
        assert!(
            market
                .search(&by_digits, 0)
                .iter()
                .any(|l| l.e164 == target)
        );
    }

    /// Strict finds nothing for an impossible pattern; best effort widens to the same area
    /// code first, and to the state when the area code has nothing of the asked type.
    #[test]
    fn best_effort_widens_only_when_strict_finds_nothing() {
        let market = market(Usd::from_dollars(50));
        let impossible = Search {
            area_code: Some(AreaCode(415)),
            contains: Some("0000000000".into()),
            ..search()
        };
        assert!(market.search(&impossible, 0).is_empty());
        let widened = market.search(
            &Search {
                best_effort: true,
                ..impossible
            },
            0,
        );
        assert!(!widened.is_empty());
        assert!(
            widened
                .iter()
                .all(|l| l.e164.area_code() == Some(AreaCode(415)))
        );

        let no_such_city = Search {
            locality: Some("Springfield-on-Nowhere".into()),
            administrative_area: Some("OR".into()),
            ..search()
        };
        assert!(market.search(&no_such_city, 0).is_empty());
        let state_wide = market.search(
            &Search {
                best_effort: true,
                ..no_such_city
            },
            0,
        );
        assert!(!state_wide.is_empty());
        assert!(state_wide.iter().all(|l| l.region.as_deref() == Some("OR")));

        let exact = Search {
            area_code: Some(AreaCode(415)),
            best_effort: true,
            ..search()
        };
        assert!(
            market
                .search(&exact, 0)
                .iter()
                .all(|l| l.e164.as_str().starts_with("+1415"))
        );
    }

    /// A hold blocks others for 30 minutes of sandbox time, then lapses by itself.
    #[test]
    fn holds_lapse_after_thirty_minutes() {
        let mut market = market(Usd::from_dollars(50));
        let number = for_sale_in(&market, 212);
        let first = market.reserve(&number, 0).unwrap().clone();
        assert_eq!(first.expires_ms, 30 * MINUTE);

        assert!(matches!(
            market.reserve(&number, 29 * MINUTE),
            Err(Refusal::Held(_))
        ));
        let hidden = Search {
            area_code: Some(AreaCode(212)),
            ..search()
        };
        assert!(
            market
                .search(&hidden, 29 * MINUTE)
                .iter()
                .all(|l| l.e164 != number)
        );

        let stale = market.purchase(&number, Some(&first.id), 30 * MINUTE);
        assert!(matches!(stale, Err(Refusal::StaleReservation { .. })));
        let later = market.reserve(&number, 30 * MINUTE).unwrap().id.clone();
        assert_ne!(later, first.id);
        let with_old = market.purchase(&number, Some(&first.id), 31 * MINUTE);
        assert!(matches!(with_old, Err(Refusal::Held(_))));
        assert!(market.purchase(&number, Some(&later), 31 * MINUTE).is_ok());
    }

    /// A purchase costs setup plus the first month; a short wallet is refused and unchanged.
    #[test]
    fn purchases_debit_the_wallet_and_a_short_one_is_refused() {
        let mut market = market(Usd::from_cents(300));
        let local = Search {
            kind: Some(Kind::Local),
            limit: 2,
            ..search()
        };
        let [first, second] = [0, 1].map(|i| market.search(&local, 0)[i].e164.clone());

        let bought = market.purchase(&first, None, 0).unwrap();
        assert_eq!(bought.status(), "available");
        assert_eq!(market.balance(), Usd::from_cents(85));

        let short = market.purchase(&second, None, 0);
        assert_eq!(
            short.map(|_| ()),
            Err(Refusal::Insufficient {
                needed: Usd::from_cents(215),
                balance: Usd::from_cents(85)
            })
        );
        assert_eq!(market.balance(), Usd::from_cents(85));
        assert!(matches!(
            market.purchase(&first, None, 0),
            Err(Refusal::Sold(_))
        ));
        assert!(matches!(market.reserve(&first, 0), Err(Refusal::Sold(_))));
    }

    /// Owned numbers move between available and assigned; a released one is gone for good.
    #[test]
    fn owned_numbers_are_assigned_unassigned_and_released() {
        let mut market = market(Usd::from_dollars(50));
        let number = for_sale_in(&market, 305);
        let id = market.purchase(&number, None, 0).unwrap().id.clone();

        assert_eq!(
            market.assign(&id, DEMO_AGENT_ID).unwrap().status(),
            "assigned"
        );
        assert!(matches!(
            market.assign(&id, "nobody"),
            Err(Refusal::UnknownAgent(_))
        ));
        assert_eq!(market.unassign(&id).unwrap().status(), "available");
        market.release(&id).unwrap();
        assert!(matches!(
            market.assign(&id, DEMO_AGENT_ID),
            Err(Refusal::UnknownOwned(_))
        ));
        assert!(matches!(
            market.reserve(&number, 0),
            Err(Refusal::UnknownNumber(_))
        ));
    }

    /// An import costs nothing and can name its agent; a number already owned is refused.
    #[test]
    fn imports_are_free_and_not_repeatable() {
        let mut market = market(Usd::from_dollars(5));
        let own = phone("+13125550123");
        let imported = market
            .import(&own, "twilio", Some(DEMO_AGENT_ID), 0)
            .unwrap();
        assert_eq!(
            (imported.status(), imported.provider.as_str()),
            ("assigned", "twilio")
        );
        assert_eq!(market.balance(), Usd::from_dollars(5));
        assert!(matches!(
            market.import(&own, "twilio", None, 0),
            Err(Refusal::AlreadyOwned(_))
        ));
    }

    /// Versions count up per agent; an unknown agent is refused.
    #[test]
    fn publishing_numbers_versions_per_agent() {
        let mut market = market(Usd::default());
        assert_eq!(market.publish(DEMO_AGENT_ID, None, 0).unwrap().number, 1);
        assert_eq!(
            market
                .publish(DEMO_AGENT_ID, Some("v2".into()), 0)
                .unwrap()
                .number,
            2
        );
        assert!(market.publish("nobody", None, 0).is_err());
    }

    /// Dollar amounts become exact cents; anything with a sign, an exponent or a third decimal is refused.
    #[test]
    fn dollars_parse_to_exact_cents() {
        assert_eq!("50".parse(), Ok(Usd::from_dollars(50)));
        assert_eq!("12.5".parse(), Ok(Usd::from_cents(1250)));
        assert_eq!("$0.99".parse(), Ok(Usd::from_cents(99)));
        assert_eq!(Usd::from_cents(1205).to_string(), "12.05");
        for bad in ["", "-1", "1.234", "1e3", "abc", "."] {
            assert!(bad.parse::<Usd>().is_err(), "{bad}");
        }
    }
}
