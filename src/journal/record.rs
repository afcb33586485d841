//! How an entry is stored (journal formats 2 and 3): one version byte, then the entry in
//! postcard, a compact binary serde format. The phone is the key, so it is not stored again;
//! instants are nanoseconds since the epoch (lossless, a few bytes as varints). The stored shape is its own
//! type, frozen for its version byte, so that changing [`Entry`] in memory never silently changes
//! what older journals hold: a new shape gets a new version byte and a branch in [`decode`].
//! The tally's counters, grouped as format 3 keeps them, are stored the same way.
//!
//! Format 1 (`outdial-journal/1`) stored entries as JSON text; its values start with `{`, never
//! with a version byte, so [`decode`] still reads them (a journal being migrated holds both).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Entry, State, StateKind};
use crate::api::CallState;
use crate::area_codes::Region;
use crate::contacts::{Contact, CustomVariable};
use crate::history::{Attempt, LocalMoment};
use crate::phone::Phone;
use crate::report::{CallerTally, Tally};
use crate::rotation::Match;

/// The version byte of entries written today: format 2's fields, then [`SinceV3`]'s.
const VERSION: u8 = 3;
/// Entries written before the attempt history was kept: [`Stored`] alone.
const VERSION_2: u8 = 2;
/// The version byte of an attempt record ([`StoredAttempt`]).
const ATTEMPT_VERSION: u8 = 1;
/// The version byte of the tally's counters as format 3 groups them ([`CampaignCounts`] and
/// [`CallerCounts`]).
const COUNTS_VERSION: u8 = 1;

/// Why a stored value could not be read.
pub(super) type DecodeError = String;

/// An entry as format 2 stores it.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    line: u64,
    time_zone: Option<String>,
    region: Option<Region>,
    custom_variables: Vec<CustomVariable>,
    state: StoredState,
    attempts: u32,
    caller_id: Option<StoredPhone>,
    local_match: Option<Match>,
    call_id: Option<String>,
    dialed_at: Option<i128>,
    updated_at: i128,
    last_error: Option<String>,
    run: u64,
    due_at: Option<i128>,
    earlier_calls: Vec<String>,
}

/// A phone inside a stored record: the same bytes as [`Phone`]'s own, read back by
/// [`Phone::from_stored`] rather than parsed again.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
struct StoredPhone(Phone);

impl TryFrom<String> for StoredPhone {
    type Error = crate::phone::PhoneError;

    fn try_from(e164: String) -> Result<StoredPhone, Self::Error> {
        Phone::from_stored(&e164).map(StoredPhone)
    }
}

impl From<StoredPhone> for String {
    fn from(phone: StoredPhone) -> String {
        phone.0.into()
    }
}

/// What version 3 added after [`Stored`]'s fields: the latest attempt's local moment and end,
/// from which its record in the attempt history is kept.
#[derive(Serialize, Deserialize)]
struct SinceV3 {
    dialed_local: Option<LocalMoment>,
    last_end: Option<StoredEnd>,
}

/// A call's end as the journal stores it (the API's [`CallState`] is read leniently from JSON,
/// which a binary format cannot do).
#[derive(Serialize, Deserialize)]
struct StoredEnd {
    status: String,
    end_call_reason: Option<String>,
    duration: Option<u64>,
    ringing_ms: Option<u64>,
    disconnect_reason: Option<String>,
}

/// An attempt as the history stores it under its key (caller, moment, callee; see
/// `Journal::put`), version 1.
#[derive(Serialize, Deserialize)]
struct StoredAttempt {
    number: u32,
    tier: Match,
    sent_at: i128,
    local: Option<LocalMoment>,
    end: Option<StoredEnd>,
}

/// [`State`] as format 2 stores it: externally tagged, which a binary format can read back.
#[derive(Serialize, Deserialize)]
enum StoredState {
    Pending,
    Dialing,
    Placed,
    Done {
        status: String,
        end_call_reason: Option<String>,
        duration_s: Option<u64>,
    },
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
    Uncertain {
        reason: String,
    },
}

