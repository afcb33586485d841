//! The attempt history: every call attempt the campaign made, kept in the journal beside the
//! contacts (see [`crate::journal::Journal::latest_attempts`]), and the words the rest of outdial
//! uses for what an attempt achieved. Number health, `pool health`, the report and the simulator
//! all read attempts through these definitions, so "connected" means one thing everywhere.
//!
//! - **connected**: the call was answered, by a person or a machine ([`Reach::Machine`],
//!   [`Reach::Person`]).
//! - **contact**: a person was reached ([`Reach::Person`]).
//! - **short call**: connected, ended by the callee, and no longer than a set number of seconds
//!   (`[health] short_call_seconds`, 10 by default): what people do to a number they take
//!   for spam.
//! - **failed**: the call could not be placed or was cut by the network (status `failed` or
//!   `spam`, or a `forbidden`/`error` disconnect before anyone answered), as carriers' blocks do.

use jiff::Timestamp;
use jiff::civil::Weekday;
use serde::{Deserialize, Serialize};

use crate::api::CallState;
use crate::phone::Phone;
use crate::rotation::Match;

/// `[health] short_call_seconds` unless the campaign says otherwise.
pub const SHORT_CALL_SECONDS: u64 = 10;

/// One attempt: one create request that made (or may have made) a call. The journal stores it
/// in a frozen shape of its own (see `journal::record`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub callee: Phone,
    /// 1 for the contact's first attempt.
    pub number: u32,
    pub caller_id: Phone,
    /// How local the caller ID was to the callee.
    pub tier: Match,
    /// When the `dialing` mark was written, just before the create request left.
    pub sent_at: Timestamp,
    /// The callee's local time then; `None` for attempts journalled before history was kept.
    pub local: Option<LocalMoment>,
    /// How the call ended; `None` while it is live or when nobody could tell.
    pub end: Option<CallState>,
}

/// The callee's local hour and weekday when a call was sent (in the first of their zones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalMoment {
    /// 0–23.
    pub hour: u8,
    /// ISO weekday: 1 is Monday, 7 is Sunday.
    pub weekday: u8,
}

/// What a finished call reached, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// The status says nothing we can classify (`unknown`, a status we do not know).
    Unknown,
    /// The network could not place the call or cut it before an answer.
    Failed,
    /// It rang out, was busy or was cancelled.
    Unanswered,
    /// A voicemail or answering machine took it.
    Machine,
    /// A person took it.
    Person,
}

impl LocalMoment {
    /// The local hour and weekday of `at` in `zone`.
    pub fn of(at: Timestamp, zone: &jiff::tz::TimeZone) -> LocalMoment {
        let civil = at.to_zoned(zone.clone()).datetime();
        LocalMoment {
            hour: civil.hour().unsigned_abs(),
            weekday: civil.weekday().to_monday_one_offset().unsigned_abs(),
        }
    }

    /// The weekday as jiff names it.
    pub fn weekday(self) -> Weekday {
        Weekday::from_monday_one_offset(self.weekday as i8).unwrap_or(Weekday::Monday)
    }
}

impl Reach {
    /// What the call in its terminal state `call` reached.
    pub fn of(call: &CallState) -> Reach {
        let reason = call.end_call_reason.as_deref().unwrap_or("");
        let cut = matches!(
            call.disconnect_reason.as_deref(),
            Some("forbidden" | "error")
        );
        match call.status.as_str() {
            "failed" | "spam" => Reach::Failed,
            "left_voicemail" | "hangup_on_voicemail" => Reach::Machine,
            "completed" if reason.starts_with("voicemail") => Reach::Machine,
            "completed" => Reach::Person,
            "no-answer" | "busy" | "canceled" | "user-canceled" if cut => Reach::Failed,
            "no-answer" | "busy" | "canceled" | "user-canceled" => Reach::Unanswered,
            _ => Reach::Unknown,
        }
    }

    /// Answered, by a person or a machine.
    pub fn connected(self) -> bool {
        matches!(self, Reach::Machine | Reach::Person)
    }

