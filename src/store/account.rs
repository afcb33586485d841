//! The per-account lock on one machine (issue 13): two `outdial run`s on one account and one machine, without a
//! shared store, would each pace to the account's full rate and together exceed it, silently.
//! Each run therefore holds an OS file lock named by the account for its whole life; a second
//! run on the same account is refused (exit 2) naming the holder and the ways forward.
//!
//! The lock file lives under the user's state directory (`$OUTDIAL_STATE_DIR`, else
//! `$XDG_STATE_HOME/outdial`, else `~/.local/state/outdial`), in `accounts/`, named by a SHA-256
//! of the API base URL and the key: the key itself is never in a name or a file. The lock is the
//! same OS lock as the journal's (`File::try_lock`), so it dies with its process: a file left by
//! a killed run blocks nobody.

use std::fmt;
use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::campaign::{ApiKey, Campaign};

/// Overrides where the state directory is (tests, or a machine whose home is read-only).
pub const STATE_DIR_ENV: &str = "OUTDIAL_STATE_DIR";

/// How many times a lock file removed under us (by its releasing holder) is opened again before
/// giving up; each round means another process just released or took the account.
const OPEN_ROUNDS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "the account at {base_url} is already in use on this machine by another outdial run ({holder}): two runs on one account would each pace to the account's full rate and together exceed its limits. Either run both campaigns in one process (`outdial run a.toml b.toml`), or share the account's limits through PostgreSQL with `[store] url = \"postgres://…\"` in each campaign file (or OUTDIAL_STORE_URL); otherwise wait for that run to finish or stop it, then run again"
    )]
    Held { base_url: String, holder: Holder },
    #[error(
        "no state directory for outdial's account locks: neither {STATE_DIR_ENV}, XDG_STATE_HOME nor HOME is set; set {STATE_DIR_ENV} to a directory outdial may write"
    )]
    NoStateDir,
    #[error(
        "the account lock at {path} could not be taken: {source}; check that the directory is writable, or set {STATE_DIR_ENV} to one that is"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Who holds an account, as its lock file says. Every part is optional: a holder that has just
/// taken the lock may not have written it yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: Option<u32>,
    pub campaign: Option<String>,
    pub host: Option<String>,
    pub since: Option<Timestamp>,
}

