//! A sled journal's batches, all or none, without sled's own batches.
//!
//! sled 0.34 makes a batch atomic by sealing its log buffer before and after the batch: two
//! buffers handed to its I/O threads, each written and synced on its own, for every batch. That
//! was half of a run's CPU (two or three batches per call; see README, Design). Here a batch is
//! first written whole as one record under one key, then key by key, then the record is removed.
//!
//! sled recovers its log as a prefix: it stops at the first message it cannot read, and drops
//! every later one (which is also how its own batches are all or none: recovery stops at a batch
//! whose end it cannot reach). So after a crash the record is still there exactly when its batch
//! may be half written, and [`Redo::open`] writes the batch again before anything reads the
//! journal. Writing a batch again is harmless: each write is a value put or a key removed.
//!
//! Every write made through the journal's trees takes one lock, so nothing else writes their keys
//! between a record and its removal: when the record is found, the writes after it in the log are
//! its batch's own, and finishing the batch cannot undo a later write. A write that panicked
//! holding the lock may have left its batch half written in memory, so every write after it is
//! refused (the run stops) and the next open finishes the batch.

use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// The tree that holds the record of the batch being written.
const TREE: &str = "redo";
/// The record's key: one batch is written at a time.
const KEY: &[u8] = b"batch";

/// A value put (`Some`) or a key removed (`None`).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// A batch as it is recorded before its first key is written.
#[derive(Serialize, Deserialize)]
struct Record {
    /// The name of the sled tree the batch writes to.
    tree: Vec<u8>,
    writes: Vec<Write>,
}

/// Why a journal's unfinished batch could not be finished.
pub enum Unfinished {
    /// The record cannot be read: the journal is damaged.
    Damaged(String),
    /// sled failed.
    Storage(sled::Error),
}

impl From<sled::Error> for Unfinished {
    fn from(e: sled::Error) -> Unfinished {
        Unfinished::Storage(e)
    }
}

/// The journal's writer of sled batches.
pub struct Redo {
    record: sled::Tree,
    writing: Mutex<()>,
}

impl Redo {
    /// Opens the record of `db`'s batches and finishes the batch a crash cut short, if any, making
    /// it durable before the journal is read.
    pub fn open(db: &sled::Db) -> Result<Redo, Unfinished> {
        let record = db.open_tree(TREE)?;
        if let Some(bytes) = record.get(KEY)? {
            let Record { tree, writes } = postcard::from_bytes(&bytes).map_err(|e| {
                Unfinished::Damaged(format!("its unfinished batch is damaged: {e}"))
            })?;
            let tree = db.open_tree(tree)?;
            write_each(&tree, &writes)?;
            record.remove(KEY)?;
            db.flush()?;
        }
        Ok(Redo {
            record,
            writing: Mutex::new(()),
        })
    }

    /// Writes `writes` to `tree`, all or none should the process die midway.
    pub fn apply(&self, tree: &sled::Tree, writes: Vec<Write>) -> Result<(), sled::Error> {
        let _writing = self.lock()?;
        if let [_] = writes.as_slice() {
            // One write needs no record: sled's single insert or remove is atomic.
            return write_each(tree, &writes);
        }
        let record = Record {
            tree: tree.name().to_vec(),
            writes,
        };
        let bytes = postcard::to_stdvec(&record).expect("a batch always serialises");
        self.record.insert(KEY, bytes)?;
        write_each(tree, &record.writes)?;
        self.record.remove(KEY)?;
        Ok(())
    }

    /// Removes every record of `tree`, with no batch half written.
    pub fn clear(&self, tree: &sled::Tree) -> Result<(), sled::Error> {
        let _writing = self.lock()?;
        tree.clear()
    }

    /// The lock, unless a write panicked holding it (see the module's doc).
    fn lock(&self) -> Result<MutexGuard<'_, ()>, sled::Error> {
        self.writing.lock().map_err(|_| {
            sled::Error::ReportableBug(
                "a journal write panicked midway; resume the campaign to finish it".into(),
            )
        })
    }
}

