//! E.164 phone numbers: parsed once at the edge with a libphonenumber port, so that past this
//! module a phone is always valid, canonical and comparable.

use std::fmt;
use std::str::FromStr;

use phonenumber::country;
use serde::{Deserialize, Serialize};

use crate::area_codes::AreaCode;

/// A valid phone number in E.164 form (`+14155552671`). The contact's identity in the journal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// The country assumed for numbers written without `+country` (the campaign's `default_country`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country(country::Id);

/// Why a written phone number is not a callable E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty phone number")]
    Empty,
    #[error("not a phone number ({0})")]
    Unparseable(String),
    #[error("not a valid number for its country")]
    Invalid,
    #[error(
        "has an extension; outdial dials whole numbers only: put the extension in another column"
    )]
    Extension,
    #[error("is a premium-rate number; outdial does not dial those")]
    PremiumRate,
}

impl Phone {
    /// Parses what a person wrote (`(415) 555-2671`, `+44 20 7946 0958`, `1-415-555-2671`).
    pub fn parse(written: &str, default_country: Country) -> Result<Phone, PhoneError> {
        let number = read(written, default_country)?;
        // The type is asked once: libphonenumber's `is_valid` is exactly "its type is known",
        // and each asking runs a dozen of its patterns (most of a contact row's reading time).
        let kind = number.number_type(&phonenumber::metadata::DATABASE);
        // Not for a national number with leading zeros: `number_type` reads it without them,
        // `is_valid` with them (phonenumber 0.3: Rome's `+39 06 …` is valid but of no type,
        // `+49 0400000` the other way round). Those few are asked `is_valid` as well.
        let valid = match number.national().zeros() {
            0 => kind != phonenumber::Type::Unknown,
            _ => number.is_valid(),
        };
        if !valid {
            return Err(PhoneError::Invalid);
        }
        // Two contacts at different extensions would collapse into one identity.
        if number.extension().is_some() {
            return Err(PhoneError::Extension);
        }
        if kind == phonenumber::Type::PremiumRate {
            return Err(PhoneError::PremiumRate);
        }
        Ok(Phone::e164(&number))
    }

    /// The number a do-not-call entry names: read as [`Phone::parse`] reads it, except that an
    /// extension is dropped, not refused (`415-555-2671 ext. 5` on a list forbids the whole
    /// line), and a premium-rate number is a number like any other (it is never dialled anyway).
    pub fn parse_listed(written: &str, default_country: Country) -> Result<Phone, PhoneError> {
        Phone::valid(&read(written, default_country)?)
    }

    /// A valid number in E.164 form (which never carries an extension).
    fn valid(number: &phonenumber::PhoneNumber) -> Result<Phone, PhoneError> {
        match number.is_valid() {
            true => Ok(Phone::e164(number)),
            false => Err(PhoneError::Invalid),
        }
    }

    fn e164(number: &phonenumber::PhoneNumber) -> Phone {
        Phone(number.format().mode(phonenumber::Mode::E164).to_string())
    }

