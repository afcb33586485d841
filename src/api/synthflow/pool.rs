//! Changing an agent's caller-ID pool (CONTRACT A.5, A.6): attach numbers, detach one.
//!
//! A child of the client module so it reaches the client's request plumbing without widening it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ApiError, Synthflow};
use crate::phone::{Country, Phone};

/// What one attach request names. The vendor takes E.164 numbers *or* slugs and refuses a
/// body with both, so the choice is a type: a request with both cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Attach {
    /// `{"phone_numbers": ["+14155550102", …]}`
    #[serde(rename = "phone_numbers")]
    Numbers(Vec<Phone>),
    /// `{"phone_number_slugs": ["14155550102", …]}`
    #[serde(rename = "phone_number_slugs")]
    Slugs(Vec<Slug>),
}

impl Attach {
    /// How many numbers the request names.
    pub fn len(&self) -> usize {
        match self {
            Attach::Numbers(numbers) => numbers.len(),
            Attach::Slugs(slugs) => slugs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A number's slug (CONTRACT A.0): its E.164 digits without the `+`, e.g. `14155550102`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Slug(String);

/// Why a written slug is neither digits nor an E.164 number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a slug: write the number's digits without the + (e.g. 14155550102) or the number itself (+14155550102)"
)]
pub struct SlugError(String);

impl Slug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&Phone> for Slug {
    fn from(phone: &Phone) -> Slug {
        Slug(phone.slug().to_owned())
    }
}

impl FromStr for Slug {
    type Err = SlugError;

    /// Digits are taken as a slug; anything starting with `+` must be a valid number and becomes
    /// its slug, because people copy numbers, not slugs, from dashboards.
    fn from_str(written: &str) -> Result<Slug, SlugError> {
        let written = written.trim();
        let refuse = || SlugError(written.to_owned());
        if written.starts_with('+') {
            let phone = Phone::parse(written, Country::default()).map_err(|_| refuse())?;
            return Ok(Slug::from(&phone));
        }
        let digits = written.bytes().all(|b| b.is_ascii_digit());
        if digits && (8..=15).contains(&written.len()) {
            Ok(Slug(written.to_owned()))
        } else {
            Err(refuse())
        }
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `{"status": …}`, the whole success answer of both calls; read only to check it is JSON.
#[derive(Deserialize)]
struct Done {}

impl Synthflow {
    /// `PUT /v2/assistants/{id}/phone_numbers`: adds `numbers` to the agent's pool (the vendor
    /// adds; it does not replace the pool).
    pub async fn attach(&self, model_id: &str, numbers: &Attach) -> Result<(), ApiError> {
        let url = self.endpoint(&["assistants", model_id, "phone_numbers"]);
        let request = self
            .http
            .put(url)
            .bearer_auth(self.key.expose())
            .json(numbers);
        let sent = self.send(request).await;
        self.read::<Done>(sent).await.map(drop)
    }

    /// `DELETE /v2/assistants/{id}/phone_numbers/{slug}`: takes one number out of the pool. The
    /// number stays in the workspace.
    pub async fn detach(&self, model_id: &str, slug: &Slug) -> Result<(), ApiError> {
        let url = self.endpoint(&["assistants", model_id, "phone_numbers", slug.as_str()]);
        let request = self.http.delete(url).bearer_auth(self.key.expose());
        let sent = self.send(request).await;
        self.read::<Done>(sent).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two bodies are exactly the vendor's two shapes, one key each.
    #[test]
    fn attach_serialises_to_one_of_the_two_vendor_bodies() {
        let phone = Phone::try_from("+14155550102".to_owned()).unwrap();
        let numbers = serde_json::to_value(Attach::Numbers(vec![phone.clone()])).unwrap();
        assert_eq!(
            numbers,
            serde_json::json!({ "phone_numbers": ["+14155550102"] })
        );
        let slugs = serde_json::to_value(Attach::Slugs(vec![Slug::from(&phone)])).unwrap();
        assert_eq!(
            slugs,
            serde_json::json!({ "phone_number_slugs": ["14155550102"] })
        );
    }

    /// A slug may be written as digits or as the E.164 number it stands for; nothing else.
    #[test]
    fn slugs_are_digits_or_an_e164_number() {
        assert_eq!(
            "14155550102".parse::<Slug>().unwrap().as_str(),
            "14155550102"
        );
        assert_eq!(
            "+14155550102".parse::<Slug>().unwrap().as_str(),
            "14155550102"
        );
        assert!("+1415".parse::<Slug>().is_err());
        assert!("415-555-0102".parse::<Slug>().is_err());
        assert!("".parse::<Slug>().is_err());
    }
}
