//! Requests sent to the Synthflow API, by kind, counted where they leave: the figures behind
//! "requests per call" in the summary and `outdial status`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The counters a client and its clones share.
#[derive(Debug, Default)]
pub(super) struct Counters {
    creates: AtomicU64,
    calls_created: AtomicU64,
    list_pages: AtomicU64,
    call_gets: AtomicU64,
    rate_limited: AtomicU64,
    look_ups: AtomicU64,
}

/// Which request left.
#[derive(Debug, Clone, Copy)]
pub(super) enum Sent {
    /// `POST /v2/calls`.
    Create,
    /// A `POST /v2/calls` that was answered with a call id.
    CallCreated,
    /// One page of `GET /v2/calls`.
    ListPage,
    /// `GET /v2/calls/{id}`.
    CallGet,
    /// A `POST /v2/calls` answered 429.
    RateLimited,
    /// A search of the list for the call of an uncertain create (a reconciliation).
    LookUp,
}

impl Counters {
    pub(super) fn add(&self, sent: Sent) {
        let counter = match sent {
            Sent::Create => &self.creates,
            Sent::CallCreated => &self.calls_created,
            Sent::ListPage => &self.list_pages,
            Sent::CallGet => &self.call_gets,
            Sent::RateLimited => &self.rate_limited,
            Sent::LookUp => &self.look_ups,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn read(&self) -> Requests {
        Requests {
            creates: self.creates.load(Ordering::Relaxed),
            calls_created: self.calls_created.load(Ordering::Relaxed),
            list_pages: self.list_pages.load(Ordering::Relaxed),
            call_gets: self.call_gets.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            look_ups: self.look_ups.load(Ordering::Relaxed),
        }
    }
}

/// What a run asked of the call API: creates, list pages, single gets, and the calls created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// `POST /v2/calls` sent, whatever the answer.
    pub creates: u64,
    /// Of which answered with a call id.
    pub calls_created: u64,
    /// `GET /v2/calls` pages: following calls in bulk, and looking up uncertain creates.
    pub list_pages: u64,
    /// `GET /v2/calls/{id}`: calls the list did not show, and last looks at overdue calls.
    pub call_gets: u64,
    /// Of the creates, those answered 429 (too many requests); nothing was created.
    #[serde(default)]
    pub rate_limited: u64,
    /// Reconciliations: searches of the list for the call of a create whose answer was lost.
    #[serde(default)]
    pub look_ups: u64,
}

impl Requests {
    pub fn total(&self) -> u64 {
        self.creates + self.list_pages + self.call_gets
    }

    /// Requests of every kind per call created, or `None` before any call.
    pub fn per_call(&self) -> Option<f64> {
        (self.calls_created > 0).then(|| self.total() as f64 / self.calls_created as f64)
    }
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Requests {
            creates,
            calls_created,
            list_pages,
            call_gets,
            rate_limited,
            look_ups,
        } = self;
        write!(
            f,
            "{creates} creates, {list_pages} list pages, {call_gets} single gets for {calls_created} calls"
        )?;
        if *rate_limited > 0 || *look_ups > 0 {
            write!(
                f,
                " ({rate_limited} creates answered 429, {look_ups} reconciliations)"
            )?;
        }
        match self.per_call() {
            Some(per_call) => write!(f, ": {per_call:.2} requests per call"),
            None => Ok(()),
        }
    }
}
