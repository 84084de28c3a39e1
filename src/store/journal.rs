//! The on-disk write journal of one client: where database writes wait while the
//! database is down, hung or too slow, and across a restart. One directory per client
//! (in the state directory's `journal` subfolder) holds three files:
//!
//! - `writes.journal`: an append-only file: an 8-byte header (`ILCHATJ1`), then one
//!   record per write: `len: u32 LE | crc32c: u32 LE | seq: u64 LE | queued_ms: i64 LE |
//!   payload (len bytes of JSON)`. The checksum covers `seq`, `queued_ms` and the payload,
//!   so a torn or damaged record is recognised; reading stops there and the damaged tail
//!   is moved aside (`corrupt-<time>.bin`), never replayed half.
//! - `writes.pos`: how far the journal is written to the database (`committed`, a byte
//!   offset) and the ids drawn for journaled rows before their first attempt (`ids`), so
//!   that a replay after a crash uses the same ids and can never duplicate a row.
//!   Replaced atomically (write, rename).
//! - `dead-letters.jsonl`: writes the database refused for good, one JSON line each
//!   with the error, kept for an administrator (never replayed).
//!
//! Why an own format and not a crate: the journal is a FIFO of a few record kinds that
//! is read once, front to back, and deleted when drained; an append-only file with a
//! length, a checksum and a sequence number per record is all that needs (and is easy
//! to inspect). The embedded key-value stores on crates.io (sled, redb, fjall) would add
//! a storage engine, compaction and a second on-disk format for what is a queue.
//!
//! fsync policy: every record is handed to the kernel (`write(2)`) when it is appended,
//! so a crash or kill of the process loses nothing journaled; `fdatasync` runs at most
//! once a second (by the queue's worker) and at once when memory is spilled or the
//! server stops, so a power loss loses at most the last second. The position file is
//! synced when it carries new ids (a replay must see them); a lost position update
//! otherwise only replays rows that are written already, which is harmless because
//! every write is idempotent.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write as _};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const HEADER: &[u8; 8] = b"ILCHATJ1";
const RECORD_HEADER: usize = 24;
/// A record larger than this is damage, not data (a message is at most 1 MB).
const MAX_RECORD: u32 = 64 * 1024 * 1024;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

const JOURNAL_FILE: &str = "writes.journal";
const POSITION_FILE: &str = "writes.pos";
/// The file of writes the database refused for good.
pub const DEAD_LETTER_FILE: &str = "dead-letters.jsonl";

/// One journaled record, read back.
#[derive(Debug)]
pub(super) struct Record {
    pub seq: u64,
    pub queued_ms: i64,
    pub payload: Vec<u8>,
}

/// Where a record ends and when it was queued; one per record not yet written.
#[derive(Debug, Clone, Copy)]
struct Indexed {
    seq: u64,
    end: u64,
    queued_ms: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Position {
    committed: u64,
    /// Ids drawn for records (by sequence number) before their first attempt.
    #[serde(default)]
    ids: BTreeMap<u64, i64>,
}

/// An open journal: the records after `committed` are waiting for the database.
#[derive(Debug)]
pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    len: u64,
    position: Position,
    index: VecDeque<Indexed>,
    dirty: bool,
}