/// The bytes stored for `entry` under its phone.
pub(super) fn encode(entry: &Entry) -> Vec<u8> {
    let since_v3 = SinceV3 {
        dialed_local: entry.dialed_local,
        last_end: entry.last_end.clone().map(StoredEnd::from),
    };
    let bytes = vec![VERSION];
    let bytes = postcard::to_extend(&Stored::from(entry.clone()), bytes);
    bytes
        .and_then(|bytes| postcard::to_extend(&since_v3, bytes))
        .expect("entries always serialise")
}

/// The entry stored under `phone`, in any format.
pub(super) fn decode(phone: &Phone, bytes: &[u8]) -> Result<Entry, DecodeError> {
    match bytes.first() {
        Some(&VERSION) => {
            let (stored, rest): (Stored, _) =
                postcard::take_from_bytes(&bytes[1..]).map_err(|e| e.to_string())?;
            let since_v3: SinceV3 = postcard::from_bytes(rest).map_err(|e| e.to_string())?;
            let mut entry = stored.into_entry(phone.clone())?;
            entry.dialed_local = since_v3.dialed_local;
            entry.last_end = since_v3.last_end.map(CallState::from);
            Ok(entry)
        }
        Some(&VERSION_2) => {
            let stored: Stored = postcard::from_bytes(&bytes[1..]).map_err(|e| e.to_string())?;
            stored.into_entry(phone.clone())
        }
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        Some(other) => Err(format!("unknown entry version {other}")),
        None => Err("empty entry".into()),
    }
}

