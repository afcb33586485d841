//! The journal's trees, kept by sled on this disk or as rows in the shared store (issue 13). The
//! journal is written in one vocabulary either way — get, put, remove, an atomic batch, a scan in
//! key order — so its records, their keys and its guarantees are the same in both.
//!
//! The store is reached from a thread of the journal's own with a small runtime: the journal's
//! API is synchronous (sled's is), and a write must have committed before the journal returns,
//! exactly as a sled write is in sled's log when it returns. A request that fails because the
//! store is unreachable or restarting is asked again, with a pause, for up to [`PATIENCE`]: a
//! run waits for its store rather than losing a write. Every write is idempotent (a value put or
//! a key removed), so asking again after a commit whose answer was lost is harmless.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as sync_mpsc;
use std::time::{Duration, Instant};

use sled::IVec;
use tokio::sync::mpsc;

use super::redo::{Redo, Write};
use crate::store::{JournalPage, JournalTree, Store, StoreError, StoreUrl};

/// How long a journal request waits for an unreachable store before the run stops.
pub const PATIENCE: Duration = Duration::from_secs(600);
/// Records read per request when a scan walks a tree in the store.
const PAGE: i64 = 512;

/// A key and its value.
pub type Pair = (IVec, IVec);
/// Records as the store answers them: keys and values.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;
/// What a tree's failure says (sled's error, or the store's).
pub type Failure = String;

/// One of the journal's trees.
pub enum Tree {
    /// A sled tree, written through the journal's one [`Redo`].
    Disk { tree: sled::Tree, redo: Arc<Redo> },
    Shared {
        store: Arc<SharedJournal>,
        name: &'static str,
    },
}

/// Writes made together, all or none: a value put (`Some`) or a key removed (`None`).
#[derive(Default)]
pub struct Batch(Vec<Write>);

impl Batch {
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.0
            .push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn remove(&mut self, key: impl AsRef<[u8]>) {
        self.0.push((key.as_ref().to_vec(), None));
    }
}

impl Tree {
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<IVec>, Failure> {
        match self {
            Tree::Disk { tree, .. } => tree.get(key).map_err(|e| e.to_string()),
            Tree::Shared { store, name } => {
                match store.ask(name, Ask::Get(key.as_ref().to_vec()))? {
                    Answer::Value(value) => Ok(value.map(IVec::from)),
                    _ => unreachable!("a get is answered with a value"),
                }
            }
        }
    }

    pub fn insert(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), Failure> {
        let mut batch = Batch::default();
        batch.insert(key, value);
        self.apply(batch)
    }

    pub fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), Failure> {
        let mut batch = Batch::default();
        batch.remove(key);
        self.apply(batch)
    }

    /// Writes the batch atomically.
    pub fn apply(&self, batch: Batch) -> Result<(), Failure> {
        match self {
            Tree::Disk { tree, redo } => redo.apply(tree, batch.0).map_err(|e| e.to_string()),
            Tree::Shared { store, name } => store.ask(name, Ask::Write(batch.0)).map(drop),
        }
    }

    /// The records whose keys start with `prefix`, in key order, read as the scan goes.
    pub fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Scan<'_> {
        self.scan(prefix.as_ref(), false)
    }

    /// The same records, last key first.
    pub fn scan_prefix_rev(&self, prefix: impl AsRef<[u8]>) -> Scan<'_> {
        self.scan(prefix.as_ref(), true)
    }

    /// Every record, in key order.
    pub fn iter(&self) -> Scan<'_> {
        self.scan(&[], false)
    }

    fn scan(&self, prefix: &[u8], backwards: bool) -> Scan<'_> {
        match self {
            Tree::Disk { tree, .. } => {
                let found = tree.scan_prefix(prefix);
                let found = found.map(|item| item.map_err(|e| e.to_string()));
                match backwards {
                    false => Box::new(found),
                    true => Box::new(found.rev()),
                }
            }
            Tree::Shared { store, name } => Box::new(Pages {
                store,
                name,
                from: prefix.to_vec(),
                to: past(prefix),
                backwards,
                read: VecDeque::new(),
                ended: false,
            }),
        }
    }

    /// The first record whose key is `from` or after it.
    pub fn first_from(&self, from: &[u8]) -> Result<Option<Pair>, Failure> {
        match self {
            Tree::Disk { tree, .. } => tree
                .range(from..)
                .next()
                .transpose()
                .map_err(|e| e.to_string()),
            Tree::Shared { store, name } => {
                let rows = store.page(name, from.to_vec(), None, false, 1)?;
                Ok(rows.into_iter().next().map(|(k, v)| (k.into(), v.into())))
            }
        }
    }

    /// Makes what was written durable: sled flushes; the store has committed each write already.
    pub fn flush(&self) -> Result<(), Failure> {
        match self {
            Tree::Disk { tree, .. } => tree.flush().map(drop).map_err(|e| e.to_string()),
            Tree::Shared { .. } => Ok(()),
        }
    }

    /// The record with the least key.
    pub fn first(&self) -> Result<Option<Pair>, Failure> {
        self.first_from(&[])
    }

    /// Removes every record.
    pub fn clear(&self) -> Result<(), Failure> {
        match self {
            Tree::Disk { tree, redo } => redo.clear(tree).map_err(|e| e.to_string()),
            Tree::Shared { store, name } => store.ask(name, Ask::Clear).map(drop),
        }
    }
}

