//! `outdial numbers search`: numbers for sale, filtered by place, type, features and digits.

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::api::{Digits, Feature, NumberType, Offer, SearchQuery};
use crate::area_codes::AreaCode;
use crate::cli::output::{self, Table};
use crate::cli::{Global, connect};
use crate::error::Error;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Three-digit area code, e.g. 415
    #[arg(long, value_name = "NPA", value_parser = area_code)]
    area_code: Option<AreaCode>,
    /// City, e.g. "San Francisco"
    #[arg(long, value_parser = super::super::non_empty)]
    city: Option<String>,
    /// Two-letter state or province, e.g. CA or ON
    #[arg(long, value_parser = state)]
    state: Option<String>,
    /// Number type
    #[arg(long = "type", value_name = "TYPE")]
    number_type: Option<TypeArg>,
    /// Capabilities every number must have, e.g. voice,sms
    #[arg(long, value_delimiter = ',', value_name = "FEATURE,…")]
    features: Vec<FeatureArg>,
    /// Digits (or keypad letters) anywhere in the ten-digit number
    #[arg(long, value_name = "DIGITS", value_parser = Digits::parse)]
    contains: Option<Digits>,
    /// Digits the ten-digit number starts with (the area code comes first)
    #[arg(long, value_name = "DIGITS", value_parser = Digits::parse)]
    starts_with: Option<Digits>,
    /// Digits the number ends with
    #[arg(long, value_name = "DIGITS", value_parser = Digits::parse)]
    ends_with: Option<Digits>,
    /// Exact matches only; without it the vendor may widen a search that finds nothing
    #[arg(long)]
    strict: bool,
    /// At most this many numbers (1 to 50)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(1..=50))]
    limit: u8,
    /// Print the numbers as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Local,
    #[value(name = "toll_free", alias = "toll-free")]
    TollFree,
    Mobile,
    National,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FeatureArg {
    Voice,
    Sms,
    Mms,
    Fax,
    Emergency,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Found<'a> {
    /// True when the vendor widened the search because nothing matched exactly.
    widened: bool,
    numbers: &'a [Offer],
}

pub async fn run(args: SearchArgs, global: &Global) -> Result<u8, Error> {
    let query = args.query();
    let offers = connect::flowyte(global)?.search(&query).await?;
    let widened = offers.iter().any(|offer| !query.is_exact(offer));
    if args.json {
        output::json(&Found {
            widened,
            numbers: &offers,
        });
        return Ok(0);
    }
    if offers.is_empty() {
        let hint = if args.strict {
            "loosen the filters or drop --strict"
        } else {
            "loosen the filters"
        };
        output::line(format_args!("no numbers for sale match: {hint}"));
        return Ok(0);
    }
    if widened {
        output::line(format_args!(
            "no exact match; the nearest numbers for sale (--strict shows exact matches only):"
        ));
    }
    output::text(table(&offers));
    output::line(format_args!(
        "{} number(s); hold one for 30 minutes with `outdial numbers reserve {}`",
        offers.len(),
        offers[0].e164
    ));
    Ok(0)
}

impl SearchArgs {
    fn query(&self) -> SearchQuery {
        SearchQuery {
            area_code: self.area_code,
            locality: self.city.clone(),
            administrative_area: self.state.clone(),
            number_type: self.number_type.map(NumberType::from),
            features: self.features.iter().copied().map(Feature::from).collect(),
            contains: self.contains.clone(),
            starts_with: self.starts_with.clone(),
            ends_with: self.ends_with.clone(),
            best_effort: !self.strict,
            limit: self.limit,
        }
    }
}

fn table(offers: &[Offer]) -> Table {
    let mut table = Table::new(&["NUMBER", "PLACE", "FEATURES", "MONTHLY", "SETUP"]);
    for offer in offers {
        table.push(vec![
            offer.e164.to_string(),
            place(offer),
            offer.features.join(","),
            output::dollars(offer.monthly_cost),
            output::dollars(offer.setup_cost),
        ]);
    }
    table
}

/// `San Francisco, CA`; `-` for numbers without a place (toll-free).
fn place(offer: &Offer) -> String {
    match (&offer.locality, &offer.region) {
        (Some(city), Some(region)) if city != region => format!("{city}, {region}"),
        (Some(one), _) | (None, Some(one)) => one.clone(),
        (None, None) => "-".to_owned(),
    }
}

fn area_code(written: &str) -> Result<AreaCode, String> {
    match written.trim().parse::<u16>() {
        Ok(code) if written.trim().len() == 3 && (200..1000).contains(&code) => Ok(AreaCode(code)),
        _ => Err("an area code is three digits from 200 to 999, e.g. 415".into()),
    }
}

fn state(written: &str) -> Result<String, String> {
    let written = written.trim();
    if written.len() == 2 && written.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(written.to_ascii_uppercase())
    } else {
        Err("a state or province is its two-letter code, e.g. CA or ON".into())
    }
}

impl From<TypeArg> for NumberType {
    fn from(arg: TypeArg) -> NumberType {
        match arg {
            TypeArg::Local => NumberType::Local,
            TypeArg::TollFree => NumberType::TollFree,
            TypeArg::Mobile => NumberType::Mobile,
            TypeArg::National => NumberType::National,
        }
    }
}

impl From<FeatureArg> for Feature {
    fn from(arg: FeatureArg) -> Feature {
        match arg {
            FeatureArg::Voice => Feature::Voice,
            FeatureArg::Sms => Feature::Sms,
            FeatureArg::Mms => Feature::Mms,
            FeatureArg::Fax => Feature::Fax,
            FeatureArg::Emergency => Feature::Emergency,
        }
    }
}
