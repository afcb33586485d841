//! The numbers for sale in a sandbox: generated from the seed and the bundled NANP table, so
//! every run with the same `--seed` and `--inventory` lists the same numbers.
//!
//! Geographic numbers go round-robin over a seeded shuffle of every US and Canadian area code,
//! so an inventory at least as large as the table (415 codes; the default 500 is) covers every
//! area code; every tenth number is toll-free. Places come from the area code: the principal
//! city for well-known area codes, else the state or province name (libphonenumber describes
//! area codes at that level too).

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::market::{Feature, Kind, Listing, Usd};
use crate::area_codes::{self, AreaCode};
use crate::phone::Phone;

/// The NANP toll-free area codes (not in the geographic table).
const TOLL_FREE: [u16; 7] = [800, 833, 844, 855, 866, 877, 888];
/// Attempts at a valid, unused number per listing before the generator moves on.
const TRIES: usize = 50;

/// `count` listings, distinct, in generation order (fewer only if the phone library refused
/// almost every number tried).
pub(crate) fn generate(count: usize, seed: u64) -> Vec<Listing> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6e75_6d62_6572_7321);
    let mut codes = geographic_codes();
    codes.shuffle(&mut rng);
    let mut listings: Vec<Listing> = Vec::with_capacity(count);
    let mut taken = HashSet::new();
    let (mut next_code, mut next_toll_free) = (0usize, 0usize);
    for _ in 0..count.saturating_mul(TRIES) {
        if listings.len() == count {
            break;
        }
        let listing = if listings.len() % 10 == 9 {
            next_toll_free += 1;
            toll_free(&mut rng, TOLL_FREE[next_toll_free % TOLL_FREE.len()])
        } else {
            next_code += 1;
            geographic(&mut rng, codes[(next_code - 1) % codes.len()])
        };
        if let Some(listing) = listing.filter(|l| taken.insert(l.e164.clone())) {
            listings.push(listing);
        }
    }
    listings
}

/// Every area code with a US state or Canadian province, ascending.
fn geographic_codes() -> Vec<AreaCode> {
    (200..1000)
        .map(AreaCode)
        .filter(|code| region_of(*code).is_some())
        .collect()
}

/// `("US", "CA")` for an area code in California, from the table's `US-CA`.
pub(crate) fn region_of(code: AreaCode) -> Option<(&'static str, &'static str)> {
    let region = area_codes::place(code)?.region.as_ref()?;
    let (country, subdivision) = region.0.split_once('-')?;
    matches!(country, "US" | "CA").then_some((country, subdivision))
}

fn geographic(rng: &mut StdRng, code: AreaCode) -> Option<Listing> {
    let (country, region) = region_of(code)?;
    let kind = match rng.random_range(0..20) {
        0..=15 => Kind::Local,
        16..=18 => Kind::Mobile,
        _ => Kind::National,
    };
    Some(Listing {
        e164: valid_number(rng, code.0)?,
        kind,
        locality: Some(locality(code.0, region).to_owned()),
        region: Some(region.to_owned()),
        country: Some(country),
        features: features(rng, kind),
        monthly: kind.monthly(),
        setup: kind.setup(),
    })
}

fn toll_free(rng: &mut StdRng, npa: u16) -> Option<Listing> {
    Some(Listing {
        e164: valid_number(rng, npa)?,
        kind: Kind::TollFree,
        locality: None,
        region: None,
        country: None,
        features: features(rng, Kind::TollFree),
        monthly: Kind::TollFree.monthly(),
        setup: Kind::TollFree.setup(),
    })
}

/// A random number in `npa` that the phone library accepts, avoiding N11 and 555 exchanges
/// (service codes and fiction), or `None` when none turned up.
fn valid_number(rng: &mut StdRng, npa: u16) -> Option<Phone> {
    (0..TRIES).find_map(|_| {
        let exchange = rng.random_range(200..1000u16);
        if exchange % 100 == 11 || exchange == 555 {
            return None;
        }
        let line = rng.random_range(0..10_000u16);
        Phone::try_from(format!("+1{npa}{exchange}{line:04}")).ok()
    })
}

