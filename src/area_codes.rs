//! The NANP area-code table (bundled, see `src/data/README.md`): which state or province and
//! which time zones an area code implies. Local presence and calling windows both read it.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

/// A three-digit NANP area code (NPA), e.g. 415.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AreaCode(pub u16);

/// An ISO 3166-2 subdivision such as `US-CA` or `CA-ON`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Region(pub String);

/// What the table says of one area code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `None` for NANP countries other than the US and Canada.
    pub region: Option<Region>,
    /// IANA zone names, the most frequent first; never empty.
    pub time_zones: Vec<String>,
}

static TABLE: LazyLock<HashMap<AreaCode, Place>> =
    LazyLock::new(|| parse(include_str!("data/nanp-area-codes.csv")));

/// Where an area code is, or `None` for an area code the table does not know.
pub fn place(code: AreaCode) -> Option<&'static Place> {
    TABLE.get(&code)
}

fn parse(table: &str) -> HashMap<AreaCode, Place> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(3, ',');
            let npa = fields.next()?.trim().parse().ok()?;
            let region = fields.next()?.trim();
            let time_zones: Vec<String> = fields
                .next()?
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            let region = (!region.is_empty()).then(|| Region(region.to_owned()));
            Some((AreaCode(npa), Place { region, time_zones }))
        })
        .collect()
}

impl fmt::Display for AreaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bundled table parses whole: every row of the CSV becomes an entry with a zone.
    #[test]
    fn every_row_of_the_bundled_table_is_read() {
        let rows = include_str!("data/nanp-area-codes.csv").lines().count() - 1;
        assert_eq!(TABLE.len(), rows);
        assert!(TABLE.values().all(|p| !p.time_zones.is_empty()));
        let sf = place(AreaCode(415)).unwrap();
        assert_eq!(sf.region, Some(Region("US-CA".into())));
        assert_eq!(sf.time_zones, ["America/Los_Angeles"]);
    }
}
