//! The top-level error: one variant per thing a person must do, each with its exit code (SPEC §7).

use crate::api::ApiError;
use crate::campaign::ConfigError;
use crate::contacts::ContactsError;
use crate::journal::JournalError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Contacts(#[from] ContactsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("agent {agent}: {source}")]
    Agent { agent: String, source: ApiError },
    #[error(
        "agent {agent} has no attached phone numbers to call from: attach some in Synthflow (or with `outdial pool attach`), or list them under [rotation] numbers"
    )]
    EmptyPool { agent: String },
    #[error(
        "every caller ID of the pool was refused by the API: check the agent's attached numbers, then resume"
    )]
    PoolExhausted,
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    /// SPEC §7: 1 runtime failure, 2 bad input (incl. a locked journal), 3 account-level refusal.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Contacts(_) | Error::Usage(_) | Error::EmptyPool { .. } => 2,
            Error::Journal(JournalError::Storage { .. } | JournalError::Io { .. }) => 1,
            Error::Journal(_) => 2,
            Error::Agent {
                source: ApiError::Account { .. },
                ..
            }
            | Error::Api(ApiError::Account { .. }) => 3,
            Error::Agent {
                source: ApiError::Refused { .. },
                ..
            } => 2,
            Error::Agent { .. } | Error::Api(_) | Error::PoolExhausted | Error::Io { .. } => 1,
        }
    }
}
