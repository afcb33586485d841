//! The vendor clients the provisioning commands use, built from the global flags and the
//! environment: base URLs obey the campaign file's rule (https, except loopback), and keys come
//! only from the environment.

use reqwest::Url;

use super::Global;
use crate::api::{DEFAULT_BASE_URL, DEFAULT_NUMBERS_BASE_URL, Flowyte, Synthflow};
use crate::campaign::{self, ApiKey};
use crate::error::Error;

/// Synthflow at `--api-base` / `OUTDIAL_API_BASE`, with `SYNTHFLOW_API_KEY`.
pub fn synthflow(global: &Global) -> Result<Synthflow, Error> {
    let base = base_url(
        global.api_base.as_deref(),
        DEFAULT_BASE_URL,
        "--api-base / OUTDIAL_API_BASE",
    )?;
    Ok(Synthflow::new(&base, key("SYNTHFLOW_API_KEY")?)?)
}

/// Flowyte at `--numbers-api-base` / `OUTDIAL_NUMBERS_API_BASE`, with `FLOWYTE_API_KEY`.
pub fn flowyte(global: &Global) -> Result<Flowyte, Error> {
    let base = base_url(
        global.numbers_api_base.as_deref(),
        DEFAULT_NUMBERS_BASE_URL,
        "--numbers-api-base / OUTDIAL_NUMBERS_API_BASE",
    )?;
    Ok(Flowyte::new(&base, key("FLOWYTE_API_KEY")?)?)
}

fn base_url(given: Option<&str>, default: &str, flag: &str) -> Result<Url, Error> {
    let text = given.unwrap_or(default);
    campaign::base_url(text).map_err(|problem| Error::Usage(format!("{flag} {text} {problem}")))
}

/// The key in `var`; never from a flag, so it stays out of shell history and `ps`.
fn key(var: &str) -> Result<ApiKey, Error> {
    match std::env::var(var) {
        Ok(key) if !key.trim().is_empty() => Ok(ApiKey::new(key.trim())),
        _ => Err(Error::Usage(format!(
            "the API key variable {var} is not set: export {var}=<your key> and run again"
        ))),
    }
}
