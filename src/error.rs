//! The top-level error: one variant per thing a person must do, each with its exit code (SPEC §7).

use crate::api::{ApiError, FlowyteError, Wallet};
use crate::campaign::ConfigError;
use crate::contacts::ContactsError;
use crate::journal::JournalError;
use crate::phone::Phone;
use crate::store::StoreError;
use crate::store::account::AccountError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Contacts(#[from] ContactsError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    DoNotCall(#[from] crate::suppression::SuppressionError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
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
    #[error(
        "a call task panicked ({0}): this is a bug in outdial, please report it; the run stopped and the journal is saved, so `outdial resume` looks up the call of any contact left `dialing` before dialling again"
    )]
    TaskPanicked(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("{0}")]
    Usage(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// A `pool` command the Synthflow API refused. Unlike [`Error::Agent`], the agent id came
    /// from a flag and a 404 is a runtime answer, not a broken campaign file.
    #[error("agent {agent}: {source}")]
    Pool { agent: String, source: ApiError },
    #[error(transparent)]
    Numbers(#[from] FlowyteError),
    /// 409 on a hold: another customer holds or bought the number.
    #[error(
        "{e164} can no longer be held ({detail}): search again with `outdial numbers search` and reserve another"
    )]
    NotHoldable { e164: Phone, detail: String },
    /// 409 on a purchase without `--reservation`: the number is on hold, maybe by the caller.
    #[error(
        "{e164} is on hold, and a held number is sold only under its reservation: if the hold is yours, run `outdial numbers buy {e164} --reservation ID` with the id `outdial numbers reserve` printed; if it is not, search again with `outdial numbers search`"
    )]
    HeldWithoutReservation { e164: Phone },
    /// 402 on a purchase; `wallet` is the balance read right after, when it could be read.
    #[error("{}", wallet_short(.e164, .detail, .wallet.as_ref()))]
    WalletShort {
        e164: Phone,
        detail: String,
        wallet: Option<Wallet>,
    },
}

impl Error {
    /// SPEC §7: 1 runtime failure, 2 bad input (incl. a locked journal), 3 account-level refusal.
    /// For the provisioning commands, 401/402/403 from either vendor are account-level (3), and
    /// a 404 or 409 is a runtime answer about the world, not a malformed command (1).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_)
            | Error::Contacts(_)
            | Error::DoNotCall(_)
            | Error::Plan(_)
            | Error::Usage(_)
            | Error::EmptyPool { .. } => 2,
            Error::Journal(JournalError::Storage { .. } | JournalError::Io { .. }) => 1,
            // Another run holds the account, or no state directory: fix and run again.
            Error::Account(AccountError::Io { .. }) => 1,
            Error::Account(_) => 2,
            // A URL that cannot be used, or a campaign another host runs: bad input, as a locked
            // journal is; an unreachable or failing store is a runtime failure.
            Error::Store(store) | Error::Journal(JournalError::Store(store)) => match store {
                StoreError::PasswordInFile { .. }
                | StoreError::BadUrl { .. }
                | StoreError::RootCert { .. }
                | StoreError::ClientCert { .. }
                | StoreError::CampaignLocked { .. } => 2,
                _ => 1,
            },
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
            Error::Agent { .. }
            | Error::Api(_)
            | Error::PoolExhausted
            | Error::TaskPanicked(_)
            | Error::Io { .. } => 1,
            Error::Pool {
                source: ApiError::Account { .. },
                ..
            }
            | Error::Numbers(FlowyteError::Account(_))
            | Error::WalletShort { .. } => 3,
            Error::Pool { .. }
            | Error::Numbers(_)
            | Error::NotHoldable { .. }
            | Error::HeldWithoutReservation { .. } => 1,
        }
    }
}

/// The 402 message: what the purchase needed, what the wallet holds, and how a person refills it
/// (a top-up is a card payment that settles later, so the CLI cannot do it for them).
fn wallet_short(e164: &Phone, detail: &str, wallet: Option<&Wallet>) -> String {
    let balance = match wallet {
        Some(wallet) => format!("the wallet holds ${:.2}", wallet.balance_usd),
        None => "the wallet balance could not be read".to_owned(),
    };
    format!(
        "buying {e164} was refused for lack of funds ({detail}); {balance}: top up the Flowyte wallet in the dashboard (Billing → Wallet) or turn on auto-reload, then run the same command again"
    )
}
