//! outdial: an outbound call campaign dialer for AI voice agents.
//!
//! A campaign is one linear pipeline: contacts → eligibility → caller-ID choice → pacing →
//! create call → journal. Each stage is one module:
//!
//! - [`campaign`]: the campaign file, checked into a [`campaign::Campaign`].
//! - [`contacts`]: the contacts CSV, streamed row by row into [`contacts::Contact`]s.
//! - [`survey`]: the whole-file check before the first call, skipped for a file the journal
//!   proves unchanged, and how far a run read the file, so that a resume reads only the rest.
//! - [`phone`]: E.164 phone numbers, parsed once at the edge.
//! - [`area_codes`]: the bundled NANP table (area code → state/province, time zones).
//! - [`clock`]: the time the dialer, its rules and the plan read, passed in.
//! - [`window`]: calling hours in the callee's local time, exact across DST and several zones;
//!   which zones a callee is in (CSV, area code, a one-clock country), or why nobody can tell.
//! - [`suppression`]: do-not-call lists, re-read when they change while a campaign runs.
//! - [`rotation`]: which caller ID each call goes out from (plain synchronous code).
//! - [`caps`]: per-caller-ID daily caps and cooldown, bounded by the pool's size.
//! - [`rules`]: the rules checked before every dial, one home for `run` and `plan`.
//! - [`pacing`]: call-creation rate (governor) and the bound on requests in flight.
//! - [`api`]: the Synthflow and Flowyte HTTP clients (reqwest) on one HTTP edge (status classes,
//!   `Retry-After`, the server clock, key scrubbing).
//! - [`journal`]: the crash-safe record of every contact (sled).
//! - [`call`]: the life of one call as its own task: create or find it, follow it to its end.
//! - [`follow`]: every live call followed in bulk, one paged list per sweep, on a reads budget.
//! - [`history`]: every attempt and what it reached: connected, contact, short call, failed.
//! - [`health`]: number health: which caller IDs connect significantly worse than the pool,
//!   and rest (pure: the dialer journals and enforces its decisions).
//! - [`dialer`]: the pipeline itself, tying the stages together for `run`.
//! - [`export`]: the journal as CSV or a workbook, one row per contact, in the file's order.
//! - [`stats`]: Wilson intervals and the two-proportion z, for health, the report and arms.
//! - [`sorted`]: integer pairs sorted in bounded memory (external sort), for `plan` and `export`.
//! - [`plan`]: the choices a run would make, without calling anyone.
//! - [`report`]: what status and summaries print, from the journal.
//! - [`figures`]: `outdial report`'s figures and its HTML page (plotters, maud).
//! - [`progress`]: live progress: bars on a terminal (indicatif), plain lines otherwise.
//! - [`repair`]: a journal checked against, or rebuilt from, the vendor's call records.
//! - [`sandbox`]: a local, stateful simulator of the vendor APIs (axum).
//! - [`simulate`]: the campaign played once per rotation strategy against the sandbox's answer
//!   model, in-process, on a virtual clock, with the dialer of `run`.
//! - [`store`]: the shared store (PostgreSQL: campaign lock, the account's start schedule,
//!   live-call leases, caller-ID caps) and the per-account lock of one machine.
//! - [`cli`]: command-line types and one `run` per command.
//! - [`error`]: the top-level error and its exit codes.

pub mod api;
pub mod area_codes;
pub mod budget;
pub mod call;
pub mod campaign;
pub mod caps;
pub mod cli;
pub mod clock;
pub mod contacts;
pub mod dialer;
pub mod error;
pub mod export;
pub mod figures;
pub mod follow;
pub mod health;
pub mod history;
pub mod journal;
pub mod pacing;
pub mod phone;
pub mod plan;
pub mod progress;
pub mod repair;
pub mod report;
pub mod rotation;
pub mod rules;
pub mod sandbox;
pub mod simulate;
pub mod sorted;
pub mod stats;
pub mod store;
pub mod suppression;
pub mod survey;
pub mod table;
pub mod window;
