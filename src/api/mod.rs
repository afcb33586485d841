//! The vendors' HTTP APIs (reqwest with rustls): Synthflow for agents, pools and calls; Flowyte
//! for buying and assigning numbers.

mod flowyte;
mod synthflow;

pub use flowyte::{
    DEFAULT_BASE_URL as DEFAULT_NUMBERS_BASE_URL, Digits, DigitsError, Feature, Flowyte,
    FlowyteError, IdempotencyKey, Import, NumberType, Offer, OwnedNumber, Problem, Published,
    Reservation, SearchQuery, Wallet,
};
pub use synthflow::{
    Agent, ApiError, Attach, AttachedNumber, CallRequest, CallState, DEFAULT_BASE_URL, ListedCall,
    Slug, SlugError, StringOrNumber, Synthflow,
};