/// Records read from a tree, in order.
pub type Scan<'a> = Box<dyn Iterator<Item = Result<Pair, Failure>> + 'a>;

/// The least key after every key that starts with `prefix` (`None`: no such key, as for an
/// empty prefix or one of `0xff` bytes).
fn past(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A scan of a tree in the store, a page at a time.
struct Pages<'a> {
    store: &'a SharedJournal,
    name: &'static str,
    /// Keys left to read: from `from` (inclusive) to `to` (exclusive).
    from: Vec<u8>,
    to: Option<Vec<u8>>,
    backwards: bool,
    read: VecDeque<(Vec<u8>, Vec<u8>)>,
    ended: bool,
}

impl Pages<'_> {
    fn read_page(&mut self) -> Result<(), Failure> {
        let (from, to) = (self.from.clone(), self.to.clone());
        let rows = self.store.page(self.name, from, to, self.backwards, PAGE)?;
        self.ended = rows.len() < PAGE as usize;
        if let Some((last, _)) = rows.last() {
            if self.backwards {
                self.to = Some(last.clone());
            } else {
                // The least key after `last`.
                self.from = [last.as_slice(), &[0]].concat();
            }
        }
        self.read = rows.into();
        Ok(())
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Pair, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.read.is_empty()
            && !self.ended
            && let Err(failure) = self.read_page()
        {
            self.ended = true;
            return Some(Err(failure));
        }
        let (key, value) = self.read.pop_front()?;
        Some(Ok((key.into(), value.into())))
    }
}

/// A campaign's journal in the store: the thread that talks to it, and how many writes it made.
pub struct SharedJournal {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    writes: AtomicU64,
}

enum Ask {
    Get(Vec<u8>),
    Write(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    Page {
        from: Vec<u8>,
        to: Option<Vec<u8>>,
        backwards: bool,
        limit: i64,
    },
    Clear,
}

enum Answer {
    Value(Option<Vec<u8>>),
    Done,
    Rows(Rows),
}

struct Job {
    tree: &'static str,
    ask: Ask,
    answer: sync_mpsc::SyncSender<Result<Answer, StoreError>>,
}

impl SharedJournal {
    /// Connects to the store (applying its migrations) for `campaign`'s journal.
    pub fn connect(url: &StoreUrl, campaign: &str) -> Result<SharedJournal, StoreError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let (connected, connecting) = sync_mpsc::sync_channel(1);
        let (url, campaign) = (url.clone(), campaign.to_owned());
        let thread = std::thread::Builder::new()
            .name("outdial-journal-store".into())
            .spawn(move || serve(url, campaign, queue, connected))
            .expect("a thread starts");
        let journal = SharedJournal {
            jobs: Some(jobs),
            thread: Some(thread),
            writes: AtomicU64::new(0),
        };
        match wait(&connecting) {
            Some(Ok(())) => Ok(journal),
            Some(Err(e)) => Err(e),
            None => unreachable!("the thread answers before it ends"),
        }
    }

