//! Following an episode file while its writer appends to it. The MCAP writer starts each chunk
//! with a placeholder length (all ones) and writes the real length and header when the chunk
//! is done, so a reader must not read past the last whole record: a follower hands the
//! streaming reader only bytes of records whose length and header are final, and waits for
//! more while the writer holds the file's lock.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a follower looks for more of a file being written.
const POLL: Duration = Duration::from_millis(20);
/// MCAP's magic, which opens the file.
const MAGIC_BYTES: u64 = 8;
/// The opcode of a chunk record.
const CHUNK: u8 = 0x06;

/// Whether a writer (a `record` run, say) still holds the episode at `path`.
pub fn being_written(path: &Path) -> bool {
    File::open(path)
        .is_ok_and(|f| matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)))
}

/// Where a follower has got to in a file being written.
#[derive(Debug)]
pub(super) struct Follower {
    path: PathBuf,
    /// The offset up to which the file holds whole records.
    whole_to: u64,
    /// The writer has let go of the file: what is there is final.
    writer_gone: bool,
}

impl Follower {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            whole_to: 0,
            writer_gone: false,
        }
    }

    /// Reads into `buf` at `at` only bytes of whole records, waiting while the writer is
    /// still at work; once it is gone, everything left (0 at the end of the file).
    pub(super) fn read(&mut self, file: &File, at: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.writer_gone {
                return file.read_at(buf, at);
            }
            // Sampled before looking at the file: a writer that finishes after this is seen
            // on the next round, with every byte it wrote.
            let alive = being_written(&self.path);
            self.extend(file)?;
            let whole = self.whole_to.saturating_sub(at).min(buf.len() as u64) as usize;
            if whole > 0 {
                return file.read_at(&mut buf[..whole], at);
            }
            if !alive {
                self.writer_gone = true;
                continue;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Moves `whole_to` over every record the writer has finished.
    fn extend(&mut self, file: &File) -> std::io::Result<()> {
        let len = file.metadata()?.len();
        if self.whole_to == 0 {
            if len < MAGIC_BYTES {
                return Ok(());
            }
            self.whole_to = MAGIC_BYTES;
        }
        let mut head = [0u8; 9];
        while self.whole_to + 9 <= len {
            file.read_exact_at(&mut head, self.whole_to)?;
            let body = u64::from_le_bytes(head[1..].try_into().expect("8 bytes"));
            let end = self.whole_to.saturating_add(9).saturating_add(body);
            if body == u64::MAX || end > len {
                break;
            }
            if head[0] == CHUNK && !chunk_header_final(file, self.whole_to + 9)? {
                break;
            }
            self.whole_to = end;
        }
        Ok(())
    }
}

/// Whether the chunk header at `at` has been rewritten with its real sizes: its last field,
/// the compressed size, is no longer the placeholder.
fn chunk_header_final(file: &File, at: u64) -> std::io::Result<bool> {
    // Start and end times (8 + 8), uncompressed size (8) and CRC (4), then the compression's
    // name (a u32 length and the bytes), then the compressed size.
    let mut name_len = [0u8; 4];
    file.read_exact_at(&mut name_len, at + 28)?;
    let mut size = [0u8; 8];
    let name = u32::from_le_bytes(name_len) as u64;
    file.read_exact_at(&mut size, at + 32 + name)?;
    Ok(u64::from_le_bytes(size) != u64::MAX)
}
