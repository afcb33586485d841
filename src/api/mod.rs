//! The vendors' HTTP APIs (reqwest with rustls): Synthflow for agents, pools and calls; Flowyte
//! for buying and assigning numbers.

mod flowyte;
mod http;
mod synthflow;

use std::time::Duration;

/// Connecting should take well under a second anywhere; longer means the host is unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Every request ends by then. A create request that times out is *uncertain* (the call may
/// exist), so this is long enough for a slow but healthy API and short enough to keep the run
/// (and the live slot the request holds) moving.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP client both vendors are reached with: rustls, the timeouts above, our user agent.
fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("outdial/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub use flowyte::{
    DEFAULT_BASE_URL as DEFAULT_NUMBERS_BASE_URL, Digits, DigitsError, Feature, Flowyte,
    FlowyteError, IdempotencyKey, Import, NumberType, Offer, OwnedNumber, Problem, Published,
    Reservation, SearchQuery, Wallet,
};
pub use http::MAX_RETRY_AFTER;
pub use synthflow::{
    Agent, AgentCall, ApiError, Attach, AttachedNumber, CallInList, CallRequest, CallState,
    DEFAULT_BASE_URL, ListPage, ListedCall, Requests, Slug, SlugError, StringOrNumber, Synthflow,
    UNKNOWN_STATUS,
};