impl Holder {
    /// This process, running `campaign`, from now.
    fn this_process(campaign: &str) -> Holder {
        Holder {
            pid: Some(std::process::id()),
            campaign: Some(campaign.to_owned()),
            host: host_name(),
            since: Some(Timestamp::now()),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(campaign) = &self.campaign {
            parts.push(format!("campaign `{campaign}`"));
        }
        if let Some(host) = &self.host {
            parts.push(format!("host {host}"));
        }
        if let Some(since) = self.since {
            parts.push(format!("since {}", since.strftime("%Y-%m-%d %H:%M:%S UTC")));
        }
        if parts.is_empty() {
            f.write_str("a process that is just starting")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// The account held by this process, until dropped. Dropping it removes the lock file (while
/// still holding the lock), so that finished runs leave nothing behind.
#[derive(Debug)]
pub struct AccountLock {
    /// Held open for the lock's life: the OS lock is on it.
    file: File,
    path: PathBuf,
}

impl AccountLock {
    /// Takes the account of `base_url` and `key` for `campaign`, under `state_dir`; refuses when
    /// another process holds it.
    pub fn take(
        state_dir: &Path,
        base_url: &Url,
        key: &ApiKey,
        campaign: &str,
    ) -> Result<AccountLock, AccountError> {
        let dir = state_dir.join("accounts");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| AccountError::Io { path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
        let path = dir.join(format!("{}.lock", account_id(base_url, key)));
        let mut file = lock_file(&path, base_url)?;
        let holder = serde_json::to_vec(&Holder::this_process(campaign))
            .expect("a holder serialises to JSON");
        file.set_len(0).map_err(io(&path))?;
        file.write_all(&holder).map_err(io(&path))?;
        Ok(AccountLock { file, path })
    }

    /// Takes the account that `campaign` dials with `key`, under the user's [`state_dir`].
    pub fn for_campaign(campaign: &Campaign, key: &ApiKey) -> Result<AccountLock, AccountError> {
        AccountLock::take(&state_dir()?, &campaign.api.base_url, key, &campaign.name)
    }

    /// Where the lock file is, for messages and tests.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AccountLock {
    fn drop(&mut self) {
        // Removed while still locked: a process that opened the file before this removal finds,
        // once it has the lock, that the path no longer names its file, and opens it again.
        let _ = fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// Opens `path` and takes its OS lock; refuses with the holder's own words when it is held.
fn lock_file(path: &Path, base_url: &Url) -> Result<File, AccountError> {
    let io = |source| AccountError::Io {
        path: path.to_owned(),
        source,
    };
    for _ in 0..OPEN_ROUNDS {
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(AccountError::Held {
                    base_url: display_base(base_url),
                    holder: read_holder(path),
                });
            }
            Err(TryLockError::Error(source)) => return Err(io(source)),
        }
        if still_named_by(&file, path) {
            return Ok(file);
        }
    }
    Err(io(std::io::Error::other(
        "the lock file kept being replaced while it was being taken",
    )))
}

/// Whether `path` still names `file`: a releasing holder removes the file it held, and a lock
/// taken on a removed file keeps no one out.
fn still_named_by(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::metadata(path)) {
        (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
        _ => false,
    }
}

/// The holder as its lock file says; a file being written, or damaged, names nobody in
/// particular rather than failing the refusal.
fn read_holder(path: &Path) -> Holder {
    fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// The account's identity: the first 128 bits of SHA-256 over the base URL and the key, in hex.
/// A one-way hash, so the file name tells nothing of the key; the URL is part of it because one
/// key on two vendors' regions is two accounts.
pub fn account_id(base_url: &Url, key: &ApiKey) -> String {
    let mut hash = Sha256::new();
    hash.update(display_base(base_url).as_bytes());
    hash.update([0]);
    hash.update(key.expose().as_bytes());
    hash.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The base URL as people write it: `https://host/v2` and `https://host/v2/` are one account.
fn display_base(base_url: &Url) -> String {
    base_url.as_str().trim_end_matches('/').to_owned()
}

/// Where outdial keeps state that belongs to the user rather than to one campaign.
pub fn state_dir() -> Result<PathBuf, AccountError> {
    let from = |var: &str| std::env::var_os(var).filter(|value| !value.is_empty());
    if let Some(dir) = from(STATE_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = from("XDG_STATE_HOME") {
        return Ok(PathBuf::from(dir).join("outdial"));
    }
    from("HOME")
        .map(|home| PathBuf::from(home).join(".local/state/outdial"))
        .ok_or(AccountError::NoStateDir)
}

/// This machine's name, for the holder's description; none when the system will not say.
pub fn host_name() -> Option<String> {
    whoami::hostname().ok().filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// The account's file is named by a hash that depends on URL and key, and shows neither.
    #[test]
    fn the_lock_is_named_by_a_hash_of_url_and_key() {
        let key = ApiKey::new("sk-live-very-secret");
        let a = account_id(&url("https://api.synthflow.ai/v2"), &key);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!a.contains("secret"));
        assert_eq!(a, account_id(&url("https://api.synthflow.ai/v2/"), &key));
        assert_ne!(
            a,
            account_id(&url("https://api.synthflow.ai/v2"), &ApiKey::new("other"))
        );
        assert_ne!(a, account_id(&url("https://eu.synthflow.ai/v2"), &key));
    }

    /// A second take of a held account is refused naming the holder, the key is in no file,
    /// and once released the account can be taken again and no file is left.
    #[test]
    fn a_held_account_is_refused_until_released() {
        let state = tempfile::TempDir::new().unwrap();
        let base = url("http://127.0.0.1:9/v2");
        let key = ApiKey::new("sk-the-key-itself");
        let held = AccountLock::take(state.path(), &base, &key, "spring").unwrap();
        let text = fs::read_to_string(held.path()).unwrap();
        assert!(!text.contains("sk-the-key-itself"), "{text}");
        let error = AccountLock::take(state.path(), &base, &key, "autumn").unwrap_err();
        let AccountError::Held { holder, .. } = &error else {
            panic!("expected Held, got {error}");
        };
        assert_eq!(holder.pid, Some(std::process::id()));
        assert_eq!(holder.campaign.as_deref(), Some("spring"));
        assert!(
            error
                .to_string()
                .contains("run both campaigns in one process")
        );
        assert!(error.to_string().contains("[store] url"));
        let other = AccountLock::take(state.path(), &base, &ApiKey::new("k2"), "autumn");
        assert!(other.is_ok(), "another key is another account");
        let path = held.path().to_owned();
        drop(held);
        assert!(!path.exists(), "a released lock leaves no file");
        AccountLock::take(state.path(), &base, &key, "autumn").expect("free again");
    }
}
