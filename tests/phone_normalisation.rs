//! Phone parsing at the edge: however a person writes a number, it becomes one E.164 identity.

use outdial::phone::{Country, Phone};
use proptest::prelude::*;

/// Real area codes across the US and Canada (416 Toronto, 604 Vancouver).
const AREA_CODES: [u16; 12] = [212, 415, 312, 713, 305, 206, 617, 404, 602, 720, 416, 604];

fn us() -> Country {
    "US".parse().unwrap()
}

/// A valid NANP number as (NPA, NXX, XXXX): exchanges 200–999, N11 service codes excluded.
fn nanp_number() -> impl Strategy<Value = (u16, u16, u16)> {
    let exchange = (200u16..1000).prop_filter("N11 is a service code", |nxx| nxx % 100 != 11);
    (
        proptest::sample::select(&AREA_CODES[..]),
        exchange,
        0u16..10_000,
    )
}

/// The ways people write one number in a spreadsheet.
fn written_forms(npa: u16, nxx: u16, xxxx: u16) -> Vec<String> {
    vec![
        format!("+1 ({npa}) {nxx}-{xxxx:04}"),
        format!("1-{npa}-{nxx}-{xxxx:04}"),
        format!("{npa}.{nxx}.{xxxx:04}"),
        format!("{npa} {nxx} {xxxx:04}"),
        format!("({npa}) {nxx}-{xxxx:04}"),
        format!("{npa}{nxx}{xxxx:04}"),
        format!("+1{npa}{nxx}{xxxx:04}"),
        format!("  +1 {npa} {nxx} {xxxx:04}\t"),
        format!("\t {npa}-{nxx}-{xxxx:04}  "),
    ]
}

/// Country codes to parse arbitrary input against, NANP and not.
fn country() -> impl Strategy<Value = Country> {
    proptest::sample::select(&["US", "CA", "GB", "DE", "CH", "FR", "IN", "BR", "JP", "AU"][..])
        .prop_map(|code| code.parse().unwrap())
}

proptest! {
    #[test]
    fn every_written_form_of_a_number_is_one_e164((npa, nxx, xxxx) in nanp_number()) {
        // Proves the journal identity does not depend on how the CSV wrote the number.
        let expected = format!("+1{npa}{nxx}{xxxx:04}");
        for written in written_forms(npa, nxx, xxxx) {
            let phone = Phone::parse(&written, us());
            prop_assert_eq!(
                phone.as_ref().map(Phone::as_str),
                Ok(expected.as_str()),
                "written as {:?}",
                written
            );
        }
    }

    #[test]
    fn e164_output_reparses_to_itself((npa, nxx, xxxx) in nanp_number(), country in country()) {
        // Proves E.164 is a fixed point: re-reading a journalled number, with any default
        // country or through serde's strict form, gives the same number back.
        let phone = Phone::parse(&format!("{npa}-{nxx}-{xxxx:04}"), us()).unwrap();
        prop_assert_eq!(&Phone::parse(phone.as_str(), country).unwrap(), &phone);
        prop_assert_eq!(&Phone::try_from(phone.to_string()).unwrap(), &phone);
        let json = serde_json::to_string(&phone).unwrap();
        prop_assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), phone);
    }

    #[test]
    fn arbitrary_strings_never_panic(written in any::<String>(), country in country()) {
        // Proves parsing any text is a Result, never a panic, and a success is canonical.
        if let Ok(phone) = Phone::parse(&written, country) {
            prop_assert!(phone.as_str().starts_with('+'));
            prop_assert!(phone.as_str()[1..].bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn phone_like_strings_never_panic(
        written in "[0-9+()#*x;:. -]{0,30}",
        country in country(),
    ) {
        // Proves the inputs that have crashed phone-number libraries before (digits mixed with
        // extension and punctuation marks) are a Result, never a panic.
        let _ = Phone::parse(&written, country);
    }

    #[test]
    fn masked_shows_only_the_last_four_digits((npa, nxx, xxxx) in nanp_number()) {
        // Proves log output of a phone (Display of masked, and Debug) never holds the whole number.
        let phone = Phone::parse(&format!("{npa}{nxx}{xxxx:04}"), us()).unwrap();
        let masked = phone.masked().to_string();
        prop_assert_eq!(&masked, &format!("…{xxxx:04}"));
        let debug = format!("{phone:?}");
        prop_assert!(!debug.contains(&format!("{npa}{nxx}")), "{}", debug);
        prop_assert!(debug.contains(&masked));
    }
}

#[test]
fn inputs_that_crashed_libphonenumber_ports_are_errors() {
    // Proves published panic reproductions for the phonenumber crate stay fixed in our version.
    let ch: Country = "CH".parse().unwrap();
    assert!(Phone::parse("  2 22#:", us()).is_err());
    let _ = Phone::parse("003-836-4618x3001", ch);
}

#[test]
fn empty_and_blank_input_is_reported_as_empty() {
    // Proves a blank cell gets its own reason rather than a parser message.
    for blank in ["", "   ", "\t\n"] {
        assert_eq!(
            Phone::parse(blank, us()),
            Err(outdial::phone::PhoneError::Empty)
        );
    }
}