fn crc_of(seq: u64, queued_ms: i64, payload: &[u8]) -> u32 {
    let mut digest = CRC.digest();
    digest.update(&seq.to_le_bytes());
    digest.update(&queued_ms.to_le_bytes());
    digest.update(payload);
    digest.finalize()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Starts an empty journal in `dir` (replacing whatever file was there).
    pub fn create(dir: &Path) -> io::Result<Journal> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        file.write_all(HEADER)?;
        file.sync_data()?;
        let _ = std::fs::remove_file(dir.join(POSITION_FILE));
        sync_dir(dir)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file,
            len: HEADER.len() as u64,
            position: Position {
                committed: HEADER.len() as u64,
                ids: BTreeMap::new(),
            },
            index: VecDeque::new(),
            dirty: false,
        })
    }

    /// Opens the journal a previous run left in `dir`, if it holds anything not yet
    /// written. A damaged tail is cut off (and kept aside); an empty or fully written
    /// journal is removed. Returns the journal and the highest sequence number in it.
    pub fn open_existing(dir: &Path) -> io::Result<Option<(Journal, u64)>> {
        let path = dir.join(JOURNAL_FILE);
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let position: Position = match std::fs::read(dir.join(POSITION_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::error!(dir = %dir.display(), %error, "journal position unreadable; replaying the whole journal (writes are idempotent)");
                Position::default()
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Position::default(),
            Err(error) => return Err(error),
        };
        let file_len = file.metadata()?.len();
        let mut header = [0u8; 8];
        if file_len < HEADER.len() as u64
            || file.read_exact(&mut header).is_err()
            || &header != HEADER
        {
            tracing::error!(file = %path.display(), "not a journal file; moved aside");
            drop(file);
            let aside = dir.join(format!("corrupt-{}.bin", crate::clock::now_ms()));
            std::fs::rename(&path, aside)?;
            return Ok(None);
        }
        let committed = position.committed.max(HEADER.len() as u64);
        let mut reader = io::BufReader::with_capacity(1 << 20, &file);
        let mut offset = HEADER.len() as u64;
        let mut index = VecDeque::new();
        let mut max_seq = 0;
        let mut buf = Vec::new();
        loop {
            let mut head = [0u8; RECORD_HEADER];
            match read_full(&mut reader, &mut head)? {
                0 => break,
                n if n < RECORD_HEADER => break,
                _ => {}
            }
            let len = u32::from_le_bytes(head[0..4].try_into().unwrap_or_default());
            let crc = u32::from_le_bytes(head[4..8].try_into().unwrap_or_default());
            let seq = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
            let queued_ms = i64::from_le_bytes(head[16..24].try_into().unwrap_or_default());
            if len > MAX_RECORD {
                break;
            }
            buf.resize(len as usize, 0);
            if read_full(&mut reader, &mut buf)? < len as usize {
                break;
            }
            if crc_of(seq, queued_ms, &buf) != crc {
                break;
            }
            let end = offset + (RECORD_HEADER as u64) + u64::from(len);
            if end > committed {
                index.push_back(Indexed {
                    seq,
                    end,
                    queued_ms,
                });
            }
            max_seq = max_seq.max(seq);
            offset = end;
        }
        drop(reader);
        if offset < file_len {
            // A torn write at a crash, or damage: keep the bytes for inspection, never
            // replay them.
            let aside = dir.join(format!("corrupt-{}.bin", crate::clock::now_ms()));
            let mut tail = vec![0u8; (file_len - offset) as usize];
            file.read_exact_at(&mut tail, offset)?;
            std::fs::write(&aside, &tail)?;
            file.set_len(offset)?;
            file.sync_data()?;
            tracing::error!(
                file = %path.display(),
                bytes = file_len - offset,
                aside = %aside.display(),
                "damaged end of the write journal cut off"
            );
        }
        let journal = Journal {
            dir: dir.to_path_buf(),
            file,
            len: offset,
            position: Position {
                committed: committed.min(offset),
                ids: position.ids,
            },
            index,
            dirty: false,
        };
        if journal.index.is_empty() {
            journal.remove();
            return Ok(None);
        }
        Ok(Some((journal, max_seq)))
    }

    /// Appends one record; it is in the kernel's hands when this returns.
    pub fn append(&mut self, seq: u64, queued_ms: i64, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|len| *len <= MAX_RECORD)
            .ok_or_else(|| io::Error::other("record too large for the journal"))?;
        let mut bytes = Vec::with_capacity(RECORD_HEADER + payload.len());
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&crc_of(seq, queued_ms, payload).to_le_bytes());
        bytes.extend_from_slice(&seq.to_le_bytes());
        bytes.extend_from_slice(&queued_ms.to_le_bytes());
        bytes.extend_from_slice(payload);
        if let Err(error) = self.file.write_all_at(&bytes, self.len) {
            // A partial record would hide every later one: cut it off again.
            let _ = self.file.set_len(self.len);
            return Err(error);
        }
        self.len += bytes.len() as u64;
        self.index.push_back(Indexed {
            seq,
            end: self.len,
            queued_ms,
        });
        self.dirty = true;
        Ok(())
    }

    /// A handle to sync the file with, if anything was appended since the last call.
    pub fn take_dirty(&mut self) -> Option<io::Result<File>> {
        if !self.dirty {
            return None;
        }
        self.dirty = false;
        Some(self.file.try_clone())
    }

    /// Syncs the file now.
    pub fn sync(&mut self) -> io::Result<()> {
        self.dirty = false;
        self.file.sync_data()
    }

    /// Records not yet written to the database.
    pub fn pending(&self) -> usize {
        self.index.len()
    }

    /// When the oldest record not yet written was queued (ms since the epoch).
    pub fn oldest_queued_ms(&self) -> Option<i64> {
        self.index.front().map(|first| first.queued_ms)
    }

    /// The size of the journal file.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// The id drawn earlier for this record, if any.
    pub fn id_of(&self, seq: u64) -> Option<i64> {
        self.position.ids.get(&seq).copied()
    }

    /// Reads the oldest records not yet written: at most `max_records`, and no more
    /// than `max_bytes` unless the first record alone is larger.
    pub fn read_front(&self, max_records: usize, max_bytes: u64) -> io::Result<Vec<Record>> {
        let start = self.position.committed;
        let mut end = start;
        let mut count = 0;
        for entry in self.index.iter().take(max_records) {
            if count > 0 && entry.end - start > max_bytes {
                break;
            }
            end = entry.end;
            count += 1;
        }
        let mut bytes = vec![0u8; (end - start) as usize];
        self.file.read_exact_at(&mut bytes, start)?;
        let mut records = Vec::with_capacity(count);
        let mut at = 0usize;
        while at + RECORD_HEADER <= bytes.len() {
            let field = |from: usize| -> [u8; 8] {
                bytes[at + from..at + from + 8]
                    .try_into()
                    .unwrap_or_default()
            };
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default()) as usize;
            let seq = u64::from_le_bytes(field(8));
            let queued_ms = i64::from_le_bytes(field(16));
            let body = at + RECORD_HEADER;
            let Some(payload) = bytes.get(body..body + len) else {
                return Err(io::Error::other("journal record cut short"));
            };
            records.push(Record {
                seq,
                queued_ms,
                payload: payload.to_vec(),
            });
            at = body + len;
        }
        Ok(records)
    }

    /// Remembers ids drawn for journaled records before their first attempt, durably:
    /// a replay after a crash must use the same ids.
    pub fn remember_ids(&mut self, ids: &[(u64, i64)]) -> io::Result<()> {
        self.position.ids.extend(ids.iter().copied());
        self.save_position(true)
    }

    /// Marks every record up to `seq` as written. Returns whether nothing is left.
    pub fn commit_through(&mut self, seq: u64) -> bool {
        let mut moved = false;
        while let Some(first) = self.index.front()
            && first.seq <= seq
        {
            self.position.committed = first.end;
            self.index.pop_front();
            moved = true;
        }
        if moved {
            self.position.ids = self.position.ids.split_off(&(seq + 1));
            if let Err(error) = self.save_position(false) {
                // Harmless: a replay would rewrite rows that are there already.
                tracing::warn!(dir = %self.dir.display(), %error, "cannot save the journal position");
            }
        }
        self.index.is_empty()
    }

    fn save_position(&self, durable: bool) -> io::Result<()> {
        let tmp = self.dir.join(format!("{POSITION_FILE}.tmp"));
        let bytes = serde_json::to_vec(&self.position).map_err(io::Error::other)?;
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        if durable {
            file.sync_data()?;
        }
        std::fs::rename(&tmp, self.dir.join(POSITION_FILE))?;
        if durable {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Deletes the journal once everything in it is written.
    pub fn remove(self) {
        for name in [JOURNAL_FILE, POSITION_FILE] {
            match std::fs::remove_file(self.dir.join(name)) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    tracing::warn!(dir = %self.dir.display(), file = name, %error, "cannot remove a drained journal file")
                }
            }
        }
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match reader.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(done)
}

