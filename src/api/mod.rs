//! The vendors' HTTP APIs (reqwest with rustls): Synthflow for agents and calls.

mod synthflow;

pub use synthflow::{
    Agent, ApiError, AttachedNumber, CallRequest, CallState, DEFAULT_BASE_URL, ListedCall,
    StringOrNumber, Synthflow,
};