fn write_each(tree: &sled::Tree, writes: &[Write]) -> Result<(), sled::Error> {
    for (key, value) in writes {
        match value {
            Some(value) => tree.insert(key, value.as_slice()).map(drop)?,
            None => tree.remove(key).map(drop)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const KEYS: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];

    fn open(dir: &Path) -> sled::Result<sled::Db> {
        sled::Config::new().path(dir.join("sled")).open()
    }

    /// A tree whose four keys hold `old`, made durable.
    fn before_the_batch(db: &sled::Db) -> sled::Tree {
        let tree = db.open_tree("contacts").unwrap();
        for key in KEYS {
            tree.insert(key, b"old").unwrap();
        }
        db.flush().unwrap();
        tree
    }

    /// The batch under test: three values put, one key removed.
    fn batch() -> Vec<Write> {
        let mut writes: Vec<Write> = KEYS[..3]
            .iter()
            .map(|key| (key.to_vec(), Some(b"new".to_vec())))
            .collect();
        writes.push((KEYS[3].to_vec(), None));
        writes
    }

    /// Leaves in `db` the record of [`batch`] to the tree `named`, as a crash after it leaves it.
    fn leave_record(db: &sled::Db, named: &[u8]) {
        let record = Record {
            tree: named.to_vec(),
            writes: batch(),
        };
        db.open_tree(TREE)
            .unwrap()
            .insert(KEY, postcard::to_stdvec(&record).unwrap())
            .unwrap();
    }

    /// What the tree holds of the batch: `Some(true)` all of it, `Some(false)` none of it.
    fn batch_state(tree: &sled::Tree) -> Option<bool> {
        let values: Vec<Option<sled::IVec>> = KEYS.iter().map(|k| tree.get(k).unwrap()).collect();
        let new = b"new".as_slice();
        let all = values[..3].iter().all(|v| v.as_deref() == Some(new)) && values[3].is_none();
        let none = values
            .iter()
            .all(|v| v.as_deref() == Some(b"old".as_slice()));
        (all || none).then_some(all)
    }

    #[test]
    fn a_batch_cut_short_by_a_crash_is_finished_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path()).unwrap();
            let tree = before_the_batch(&db);
            // What a crash after the record and the batch's first key leaves.
            leave_record(&db, &tree.name());
            tree.insert(KEYS[0], b"new").unwrap();
            db.flush().unwrap();
            assert_eq!(batch_state(&tree), None, "the batch is half written");
        }
        let db = open(dir.path()).unwrap();
        Redo::open(&db).ok().expect("the record is read");
        let tree = db.open_tree("contacts").unwrap();
        assert_eq!(batch_state(&tree), Some(true));
        assert!(db.open_tree(TREE).unwrap().is_empty(), "the record is gone");
    }

    #[test]
    fn an_unfinished_batch_to_the_default_tree_is_finished_too() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = open(dir.path()).unwrap();
            leave_record(&db, &db.name());
            db.flush().unwrap();
        }
        let db = open(dir.path()).unwrap();
        Redo::open(&db).ok().expect("the record is read");
        assert_eq!(db.get(b"a").unwrap().as_deref(), Some(b"new".as_slice()));
    }

    #[tokio::test]
    async fn a_journal_finishes_an_unfinished_batch_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let journal_dir = dir.path().join("journal");
        crate::journal::Journal::open(&journal_dir, "c")
            .unwrap()
            .close()
            .await;
        {
            let db = open(&journal_dir).unwrap();
            leave_record(&db, b"meta");
            db.flush().unwrap();
        }
        crate::journal::Journal::open(&journal_dir, "c")
            .unwrap()
            .close()
            .await;
        let db = open(&journal_dir).unwrap();
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(meta.get(b"c").unwrap().as_deref(), Some(b"new".as_slice()));
        assert!(db.open_tree(TREE).unwrap().is_empty(), "the record is gone");
    }

    #[test]
    fn after_a_write_panics_holding_the_lock_every_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path()).unwrap();
        let redo = Redo::open(&db).ok().unwrap();
        let tree = before_the_batch(&db);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _writing = redo.lock().unwrap();
            panic!("a write panics midway");
        }));
        assert!(panicked.is_err());
        assert!(redo.apply(&tree, batch()).is_err());
        assert!(redo.clear(&tree).is_err());
        assert_eq!(batch_state(&tree), Some(false), "nothing was written");
    }

    #[test]
    fn a_damaged_record_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path()).unwrap();
        db.open_tree(TREE).unwrap().insert(KEY, &[0xff; 3]).unwrap();
        match Redo::open(&db) {
            Err(Unfinished::Damaged(why)) => assert!(why.contains("unfinished batch"), "{why}"),
            _ => panic!("a damaged record must be refused"),
        }
    }

    /// The log after a batch, damaged at every place the batch's messages can lie: cut there (a
    /// crash before the rest was written) or zeroed there with what follows kept (a later log
    /// buffer written before an earlier one). Whatever sled recovers, the batch is all or none.
    #[test]
    fn a_batch_is_all_or_none_wherever_the_log_is_damaged() {
        let made = tempfile::tempdir().unwrap();
        let log = |dir: &Path| dir.join("sled").join("db");
        let before = {
            let db = open(made.path()).unwrap();
            before_the_batch(&db);
            db.flush().unwrap();
            let size = std::fs::metadata(log(made.path())).unwrap().len();
            let redo = Redo::open(&db).ok().unwrap();
            let tree = db.open_tree("contacts").unwrap();
            redo.apply(&tree, batch()).unwrap();
            db.flush().unwrap();
            size
        };
        let bytes = std::fs::read(log(made.path())).unwrap();
        let (mut all, mut none) = (0, 0);
        for at in before as usize..bytes.len() {
            for cut in [true, false] {
                let copy = tempfile::tempdir().unwrap();
                copy_dir(&made.path().join("sled"), &copy.path().join("sled"));
                let mut damaged = bytes.clone();
                match cut {
                    true => damaged.truncate(at),
                    false => damaged[at..(at + 16).min(bytes.len())].fill(0),
                }
                std::fs::write(log(copy.path()), &damaged).unwrap();
                let Ok(db) = open(copy.path()) else { continue };
                let Ok(_) = Redo::open(&db) else { continue };
                let tree = db.open_tree("contacts").unwrap();
                match batch_state(&tree) {
                    Some(true) => all += 1,
                    Some(false) => none += 1,
                    None => panic!("half the batch recovered (damage at {at}, cut: {cut})"),
                }
            }
        }
        assert!(all > 0 && none > 0, "all {all} times, none {none} times");
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for item in std::fs::read_dir(from).unwrap() {
            let item = item.unwrap();
            let to = to.join(item.file_name());
            match item.file_type().unwrap().is_dir() {
                true => copy_dir(&item.path(), &to),
                false => drop(std::fs::copy(item.path(), to).unwrap()),
            }
        }
    }
}
