//! The witness: a small file beside the sled database that records the last commit sled made
//! durable. sled keeps the same commit number inside itself, so a database that comes back with
//! a lower number than its witness has lost writes that were durable (a truncated file, bytes
//! that made sled drop its tail, an older copy restored over it). The witness is written only
//! after sled's flush returned, to a temporary file that is fsynced, renamed over the old one,
//! then the directory fsynced: it can lag sled, never lead it, so it never accuses a healthy
//! database. It also keeps when the campaign began, which `outdial repair` needs.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub(super) const FILE: &str = "witness";
pub(super) const SCRATCH: &str = "witness.tmp";
const FORMAT: &str = "outdial-witness/1";

/// What the witness file says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Witness {
    format: String,
    pub campaign: String,
    /// When the journal was created: the campaign's first run.
    pub began: Timestamp,
    /// The highest commit number sled is known to hold durably. 0: no commit yet, so no create
    /// request can have been sent.
    pub commit: u64,
}

impl Witness {
    /// The witness of a journal being created now.
    pub fn new(campaign: &str, began: Timestamp) -> Witness {
        Witness {
            format: FORMAT.to_owned(),
            campaign: campaign.to_owned(),
            began,
            commit: 0,
        }
    }

    /// The witness in `dir`: `Ok(None)` when there is none, `Err(why)` when it cannot be read.
    pub fn read(dir: &Path) -> Result<Option<Witness>, String> {
        let bytes = match fs::read(dir.join(FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("its witness file cannot be read: {e}")),
        };
        match serde_json::from_slice::<Witness>(&bytes) {
            Ok(witness) if witness.format == FORMAT => Ok(Some(witness)),
            Ok(witness) => Err(format!(
                "its witness file has format `{}`, not `{FORMAT}`",
                witness.format
            )),
            Err(e) => Err(format!("its witness file is damaged: {e}")),
        }
    }

    /// Replaces the witness in `dir` with this one, durably: a crash leaves the old or the new.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let scratch = dir.join(SCRATCH);
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&scratch)?;
        file.write_all(&serde_json::to_vec(self).expect("witnesses serialise"))?;
        file.sync_all()?;
        fs::rename(&scratch, dir.join(FILE))?;
        File::open(dir)?.sync_all()
    }
}
