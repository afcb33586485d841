//! How an entry is stored (journal format 2): one version byte, then the entry in postcard, a
//! compact binary serde format. The phone is the key, so it is not stored again; instants are
//! nanoseconds since the epoch (lossless, a few bytes as varints). The stored shape is its own
//! type, frozen for its version byte, so that changing [`Entry`] in memory never silently changes
//! what older journals hold: a new shape gets a new version byte and a branch in [`decode`].
//!
//! Format 1 (`outdial-journal/1`) stored entries as JSON text; its values start with `{`, never
//! with a version byte, so [`decode`] still reads them (a journal being migrated holds both).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Entry, State};
use crate::area_codes::Region;
use crate::contacts::{Contact, CustomVariable};
use crate::phone::Phone;
use crate::rotation::Match;

/// The version byte of entries written today.
const VERSION: u8 = 2;

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
    caller_id: Option<Phone>,
    local_match: Option<Match>,
    call_id: Option<String>,
    dialed_at: Option<i128>,
    updated_at: i128,
    last_error: Option<String>,
    run: u64,
    due_at: Option<i128>,
    earlier_calls: Vec<String>,
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
    let bytes = vec![VERSION];
    let stored = Stored::from(entry.clone());
    postcard::to_extend(&stored, bytes).expect("entries always serialise")
}

/// The entry stored under `phone`, in either format.
pub(super) fn decode(phone: &Phone, bytes: &[u8]) -> Result<Entry, DecodeError> {
    match bytes.first() {
        Some(&VERSION) => {
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
        } = entry;
        Stored {
            name: contact.name,
            line: contact.line,
            time_zone: contact.time_zone,
            region: contact.region,
            custom_variables: contact.custom_variables,
            state: state.into(),
            attempts,
            caller_id,
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
            caller_id: self.caller_id,
            local_match: self.local_match,
            call_id: self.call_id,
            dialed_at: self.dialed_at.map(instant).transpose()?,
            updated_at: instant(self.updated_at)?,
            last_error: self.last_error,
            run: self.run,
            due_at: self.due_at.map(instant).transpose()?,
            earlier_calls: self.earlier_calls,
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