/// Appends a refused write to the dead-letter file of a client (synced: it is the
/// only copy).
pub(super) fn dead_letter(dir: &Path, line: &serde_json::Value) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(DEAD_LETTER_FILE))?;
    let mut text = serde_json::to_string(line).map_err(io::Error::other)?;
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ilias-chat-journal-{name}-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn records_come_back_in_order_after_reopening() {
        let dir = scratch("order");
        let mut journal = Journal::create(&dir).expect("created");
        for seq in 1..=5u64 {
            journal
                .append(
                    seq,
                    1000 + seq as i64,
                    format!("{{\"n\":{seq}}}").as_bytes(),
                )
                .expect("appended");
        }
        journal.sync().expect("synced");
        assert!(!journal.commit_through(2));
        journal.remember_ids(&[(3, 77)]).expect("ids kept");
        drop(journal);
        let (journal, max_seq) = Journal::open_existing(&dir)
            .expect("opened")
            .expect("not empty");
        assert_eq!(max_seq, 5);
        assert_eq!(journal.pending(), 3);
        assert_eq!(journal.id_of(3), Some(77));
        assert_eq!(journal.oldest_queued_ms(), Some(1003));
        let records = journal.read_front(10, 1 << 20).expect("read");
        let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(records[0].payload, b"{\"n\":3}");
        let two = journal.read_front(2, 1 << 20).expect("read");
        assert_eq!(two.len(), 2);
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_kept_aside() {
        let dir = scratch("torn");
        let mut journal = Journal::create(&dir).expect("created");
        journal.append(1, 1, b"{\"a\":1}").expect("appended");
        journal.append(2, 2, b"{\"a\":2}").expect("appended");
        drop(journal);
        // A crash in the middle of the third record, and a flipped bit in the second.
        let path = dir.join(JOURNAL_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        let second = HEADER.len() + RECORD_HEADER + 7;
        bytes[second + RECORD_HEADER + 2] ^= 0x40;
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &bytes).expect("damaged");
        let (journal, _) = Journal::open_existing(&dir)
            .expect("opened")
            .expect("first record survives");
        assert_eq!(journal.pending(), 1);
        assert_eq!(journal.bytes(), second as u64);
        let aside = std::fs::read_dir(&dir)
            .expect("listed")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("corrupt-"))
            .count();
        assert_eq!(aside, 1, "the damaged tail is kept for inspection");
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[test]
    fn a_fully_written_journal_is_removed_at_start() {
        let dir = scratch("drained");
        let mut journal = Journal::create(&dir).expect("created");
        journal.append(1, 1, b"{}").expect("appended");
        journal.append(2, 1, b"{}").expect("appended");
        assert!(!journal.commit_through(1));
        journal.save_position(true).expect("saved");
        assert!(journal.commit_through(2));
        journal.save_position(true).expect("saved");
        drop(journal);
        assert!(Journal::open_existing(&dir).expect("opened").is_none());
        assert!(!dir.join(JOURNAL_FILE).exists());
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }
}