    /// A phone read back from outdial's own storage (journal keys and records), which holds only
    /// what [`Phone`] wrote: checked for E.164's shape (`+`, then up to 15 digits, the first not
    /// 0) but not parsed again. Parsing every stored phone with libphonenumber was about 5% of a
    /// run's CPU; bytes damaged on disk are sled's checksums' to catch.
    pub fn from_stored(e164: &str) -> Result<Phone, PhoneError> {
        let digits = e164.strip_prefix('+').unwrap_or_default();
        let shaped = (1..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        match shaped {
            true => Ok(Phone(e164.to_owned())),
            false => Err(PhoneError::Unparseable(format!(
                "{e164} is not in E.164 form"
            ))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The vendor's "slug": the E.164 digits without the `+`.
    pub fn slug(&self) -> &str {
        &self.0[1..]
    }

    /// The NANP area code (`+1 NPA ...`), or `None` outside country code 1.
    pub fn area_code(&self) -> Option<AreaCode> {
        let digits = self.0.strip_prefix("+1")?;
        if digits.len() != 10 {
            return None;
        }
        digits[..3].parse().ok().map(AreaCode)
    }

    /// The country the number belongs to (`GB` for `+44 20 …`), or `None` for a number the
    /// library cannot tie to one country (a shared or non-geographic code).
    pub fn country(&self) -> Option<Country> {
        let number = phonenumber::parse(None, &self.0).ok()?;
        number.country().id().map(Country)
    }

    /// The country calling code (`44` for `+44 20 …`).
    pub fn calling_code(&self) -> u16 {
        phonenumber::parse(None, &self.0).map_or(0, |n| n.code().value())
    }

    /// For logs: only the last four digits, so logs never hold whole numbers.
    pub fn masked(&self) -> Masked<'_> {
        Masked(self)
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    /// Debug output ends up in logs, so it is masked as well.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl From<Phone> for String {
    fn from(phone: Phone) -> String {
        phone.0
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;

    /// Accepts only canonical E.164, as written by [`Phone`] itself (journal, vendor answers).
    fn try_from(e164: String) -> Result<Phone, PhoneError> {
        let phone = Phone::parse(&e164, Country::default())?;
        if phone.0 != e164 {
            return Err(PhoneError::Unparseable(format!(
                "{e164} is not in E.164 form"
            )));
        }
        Ok(phone)
    }
}

/// Reads a written number with the libphonenumber port, before any check of what it is.
fn read(written: &str, default_country: Country) -> Result<phonenumber::PhoneNumber, PhoneError> {
    let written = written.trim();
    if written.is_empty() {
        return Err(PhoneError::Empty);
    }
    phonenumber::parse(Some(default_country.0), written)
        .map_err(|e| PhoneError::Unparseable(e.to_string()))
}

/// A phone shown as `…2671`.
pub struct Masked<'a>(&'a Phone);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.as_str();
        write!(f, "…{}", &digits[digits.len().saturating_sub(4)..])
    }
}

impl Country {
    /// The ISO 3166 alpha-2 code, e.g. `US`.
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Country {
    fn default() -> Self {
        Country(country::Id::US)
    }
}

impl FromStr for Country {
    type Err = String;

    fn from_str(code: &str) -> Result<Self, String> {
        country::Id::from_str(&code.to_ascii_uppercase())
            .map(Country)
            .map_err(|_| {
                format!("`{code}` is not an ISO 3166 country code such as \"US\" or \"CA\"")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An extension would merge two contacts into one identity, so it is refused, not dropped.
    #[test]
    fn numbers_with_an_extension_are_refused() {
        let parsed = Phone::parse("(415) 555-2671 ext. 5", Country::default());
        assert_eq!(parsed, Err(PhoneError::Extension));
        // Written tight, on a number outside the US (the Bahamas share NANP's +1): the
        // proptest below once shrank a wrong verdict to this.
        let tight = Phone::parse("2422250000ext0", Country::default());
        assert_eq!(tight, Err(PhoneError::Extension));
    }

    /// A contacts file must not be able to make the campaign dial paid numbers.
    #[test]
    fn premium_rate_numbers_are_refused() {
        assert_eq!(
            Phone::parse("+1 900 234 5678", Country::default()),
            Err(PhoneError::PremiumRate)
        );
        assert!(Phone::parse("+1 415 234 5678", Country::default()).is_ok());
        // Without its +1 (another case the proptest below once shrank to).
        assert_eq!(
            Phone::parse("9002000000", Country::default()),
            Err(PhoneError::PremiumRate)
        );
    }

    /// The proptest below once shrank to the first: a type for the number without its leading
    /// zero, but not valid with it. Italy's fixed lines are valid with theirs, of no type.
    #[test]
    fn a_national_number_with_leading_zeros_is_judged_with_them() {
        assert_eq!(
            Phone::parse("+490400000", Country::default()),
            Err(PhoneError::Invalid)
        );
        assert_eq!(
            Phone::parse("+39 06 6982 0000", Country::default()).map(String::from),
            Ok("+390669820000".to_owned())
        );
    }

    proptest::proptest! {
        /// Asking the number's type once gives the verdicts the library's own checks give:
        /// valid, no extension, not premium rate (written the way people write numbers, in
        /// NANP and elsewhere, with extensions and junk).
        #[test]
        fn one_look_at_the_type_gives_the_librarys_verdicts(
            written in r"(\+?1 ?)?(900|976)[2-9][0-9]{6}|\+44 ?9[0-9]{9}|(\+?1[ -.]?)?\(?[0-9]{3}\)?[ -.]?[0-9]{3}[ -.]?[0-9]{4}( ?(ext\.?|x) ?[0-9]{1,4})?|\+(44|49|33|39|61|800|882)[ 0-9]{4,14}|[0-9a-z +()-]{0,16}",
            country in proptest::sample::select(vec!["US", "CA", "GB", "DE", "AU", "IT"]),
        ) {
            let country: Country = country.parse().unwrap();
            let expected = read(&written, country).and_then(|number| {
                let phone = Phone::valid(&number)?;
                match (number.extension(), number.number_type(&phonenumber::metadata::DATABASE)) {
                    (Some(_), _) => Err(PhoneError::Extension),
                    (None, phonenumber::Type::PremiumRate) => Err(PhoneError::PremiumRate),
                    (None, _) => Ok(phone),
                }
            });
            proptest::prop_assert_eq!(Phone::parse(&written, country), expected);
        }
    }

    /// Only canonical E.164 comes back from the journal or the vendor.
    #[test]
    fn deserialising_accepts_only_e164() {
        assert!(Phone::try_from("+14155552671".to_owned()).is_ok());
        assert!(Phone::try_from("415-555-2671".to_owned()).is_err());
    }

    proptest::proptest! {
        /// Whatever phone outdial stores, in any country, reads back equal without a parse.
        #[test]
        fn a_stored_phone_reads_back_as_written(
            written in r"\+(1[2-9][0-9]{9}|44[0-9]{10}|49[0-9]{6,12}|[2-9][0-9]{6,13})"
        ) {
            if let Ok(phone) = Phone::parse(&written, Country::default()) {
                proptest::prop_assert_eq!(Phone::from_stored(phone.as_str()), Ok(phone));
            }
        }
    }

    /// What outdial never writes is refused, so a damaged key is not taken for a phone.
    #[test]
    fn a_stored_phone_must_have_e164s_shape() {
        for damaged in [
            "",
            "+",
            "14155552671",
            "+04155552671",
            "+1415555267x",
            "+1 415 555 2671",
            "+1234567890123456",
            "+\u{0661}4155552671",
        ] {
            assert!(Phone::from_stored(damaged).is_err(), "{damaged:?}");
        }
        assert!(Phone::from_stored("+123456789012345").is_ok());
    }
}
