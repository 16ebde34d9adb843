//! The data directory (`--data`, default `./.deckhand`): the deploy log and the local hosts.
//!
//! Invariant: **one bot per data directory.** A bot holds an exclusive lock on
//! `<data>/deckhand.lock` for as long as its process lives (the kernel drops it however the
//! process ends, SIGKILL included); a second bot on the same directory refuses to start and
//! names the process that holds it. Two bots on one log would each take the other's running
//! deploys for interrupted ones and start their own beside them.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A data directory this process holds. Dropping it (or the process ending) lets it go.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// The locked file; the lock lives as long as this handle.
    _lock: File,
}

/// Why a data directory could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "the data directory {dir} is in use by another deckhand ({holder}); stop that one first, or give this one its own directory with --data"
    )]
    InUse { dir: String, holder: String },
    #[error("cannot use the data directory {dir}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

impl DataDir {
    /// Creates `path` when missing and takes it for this process.
    pub fn claim(path: &Path) -> Result<DataDir, ClaimError> {
        let io = |source| ClaimError::Io {
            dir: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(path).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path.join("deckhand.lock"))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let holder = match pid.trim() {
                    "" => "a process that has not written its pid yet".to_owned(),
                    pid => format!("pid {pid}"),
                };
                return Err(ClaimError::InUse {
                    dir: path.display().to_string(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_naming_the_holder_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDir::claim(dir.path()).unwrap();
        // flock locks belong to the open file, so a second open in this process conflicts too.
        let err = DataDir::claim(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another deckhand"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataDir::claim(dir.path()).unwrap();
    }
}