    /// Transactions committed for the journal so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Up to `limit` records from `from` (inclusive) to `to` (exclusive), in key order or
    /// backwards.
    fn page(
        &self,
        tree: &'static str,
        from: Vec<u8>,
        to: Option<Vec<u8>>,
        backwards: bool,
        limit: i64,
    ) -> Result<Rows, Failure> {
        let page = Ask::Page {
            from,
            to,
            backwards,
            limit,
        };
        match self.ask(tree, page)? {
            Answer::Rows(rows) => Ok(rows),
            _ => unreachable!("a page is answered with rows"),
        }
    }

    fn ask(&self, tree: &'static str, ask: Ask) -> Result<Answer, Failure> {
        let writing = matches!(ask, Ask::Write(_) | Ask::Clear);
        let (answer, answered) = sync_mpsc::sync_channel(1);
        let job = Job { tree, ask, answer };
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        let answer = match sent.then(|| wait(&answered)).flatten() {
            Some(answer) => answer.map_err(|e| e.to_string())?,
            None => return Err("the journal's connection to the store has ended".into()),
        };
        if writing {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer)
    }
}

impl Drop for SharedJournal {
    /// Lets the thread finish the request in hand, and end.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits for the journal's thread to answer. On a multi-threaded runtime's worker the wait is
/// announced to the runtime, which moves the worker's other tasks elsewhere meanwhile.
fn wait<T>(answered: &sync_mpsc::Receiver<T>) -> Option<T> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let on_worker = Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
    match on_worker {
        true => tokio::task::block_in_place(|| answered.recv().ok()),
        false => answered.recv().ok(),
    }
}

/// The journal's thread: connects, says whether it could, then answers requests in order until
/// the journal is dropped.
fn serve(
    url: StoreUrl,
    campaign: String,
    mut queue: mpsc::UnboundedReceiver<Job>,
    connected: sync_mpsc::SyncSender<Result<(), StoreError>>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime builds");
    runtime.block_on(async {
        let store = match Store::connect(&url).await {
            Ok(store) => store,
            Err(e) => {
                let _ = connected.send(Err(e));
                return;
            }
        };
        let _ = connected.send(Ok(()));
        while let Some(job) = queue.recv().await {
            let tree = JournalTree {
                campaign: &campaign,
                tree: job.tree,
            };
            let _ = job.answer.send(patiently(&store, &tree, &job.ask).await);
        }
    });
}

/// Asks the store, again after a pause while it is unreachable, for up to [`PATIENCE`].
async fn patiently(store: &Store, tree: &JournalTree<'_>, ask: &Ask) -> Result<Answer, StoreError> {
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    loop {
        match once(store, tree, ask).await {
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                if !warned {
                    tracing::warn!("{e}; the journal waits for the store (up to {PATIENCE:?})");
                    warned = true;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            answered => {
                if warned && answered.is_ok() {
                    tracing::info!("the store is back; the journal goes on");
                }
                return answered;
            }
        }
    }
}

async fn once(store: &Store, tree: &JournalTree<'_>, ask: &Ask) -> Result<Answer, StoreError> {
    Ok(match ask {
        Ask::Get(key) => Answer::Value(store.journal_get(tree, key).await?),
        Ask::Write(writes) => {
            store.journal_write(tree, writes).await?;
            Answer::Done
        }
        Ask::Page {
            from,
            to,
            backwards,
            limit,
        } => {
            let page = JournalPage {
                from,
                to: to.as_deref(),
                backwards: *backwards,
                limit: *limit,
            };
            Answer::Rows(store.journal_page(tree, &page).await?)
        }
        Ask::Clear => {
            store.journal_clear(tree).await?;
            Answer::Done
        }
    })
}

#[cfg(test)]
mod tests {
    use super::past;

    #[test]
    fn past_a_prefix_is_the_least_key_after_all_its_keys() {
        assert_eq!(past(b"open/"), Some(b"open0".to_vec()));
        assert_eq!(past(&[b'a', 0xff]), Some(b"b".to_vec()));
        assert_eq!(past(&[0xff, 0xff]), None);
        assert_eq!(past(b""), None);
    }
}