fn features(rng: &mut StdRng, kind: Kind) -> Vec<Feature> {
    use Feature::{Fax, Mms, Sms, Voice};
    match kind {
        Kind::Local => match rng.random_range(0..20) {
            0..=11 => vec![Voice, Sms, Mms],
            12..=16 => vec![Voice, Sms],
            17..=18 => vec![Voice],
            _ => vec![Voice, Fax],
        },
        Kind::Mobile => vec![Voice, Sms, Mms],
        Kind::TollFree => vec![Voice, Sms],
        Kind::National => vec![Voice],
    }
}

impl Kind {
    /// Monthly rental; cheap enough that the default $50 wallet buys a few dozen numbers.
    fn monthly(self) -> Usd {
        Usd::from_cents(match self {
            Kind::Local => 115,
            Kind::Mobile => 150,
            Kind::TollFree => 215,
            Kind::National => 125,
        })
    }

    fn setup(self) -> Usd {
        Usd::from_cents(match self {
            Kind::TollFree => 200,
            _ => 100,
        })
    }
}

/// The place a number in `npa` shows: its principal city, else its state or province.
pub(crate) fn locality(npa: u16, region: &str) -> &'static str {
    CITIES
        .iter()
        .find(|(code, _)| *code == npa)
        .map(|(_, city)| *city)
        .unwrap_or_else(|| region_name(region))
}

/// Well-known area codes and the city they are known for.
const CITIES: &[(u16, &str)] = &[
    (201, "Jersey City"),
    (202, "Washington"),
    (203, "New Haven"),
    (205, "Birmingham"),
    (206, "Seattle"),
    (207, "Portland"),
    (208, "Boise"),
    (210, "San Antonio"),
    (212, "New York"),
    (213, "Los Angeles"),
    (214, "Dallas"),
    (215, "Philadelphia"),
    (216, "Cleveland"),
    (225, "Baton Rouge"),
    (251, "Mobile"),
    (253, "Tacoma"),
    (256, "Huntsville"),
    (267, "Philadelphia"),
    (281, "Houston"),
    (302, "Wilmington"),
    (303, "Denver"),
    (305, "Miami"),
    (312, "Chicago"),
    (313, "Detroit"),
    (314, "St. Louis"),
    (315, "Syracuse"),
    (316, "Wichita"),
    (317, "Indianapolis"),
    (323, "Los Angeles"),
    (334, "Montgomery"),
    (346, "Houston"),
    (347, "New York"),
    (401, "Providence"),
    (402, "Omaha"),
    (403, "Calgary"),
    (404, "Atlanta"),
    (405, "Oklahoma City"),
    (407, "Orlando"),
    (408, "San Jose"),
    (410, "Baltimore"),
    (412, "Pittsburgh"),
    (414, "Milwaukee"),
    (415, "San Francisco"),
    (416, "Toronto"),
    (418, "Quebec City"),
    (419, "Toledo"),
    (437, "Toronto"),
    (438, "Montreal"),
    (443, "Baltimore"),
    (469, "Dallas"),
    (470, "Atlanta"),
    (501, "Little Rock"),
    (502, "Louisville"),
    (503, "Portland"),
    (504, "New Orleans"),
    (505, "Albuquerque"),
    (510, "Oakland"),
    (512, "Austin"),
    (513, "Cincinnati"),
    (514, "Montreal"),
    (515, "Des Moines"),
    (518, "Albany"),
    (520, "Tucson"),
    (559, "Fresno"),
    (562, "Long Beach"),
    (585, "Rochester"),
    (602, "Phoenix"),
    (604, "Vancouver"),
    (608, "Madison"),
    (612, "Minneapolis"),
    (613, "Ottawa"),
    (614, "Columbus"),
    (615, "Nashville"),
    (616, "Grand Rapids"),
    (617, "Boston"),
    (619, "San Diego"),
    (628, "San Francisco"),
    (646, "New York"),
    (647, "Toronto"),
    (651, "St. Paul"),
    (678, "Atlanta"),
    (682, "Fort Worth"),
    (702, "Las Vegas"),
    (704, "Charlotte"),
    (713, "Houston"),
    (716, "Buffalo"),
    (718, "New York"),
    (719, "Colorado Springs"),
    (720, "Denver"),
    (725, "Las Vegas"),
    (727, "St. Petersburg"),
    (737, "Austin"),
    (757, "Norfolk"),
    (773, "Chicago"),
    (775, "Reno"),
    (778, "Vancouver"),
    (780, "Edmonton"),
    (786, "Miami"),
    (801, "Salt Lake City"),
    (804, "Richmond"),
    (808, "Honolulu"),
    (813, "Tampa"),
    (816, "Kansas City"),
    (817, "Fort Worth"),
    (832, "Houston"),
    (857, "Boston"),
    (858, "San Diego"),
    (860, "Hartford"),
    (872, "Chicago"),
    (901, "Memphis"),
    (902, "Halifax"),
    (904, "Jacksonville"),
    (907, "Anchorage"),
    (915, "El Paso"),
    (916, "Sacramento"),
    (917, "New York"),
    (918, "Tulsa"),
    (919, "Raleigh"),
    (929, "New York"),
    (937, "Dayton"),
    (954, "Fort Lauderdale"),
    (971, "Portland"),
    (972, "Dallas"),
    (973, "Newark"),
    (984, "Raleigh"),
];

