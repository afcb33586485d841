//! Which contacts file a journal saw: its size, modification time and an xxh3 fingerprint of
//! its bytes. A resume compares the file against it to skip the whole-file check and to take up
//! the reading where the last run left it; any difference means "another file".

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

/// A contacts file's identity, as recorded after a check that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub stat: Stat,
    /// xxh3-128 of every byte of the file, in hex.
    pub xxh3: String,
}

/// What the file system tells without reading the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stat {
    pub size: u64,
    /// Nanoseconds since 1970 (0 for a time before it, or none).
    pub modified_ns: u64,
}

impl Stat {
    pub fn of(metadata: &Metadata) -> Stat {
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| {
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            });
        Stat {
            size: metadata.len(),
            modified_ns,
        }
    }

    pub fn read(path: &Path) -> io::Result<Stat> {
        Ok(Stat::of(&std::fs::metadata(path)?))
    }
}

impl FileIdentity {
    /// Reads the whole file at the disk's speed (no parsing) to fingerprint it; `None` when it
    /// changed while it was read.
    pub fn read(path: &Path) -> io::Result<Option<FileIdentity>> {
        let mut file = File::open(path)?;
        let before = Stat::of(&file.metadata()?);
        let mut print = Fingerprint::default();
        let mut buf = vec![0; 1 << 20];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(read) => print.update(&buf[..read]),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(print.identity(before, Stat::read(path)?))
    }
}

/// The fingerprint of the bytes read so far.
#[derive(Default)]
pub(crate) struct Fingerprint {
    hasher: Xxh3,
    bytes: u64,
}

impl Fingerprint {
    fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
    }

    /// The identity of a file whose bytes were all fingerprinted and which did not change while
    /// they were read (`before` and `after` the read agree); `None` otherwise.
    pub(crate) fn identity(&self, before: Stat, after: Stat) -> Option<FileIdentity> {
        (before == after && self.bytes == before.size).then(|| FileIdentity {
            stat: before,
            xxh3: format!("{:032x}", self.hasher.digest128()),
        })
    }
}

/// A reader that fingerprints every byte read through it, so that the check and the
/// fingerprint share one read of the file.
pub(crate) struct Fingerprinted<'a, R> {
    pub(crate) inner: R,
    pub(crate) print: &'a mut Fingerprint,
}

impl<R: Read> Read for Fingerprinted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.print.update(&buf[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Equal bytes give equal identities; one byte changed, or a file changed while read, not.
    #[test]
    fn the_fingerprint_tells_files_apart() {
        let stat = Stat {
            size: 3,
            modified_ns: 1,
        };
        let print = |bytes: &[u8]| {
            let mut print = Fingerprint::default();
            print.update(bytes);
            print
        };
        assert_eq!(
            print(b"abc").identity(stat, stat),
            print(b"abc").identity(stat, stat)
        );
        assert_ne!(
            print(b"abc").identity(stat, stat),
            print(b"abd").identity(stat, stat)
        );
        let touched = Stat {
            modified_ns: 2,
            ..stat
        };
        assert_eq!(print(b"abc").identity(stat, touched), None);
        assert_eq!(print(b"ab").identity(stat, stat), None);
    }
}
