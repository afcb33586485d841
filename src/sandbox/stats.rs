//! Counters of what the sandbox did to create requests, for tests and benches to check pacing,
//! limits and faults from the vendor's side (`GET /sandbox/stats`, [`super::Sandbox::stats`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::answers::Label;
use super::faults::Fault;
use super::world::ReceivedCall;

/// What happened to the create requests so far. Everything except `max_live` is a count over
/// the received record, kept as it is written so reading stays cheap during a 20,000-call bench.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every `POST /v2/calls`, whatever its answer.
    pub create_requests: u64,
    /// Creates that created a call, including those whose answer was dropped or slow.
    pub creates_accepted: u64,
    pub too_many_requests: TooManyRequests,
    /// Injected 500s.
    pub server_errors: u64,
    /// Creates whose call exists but whose connection was dropped instead of answered.
    pub dropped: u64,
    /// Creates whose call exists but whose answer came after the slow delay.
    pub slow: u64,
    /// Creates refused with 402 or 403 by an account refusal.
    pub refused: u64,
    /// Creates refused 400 because the callee cannot be reached.
    #[serde(default)]
    pub unreachable: u64,
    /// The most calls live (created, not yet terminal) at any one moment.
    pub max_live: u64,
    /// Every `/v2` request, whatever its answer, by route (`GET /v2/calls/{call_id}`), so a
    /// client's own count of what it asked can be checked from the vendor's side.
    #[serde(default)]
    pub requests: BTreeMap<String, u64>,
    /// Every label carriers gave a caller ID under the answer model, oldest first, ended or
    /// not: the ground truth of which numbers were burnt, since when and until when.
    #[serde(default)]
    pub labelled: Vec<Label>,
}

/// One `/v2` request as the sandbox received it: when, and on which route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    /// Epoch milliseconds when the request arrived.
    pub at_ms: i64,
    /// The method and the route's pattern, e.g. `GET /v2/calls/{call_id}`.
    pub route: String,
    /// The query string as sent, empty without one: which page of a list, from when.
    #[serde(default)]
    pub query: String,
}

/// 429 answers to creates, by cause.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TooManyRequests {
    pub burst: u64,
    pub live_limit: u64,
    pub rate_limit: u64,
}

impl TooManyRequests {
    pub fn total(&self) -> u64 {
        self.burst + self.live_limit + self.rate_limit
    }
}

impl Stats {
    /// Adds one received create request.
    pub(crate) fn count(&mut self, received: &ReceivedCall) {
        self.create_requests += 1;
        if received.call_id.is_some() {
            self.creates_accepted += 1;
        }
        let Some(fault) = received.fault else {
            return;
        };
        let counter = match fault {
            Fault::Burst => &mut self.too_many_requests.burst,
            Fault::LiveLimit => &mut self.too_many_requests.live_limit,
            Fault::RateLimit => &mut self.too_many_requests.rate_limit,
            Fault::ServerError => &mut self.server_errors,
            Fault::Dropped => &mut self.dropped,
            Fault::Slow => &mut self.slow,
            Fault::Refused => &mut self.refused,
            Fault::Unreachable => &mut self.unreachable,
        };
        *counter += 1;
    }
}
