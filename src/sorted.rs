//! Pairs of integers sorted in bounded memory: sorted in runs of [`RUN_PAIRS`] written to
//! anonymous temporary files, then merged. `plan` finds repeated phones with it and `export`
//! puts the journal's contacts back in the contacts file's order, at any campaign size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use crate::phone::Phone;

/// Pairs sorted in memory at a time: 16 MiB.
const RUN_PAIRS: usize = 1 << 20;

/// The pairs of a sort, smallest first, read back from disk as they go.
pub type Sorted = Box<dyn Iterator<Item = io::Result<(u64, u64)>>>;

/// Pairs gathered for one sort.
pub struct SortedPairs {
    pairs: Vec<(u64, u64)>,
    runs: Vec<File>,
}

impl Default for SortedPairs {
    fn default() -> Self {
        Self::new()
    }
}

impl SortedPairs {
    pub fn new() -> SortedPairs {
        SortedPairs {
            pairs: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds a pair; every [`RUN_PAIRS`] pairs go to disk as one sorted run.
    pub fn push(&mut self, pair: (u64, u64)) -> io::Result<()> {
        self.pairs.push(pair);
        if self.pairs.len() == RUN_PAIRS {
            self.runs.push(write_run(&mut self.pairs)?);
        }
        Ok(())
    }

    /// Every pair pushed, smallest first.
    pub fn sorted(mut self) -> io::Result<Sorted> {
        if self.runs.is_empty() {
            self.pairs.sort_unstable();
            return Ok(Box::new(self.pairs.into_iter().map(Ok)));
        }
        self.runs.push(write_run(&mut self.pairs)?);
        Ok(Box::new(Merge::new(self.runs)?))
    }
}

/// An E.164 number as the integer of its digits (at most 15, so it fits), which orders and
/// compares as the number does: no country code starts with 0.
pub fn packed(phone: &Phone) -> u64 {
    phone.as_str()[1..]
        .parse()
        .expect("an E.164 number is a + and at most 15 digits")
}

/// The E.164 number [`packed`] made `digits` of.
pub fn unpacked(digits: u64) -> Option<Phone> {
    Phone::try_from(format!("+{digits}")).ok()
}

/// Sorts `pairs` and writes them to an anonymous temporary file, emptying `pairs`.
fn write_run(pairs: &mut Vec<(u64, u64)>) -> io::Result<File> {
    pairs.sort_unstable();
    let mut out = BufWriter::new(tempfile::tempfile()?);
    for (a, b) in pairs.drain(..) {
        out.write_all(&a.to_le_bytes())?;
        out.write_all(&b.to_le_bytes())?;
    }
    let mut file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.rewind()?;
    Ok(file)
}

/// Sorted runs merged into one sorted stream: the smallest head of all runs first.
struct Merge {
    runs: Vec<BufReader<File>>,
    /// Each run's next pair, with the run's index.
    heads: BinaryHeap<Reverse<((u64, u64), usize)>>,
}

impl Merge {
    fn new(files: Vec<File>) -> io::Result<Merge> {
        let mut merge = Merge {
            runs: files
                .into_iter()
                .map(|f| BufReader::with_capacity(64 * 1024, f))
                .collect(),
            heads: BinaryHeap::new(),
        };
        for run in 0..merge.runs.len() {
            merge.refill(run)?;
        }
        Ok(merge)
    }

    /// Reads run `run`'s next pair into the heads, unless the run is over.
    fn refill(&mut self, run: usize) -> io::Result<()> {
        let mut pair = [0; 16];
        match self.runs[run].read_exact(&mut pair) {
            Ok(()) => {
                let (a, b) = pair.split_at(8);
                let a = u64::from_le_bytes(a.try_into().expect("8 bytes"));
                let b = u64::from_le_bytes(b.try_into().expect("8 bytes"));
                self.heads.push(Reverse(((a, b), run)));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Iterator for Merge {
    type Item = io::Result<(u64, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((pair, run)) = self.heads.pop()?;
        Some(self.refill(run).map(|()| pair))
    }
}