/// The name of a two-letter US state or Canadian province code.
pub(crate) fn region_name(code: &str) -> &'static str {
    REGIONS
        .iter()
        .find(|(abbreviation, _)| *abbreviation == code)
        .map_or("", |(_, name)| *name)
}

const REGIONS: &[(&str, &str)] = &[
    ("AK", "Alaska"),
    ("AL", "Alabama"),
    ("AR", "Arkansas"),
    ("AZ", "Arizona"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DC", "District of Columbia"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("IA", "Iowa"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("MA", "Massachusetts"),
    ("MD", "Maryland"),
    ("ME", "Maine"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MO", "Missouri"),
    ("MS", "Mississippi"),
    ("MT", "Montana"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("NE", "Nebraska"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NV", "Nevada"),
    ("NY", "New York"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VA", "Virginia"),
    ("VI", "U.S. Virgin Islands"),
    ("VT", "Vermont"),
    ("WA", "Washington"),
    ("WI", "Wisconsin"),
    ("WV", "West Virginia"),
    ("WY", "Wyoming"),
    ("AB", "Alberta"),
    ("BC", "British Columbia"),
    ("MB", "Manitoba"),
    ("NB", "New Brunswick"),
    ("NL", "Newfoundland and Labrador"),
    ("NS", "Nova Scotia"),
    ("NT", "Northwest Territories"),
    ("NU", "Nunavut"),
    ("ON", "Ontario"),
    ("PE", "Prince Edward Island"),
    ("QC", "Quebec"),
    ("SK", "Saskatchewan"),
    ("YT", "Yukon"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed gives the same inventory; the default size covers every area code.
    #[test]
    fn inventory_is_seeded_distinct_and_covers_every_area_code() {
        let first = generate(500, 7);
        let again = generate(500, 7);
        assert_eq!(first.len(), 500);
        let numbers = |l: &[Listing]| l.iter().map(|l| l.e164.clone()).collect::<Vec<_>>();
        assert_eq!(numbers(&first), numbers(&again));
        assert_ne!(numbers(&first), numbers(&generate(500, 8)));
        let distinct: HashSet<_> = numbers(&first).into_iter().collect();
        assert_eq!(distinct.len(), 500);
        let covered: HashSet<_> = first.iter().filter_map(|l| l.e164.area_code()).collect();
        let missing: Vec<_> = geographic_codes()
            .into_iter()
            .filter(|code| !covered.contains(code))
            .collect();
        assert!(
            missing.is_empty(),
            "area codes without a number: {missing:?}"
        );
    }

    /// Every geographic listing has a place that agrees with its area code; toll-free has none.
    #[test]
    fn places_follow_the_area_code() {
        for listing in generate(500, 1) {
            let code = listing.e164.area_code().unwrap();
            match region_of(code) {
                Some((country, region)) => {
                    assert_eq!(listing.region.as_deref(), Some(region));
                    assert_eq!(listing.country, Some(country));
                    assert!(!listing.locality.unwrap().is_empty());
                }
                None => {
                    assert_eq!(listing.kind, Kind::TollFree);
                    assert!(TOLL_FREE.contains(&code.0));
                }
            }
        }
        assert_eq!(locality(415, "CA"), "San Francisco");
        assert_eq!(locality(209, "CA"), "California");
    }
}