    pub fn name(self) -> &'static str {
        match self {
            Reach::Unknown => "unknown",
            Reach::Failed => "failed",
            Reach::Unanswered => "unanswered",
            Reach::Machine => "machine",
            Reach::Person => "person",
        }
    }
}

impl Attempt {
    /// What the attempt reached, once its call has ended.
    pub fn reach(&self) -> Option<Reach> {
        self.end.as_ref().map(Reach::of)
    }

    /// Whether the call was answered (by a person or a machine).
    pub fn connected(&self) -> bool {
        self.reach().is_some_and(Reach::connected)
    }

    /// Whether the call was a short call: connected, ended by the callee, within
    /// `short_call_seconds`.
    pub fn is_short(&self, short_call_seconds: u64) -> bool {
        let Some(end) = &self.end else { return false };
        let by_callee = match end.disconnect_reason.as_deref() {
            Some(reason) => reason == "callee_hangup",
            None => end.end_call_reason.as_deref() == Some("human_ended_call"),
        };
        Reach::of(end).connected()
            && by_callee
            && end.duration.is_some_and(|s| s <= short_call_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(status: &str, reason: Option<&str>, disconnect: Option<&str>, secs: u64) -> CallState {
        CallState {
            status: status.into(),
            end_call_reason: reason.map(Into::into),
            duration: Some(secs),
            ringing_ms: None,
            disconnect_reason: disconnect.map(Into::into),
        }
    }

    fn attempt(end: CallState) -> Attempt {
        let phone = Phone::parse("+12065550100", crate::phone::Country::default()).expect("valid");
        Attempt {
            callee: phone.clone(),
            number: 1,
            caller_id: phone,
            tier: Match::Other,
            sent_at: Timestamp::UNIX_EPOCH,
            local: None,
            end: Some(end),
        }
    }

    #[test]
    fn each_status_reaches_what_the_definitions_say() {
        let cases = [
            (
                ended("completed", Some("human_ended_call"), None, 40),
                Reach::Person,
            ),
            (
                ended("completed", Some("voicemail"), None, 20),
                Reach::Machine,
            ),
            (ended("left_voicemail", None, None, 20), Reach::Machine),
            (ended("hangup_on_voicemail", None, None, 3), Reach::Machine),
            (
                ended("no-answer", Some("timeout"), None, 0),
                Reach::Unanswered,
            ),
            (ended("busy", None, Some("forbidden"), 0), Reach::Failed),
            (ended("failed", None, None, 0), Reach::Failed),
            (ended("spam", None, None, 0), Reach::Failed),
            (ended("unknown", None, None, 0), Reach::Unknown),
        ];
        for (call, reach) in cases {
            assert_eq!(Reach::of(&call), reach, "{call:?}");
        }
    }

    #[test]
    fn a_short_call_is_answered_and_hung_up_by_the_callee_in_time() {
        let short = attempt(ended("completed", None, Some("callee_hangup"), 4));
        assert!(short.is_short(10));
        assert!(!short.is_short(3), "4 s is not within 3 s");
        let agent_ended = attempt(ended("completed", None, Some("caller_hangup"), 4));
        assert!(!agent_ended.is_short(10));
        let unanswered = attempt(ended("no-answer", None, Some("callee_hangup"), 0));
        assert!(!unanswered.is_short(10));
        let by_reason = attempt(ended("completed", Some("human_ended_call"), None, 9));
        assert!(by_reason.is_short(10));
    }

    #[test]
    fn the_local_moment_is_the_callee_s_wall_clock() {
        let zone = jiff::tz::TimeZone::get("America/Los_Angeles").expect("bundled");
        // 2026-12-01T17:30Z is 09:30 on Tuesday in Los Angeles.
        let at: Timestamp = "2026-12-01T17:30:00Z".parse().expect("valid");
        let local = LocalMoment::of(at, &zone);
        assert_eq!(
            local,
            LocalMoment {
                hour: 9,
                weekday: 2
            }
        );
        assert_eq!(local.weekday(), Weekday::Tuesday);
    }
}
