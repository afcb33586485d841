//! The witness: a small file beside the sled database that records the last commit sled made
//! durable. sled keeps the same commit number inside itself, so a database that comes back with
//! a lower number than its witness has lost writes that were durable (a truncated file, bytes
//! that made sled drop its tail, an older copy restored over it). The witness is written only
//! after sled's flush returned, so it can lag sled, never lead it: it never accuses a healthy
//! database. It also keeps when the campaign began, which `outdial repair` needs.
//!
//! The file is created once (a temporary file, fsynced, renamed, the directory fsynced) and then
//! rewritten in place: two 512-byte slots, commit n going to slot n % 2, each write followed by
//! an fdatasync. Writing in place keeps a commit's cost near sled's own flush (a new file per
//! commit cost two metadata fsyncs, ~10 ms on the bench machine); two slots mean a write torn by
//! a power cut spoils at most the newer one, and the older one still holds a true lower bound.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

pub(super) const FILE: &str = "witness";
pub(super) const SCRATCH: &str = "witness.tmp";
const FORMAT: &str = "outdial-witness/1";
/// One slot: a record, padded with spaces, ending in a newline.
const SLOT: usize = 512;

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
    /// Of its two slots, the readable one with the higher commit counts.
    pub fn read(dir: &Path) -> Result<Option<Witness>, String> {
        let bytes = match fs::read(dir.join(FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("its witness file cannot be read: {e}")),
        };
        let slots: Vec<Witness> = bytes
            .chunks(SLOT)
            .filter_map(|slot| serde_json::from_slice::<Witness>(slot.trim_ascii()).ok())
            .collect();
        match slots.into_iter().max_by_key(|w| w.commit) {
            Some(witness) if witness.format == FORMAT => Ok(Some(witness)),
            Some(witness) => Err(format!(
                "its witness file has format `{}`, not `{FORMAT}`",
                witness.format
            )),
            None => Err("its witness file is damaged: no slot can be read".into()),
        }
    }

    /// Creates the witness file in `dir` with this record in both slots, durably.
    pub fn create(&self, dir: &Path) -> std::io::Result<()> {
        let scratch = dir.join(SCRATCH);
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&scratch)?;
        let slot = self.slot();
        file.write_all(&slot)?;
        file.write_all(&slot)?;
        file.sync_all()?;
        fs::rename(&scratch, dir.join(FILE))?;
        File::open(dir)?.sync_all()
    }

    /// Opens the witness file in `dir` for [`Witness::record`].
    pub fn open_for_writing(dir: &Path) -> std::io::Result<File> {
        OpenOptions::new().write(true).open(dir.join(FILE))
    }

    /// Writes this record into its slot of `file` (from [`Witness::open_for_writing`]), durably.
    pub fn record(&self, file: &File) -> std::io::Result<()> {
        let at = (self.commit % 2) * SLOT as u64;
        file.write_all_at(&self.slot(), at)?;
        file.sync_data()
    }

    /// This record as one slot's bytes.
    fn slot(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("witnesses serialise");
        assert!(bytes.len() < SLOT, "a witness record fits its slot");
        bytes.resize(SLOT - 1, b' ');
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits alternate between the slots, the higher readable one counts, and a spoiled slot
    /// (a write torn by a power cut) leaves the other one's lower commit; both spoiled is damage.
    #[test]
    fn the_higher_readable_slot_counts_and_a_torn_one_falls_back() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut witness = Witness::new("c", Timestamp::UNIX_EPOCH);
        witness.create(dir.path()).unwrap();
        let file = Witness::open_for_writing(dir.path()).unwrap();
        for commit in 1..=5 {
            witness.commit = commit;
            witness.record(&file).unwrap();
            assert_eq!(Witness::read(dir.path()).unwrap().unwrap().commit, commit);
        }
        file.write_all_at(b"\0\0 torn", SLOT as u64).unwrap(); // commit 5's slot
        assert_eq!(Witness::read(dir.path()).unwrap().unwrap().commit, 4);
        file.write_all_at(b"\0\0 torn", 0).unwrap(); // commit 4's slot
        assert!(Witness::read(dir.path()).is_err(), "both slots spoiled");
    }
}