/// Whether `bytes` is an entry in format 1 (JSON), which a migration rewrites.
pub(super) fn is_format_1(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// The record of the attempt `entry` made last, if it made one: number, tier, moment and end.
pub(super) fn encode_attempt(entry: &Entry) -> Option<Vec<u8>> {
    let stored = StoredAttempt {
        number: entry.attempts,
        tier: entry.local_match.unwrap_or(Match::Other),
        sent_at: nanos(entry.dialed_at?),
        local: entry.dialed_local,
        end: entry.last_end.clone().map(StoredEnd::from),
    };
    let bytes = postcard::to_extend(&stored, vec![ATTEMPT_VERSION]);
    Some(bytes.expect("attempts always serialise"))
}

/// The attempt from `caller` to `callee` stored as `bytes`.
pub(super) fn decode_attempt(
    caller: Phone,
    callee: Phone,
    bytes: &[u8],
) -> Result<Attempt, DecodeError> {
    match bytes.first() {
        Some(&ATTEMPT_VERSION) => {
            let stored: StoredAttempt =
                postcard::from_bytes(&bytes[1..]).map_err(|e| e.to_string())?;
            Ok(Attempt {
                callee,
                number: stored.number,
                caller_id: caller,
                tier: stored.tier,
                sent_at: instant(stored.sent_at)?,
                local: stored.local,
                end: stored.end.map(CallState::from),
            })
        }
        Some(other) => Err(format!("unknown attempt version {other}")),
        None => Err("empty attempt".into()),
    }
}

/// The tally's counters that belong to the campaign as a whole, stored together under one key:
/// a contact's move shifts several of them at once (two states, the attempts, an outcome, a
/// match), and one key is one write where one key per counter was up to five.
#[derive(Serialize, Deserialize)]
struct CampaignCounts {
    states: BTreeMap<StateKind, u64>,
    attempts: u64,
    outcomes: BTreeMap<String, u64>,
    matches: BTreeMap<Match, u64>,
}

/// One caller ID's counters, stored together under a key of their own: their number is the
/// pool's, so the campaign's key does not grow with it.
#[derive(Serialize, Deserialize)]
struct CallerCounts {
    calls: u64,
    local: u64,
}

/// The bytes stored for the campaign's counters of `tally`.
pub(super) fn encode_campaign_counts(tally: &Tally) -> Vec<u8> {
    let counts = CampaignCounts {
        states: tally.states.clone(),
        attempts: tally.attempts,
        outcomes: tally.outcomes.clone(),
        matches: tally.matches.clone(),
    };
    postcard::to_extend(&counts, vec![COUNTS_VERSION]).expect("counters always serialise")
}

/// Sets the campaign's counters of `tally` to those stored as `bytes`.
pub(super) fn decode_campaign_counts(bytes: &[u8], tally: &mut Tally) -> Result<(), DecodeError> {
    let counts: CampaignCounts = postcard::from_bytes(counts_body(bytes)?)
        .map_err(|e| format!("the tally's counters cannot be read: {e}"))?;
    tally.states = counts.states;
    tally.attempts = counts.attempts;
    tally.outcomes = counts.outcomes;
    tally.matches = counts.matches;
    Ok(())
}

/// The bytes stored for one caller ID's counters.
pub(super) fn encode_caller_counts(tally: &CallerTally) -> Vec<u8> {
    let counts = CallerCounts {
        calls: tally.calls,
        local: tally.local,
    };
    postcard::to_extend(&counts, vec![COUNTS_VERSION]).expect("counters always serialise")
}

/// One caller ID's counters stored as `bytes`.
pub(super) fn decode_caller_counts(bytes: &[u8]) -> Result<CallerTally, DecodeError> {
    let counts: CallerCounts = postcard::from_bytes(counts_body(bytes)?)
        .map_err(|e| format!("a caller ID's counters cannot be read: {e}"))?;
    Ok(CallerTally {
        calls: counts.calls,
        local: counts.local,
    })
}

fn counts_body(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    match bytes.split_first() {
        Some((&COUNTS_VERSION, body)) => Ok(body),
        Some((other, _)) => Err(format!("unknown counters version {other}")),
        None => Err("empty counters".into()),
    }
}

impl From<CallState> for StoredEnd {
    fn from(call: CallState) -> StoredEnd {
        StoredEnd {
            status: call.status,
            end_call_reason: call.end_call_reason,
            duration: call.duration,
            ringing_ms: call.ringing_ms,
            disconnect_reason: call.disconnect_reason,
        }
    }
}

impl From<StoredEnd> for CallState {
    fn from(end: StoredEnd) -> CallState {
        CallState {
            status: end.status,
            end_call_reason: end.end_call_reason,
            duration: end.duration,
            ringing_ms: end.ringing_ms,
            disconnect_reason: end.disconnect_reason,
        }
    }
}

fn nanos(at: Timestamp) -> i128 {
    at.as_nanosecond()
}

fn instant(nanos: i128) -> Result<Timestamp, DecodeError> {
    Timestamp::from_nanosecond(nanos).map_err(|e| e.to_string())
}

impl From<Entry> for Stored {
    fn from(entry: Entry) -> Stored {
        let Entry {
            contact,
            state,
            attempts,
            caller_id,
            local_match,
            call_id,
            dialed_at,
            updated_at,
            last_error,
            run,
            due_at,
            earlier_calls,
            dialed_local: _,
            last_end: _,
        } = entry;
        Stored {
            name: contact.name,
            line: contact.line,
            time_zone: contact.time_zone,
            region: contact.region,
            custom_variables: contact.custom_variables,
            state: state.into(),
            attempts,
            caller_id: caller_id.map(StoredPhone),
            local_match,
            call_id,
            dialed_at: dialed_at.map(nanos),
            updated_at: nanos(updated_at),
            last_error,
            run,
            due_at: due_at.map(nanos),
            earlier_calls,
        }
    }
}

impl Stored {
    fn into_entry(self, phone: Phone) -> Result<Entry, DecodeError> {
        Ok(Entry {
            contact: Contact {
                phone,
                name: self.name,
                line: self.line,
                time_zone: self.time_zone,
                region: self.region,
                custom_variables: self.custom_variables,
            },
            state: self.state.into(),
            attempts: self.attempts,
            caller_id: self.caller_id.map(|stored| stored.0),
            local_match: self.local_match,
            call_id: self.call_id,
            dialed_at: self.dialed_at.map(instant).transpose()?,
            updated_at: instant(self.updated_at)?,
            last_error: self.last_error,
            run: self.run,
            due_at: self.due_at.map(instant).transpose()?,
            earlier_calls: self.earlier_calls,
            dialed_local: None,
            last_end: None,
        })
    }
}

impl From<State> for StoredState {
    fn from(state: State) -> StoredState {
        match state {
            State::Pending => StoredState::Pending,
            State::Dialing => StoredState::Dialing,
            State::Placed => StoredState::Placed,
            State::Done {
                status,
                end_call_reason,
                duration_s,
            } => StoredState::Done {
                status,
                end_call_reason,
                duration_s,
            },
            State::Failed { reason } => StoredState::Failed { reason },
            State::Skipped { reason } => StoredState::Skipped { reason },
            State::Uncertain { reason } => StoredState::Uncertain { reason },
        }
    }
}

impl From<StoredState> for State {
    fn from(state: StoredState) -> State {
        match state {
            StoredState::Pending => State::Pending,
            StoredState::Dialing => State::Dialing,
            StoredState::Placed => State::Placed,
            StoredState::Done {
                status,
                end_call_reason,
                duration_s,
            } => State::Done {
                status,
                end_call_reason,
                duration_s,
            },
            StoredState::Failed { reason } => State::Failed { reason },
            StoredState::Skipped { reason } => State::Skipped { reason },
            StoredState::Uncertain { reason } => State::Uncertain { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::Country;
    use crate::rotation::Choice;

    fn dialled_entry() -> Entry {
        let phone = Phone::parse("+12125550123", Country::default()).expect("valid");
        let contact = Contact {
            phone,
            name: "Ada".into(),
            line: 2,
            time_zone: None,
            region: None,
            custom_variables: Vec::new(),
        };
        let at: Timestamp = "2026-12-01T15:00:00.123456789Z".parse().expect("valid");
        let mut entry = Entry::new(contact, 1, at);
        let choice = Choice {
            caller_id: Phone::parse("+12125550101", Country::default()).expect("valid"),
            local_match: Match::AreaCode,
            local: Some(LocalMoment {
                hour: 10,
                weekday: 2,
            }),
        };
        entry.dialing(&choice, at);
        entry.placed("call-1".into(), at);
        let end = CallState {
            status: "no-answer".into(),
            end_call_reason: Some("timeout".into()),
            duration: Some(0),
            ringing_ms: Some(31_000),
            disconnect_reason: Some("unknown".into()),
        };
        entry.redial_at(at, end, at);
        entry
    }

    /// Version 3 keeps the latest attempt's moment and end, to the nanosecond.
    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let entry = dialled_entry();
        let phone = entry.phone().clone();
        let read = decode(&phone, &encode(&entry)).expect("reads back");
        assert_eq!(read.dialed_local, entry.dialed_local);
        assert_eq!(read.last_end, entry.last_end);
        assert_eq!(read.dialed_at, entry.dialed_at);
        assert_eq!(read.state, entry.state);
    }

    /// A version-2 entry (written before the attempt history) still reads, with no moment or
    /// end of its latest attempt; a version byte nobody knows is refused, not guessed at.
    #[test]
    fn older_entries_read_and_unknown_versions_are_refused() {
        let entry = dialled_entry();
        let phone = entry.phone().clone();
        let version_2 = postcard::to_extend(&Stored::from(entry.clone()), vec![VERSION_2]);
        let read = decode(&phone, &version_2.expect("serialises")).expect("reads");
        assert_eq!(read.attempts, entry.attempts);
        assert_eq!(read.caller_id, entry.caller_id);
        assert_eq!((read.dialed_local, read.last_end), (None, None));
        let mut unknown = encode(&entry);
        unknown[0] = 9;
        assert!(decode(&phone, &unknown).unwrap_err().contains("version 9"));
    }

    /// An attempt's record carries what its entry knew of it when written.
    #[test]
    fn an_attempt_record_reads_back() {
        let entry = dialled_entry();
        let bytes = encode_attempt(&entry).expect("a dialled entry has an attempt");
        let caller = entry.caller_id.clone().expect("dialled");
        let attempt = decode_attempt(caller.clone(), entry.phone().clone(), &bytes).expect("reads");
        assert_eq!(attempt.caller_id, caller);
        assert_eq!(attempt.number, 1);
        assert_eq!(attempt.tier, Match::AreaCode);
        assert_eq!(Some(attempt.sent_at), entry.dialed_at);
        assert_eq!(attempt.local, entry.dialed_local);
        assert_eq!(attempt.end, entry.last_end);
        let never_dialled = Entry::new(entry.contact.clone(), 1, attempt.sent_at);
        assert!(encode_attempt(&never_dialled).is_none());
    }
}
