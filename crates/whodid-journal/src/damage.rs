//! Damage records: what whodid found damaged in a stream, signed, and the
//! operator's acknowledgement of it.
//!
//! A damaged byte must never make whodid delete records, and it must not
//! stop ingest either: at open, a frame that fails its checks (anywhere but a
//! torn tail that no signature covers), a sidecar that disagrees with its
//! records, an unreadable checkpoint or retention record is *damage*. The
//! file is kept byte-for-byte (a segment stays in place and is never written
//! again; a sidecar or checkpoint is moved to `damaged/`), the stream goes on,
//! and a signed note in `<stream>/damage/` says what is damaged: file, byte
//! range, records, where the tree took their leaf hashes from. `whodid
//! verify` reports each note until an acknowledgement note (signed too, with
//! who, when and why) names it. Notes are numbered in one sequence per
//! stream and created with a hard link, so two writers never overwrite one
//! another's note.
//!
//! ```text
//! whodid damage v1                        whodid damage-ack v1
//! stream kubeaudit                        stream kubeaudit
//! file 00000000000000000120.seg           acknowledges 1,2
//! kind segment                            by alice
//! bytes 4123 8211                         reason restored from backup, ticket 42
//! records 150 160                         time 1765139000
//! leaves sidecar
//! kept in place
//! detail checksum mismatch; …
//! time 1765139000
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use whodid_model::Stream;

use crate::checkpoint::{open_note, sign_note, Verifier};
use crate::datadir::{index_name, numbered_files, prepare, sync_dir, Layout};
use crate::error::JournalError;
use crate::keys::SigningKeyPair;

/// The directory of a stream's damage and acknowledgement notes.
pub fn damage_dir(layout: &Layout, stream: Stream) -> PathBuf {
    layout.stream_dir(stream).join("damage")
}

/// Where damaged files are moved (sidecars, checkpoints), byte-for-byte.
pub fn damaged_dir(layout: &Layout, stream: Stream) -> PathBuf {
    layout.stream_dir(stream).join("damaged")
}

/// Where torn tails cut at open are kept, byte-for-byte.
pub fn torn_dir(layout: &Layout, stream: Stream) -> PathBuf {
    layout.stream_dir(stream).join("torn")
}

/// Which kind of file is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DamageKind {
    /// A segment (header, frames, or a tail that a signature covers).
    Segment,
    /// A leaf-hash sidecar.
    Sidecar,
    /// A checkpoint note.
    Checkpoint,
    /// A retention record.
    Retention,
}

impl DamageKind {
    /// The word in the note.
    pub fn as_str(self) -> &'static str {
        match self {
            DamageKind::Segment => "segment",
            DamageKind::Sidecar => "sidecar",
            DamageKind::Checkpoint => "checkpoint",
            DamageKind::Retention => "retention",
        }
    }

    fn parse(text: &str) -> Option<DamageKind> {
        Some(match text {
            "segment" => DamageKind::Segment,
            "sidecar" => DamageKind::Sidecar,
            "checkpoint" => DamageKind::Checkpoint,
            "retention" => DamageKind::Retention,
            _ => return None,
        })
    }
}

/// Where the tree took the leaf hashes of the damaged records from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeafSource {
    /// No record is unreadable (header, sidecar, checkpoint damage).
    None,
    /// From the records (the sidecar was the damaged file and was rebuilt).
    Records,
    /// From the segment's sidecar, which agrees with the signed root.
    Sidecar,
    /// Unknown: neither the records nor the sidecar give them; the stream
    /// cannot be extended (see `docs/journal.md`).
    Unknown,
}

impl LeafSource {
    /// The word in the note.
    pub fn as_str(self) -> &'static str {
        match self {
            LeafSource::None => "none",
            LeafSource::Records => "records",
            LeafSource::Sidecar => "sidecar",
            LeafSource::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<LeafSource> {
        Some(match text {
            "none" => LeafSource::None,
            "records" => LeafSource::Records,
            "sidecar" => LeafSource::Sidecar,
            "unknown" => LeafSource::Unknown,
            _ => return None,
        })
    }
}

/// A signed statement of damage found in one file of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageRecord {
    /// The stream.
    pub stream: String,
    /// The damaged file, relative to the stream's directory.
    pub file: String,
    /// What kind of file.
    pub kind: DamageKind,
    /// The damaged bytes `[start, end)` of the file as found.
    pub bytes: (u64, u64),
    /// The records whose bytes are unreadable, `[first, end)`, if any.
    pub records: Option<(u64, u64)>,
    /// Where the tree's leaf hashes for those records come from.
    pub leaves: LeafSource,
    /// Where the damaged file is kept: `in place` or `damaged/<name>`.
    pub kept: String,
    /// What is wrong, in words.
    pub detail: String,
    /// When it was found (seconds since the Unix epoch).
    pub time: u64,
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

impl DamageRecord {
    /// The note body.
    pub fn body(&self) -> String {
        let records = match self.records {
            Some((first, end)) => format!("{first} {end}"),
            None => "none".to_owned(),
        };
        format!(
            "whodid damage v1\nstream {}\nfile {}\nkind {}\nbytes {} {}\nrecords {records}\nleaves {}\nkept {}\ndetail {}\ntime {}\n",
            self.stream,
            one_line(&self.file),
            self.kind.as_str(),
            self.bytes.0,
            self.bytes.1,
            self.leaves.as_str(),
            one_line(&self.kept),
            one_line(&self.detail),
            self.time
        )
    }

    /// Parses a note body.
    pub fn parse(body: &str) -> Option<DamageRecord> {
        let mut lines = body.lines();
        if lines.next()? != "whodid damage v1" {
            return None;
        }
        let stream = lines.next()?.strip_prefix("stream ")?.to_owned();
        let file = lines.next()?.strip_prefix("file ")?.to_owned();
        let kind = DamageKind::parse(lines.next()?.strip_prefix("kind ")?)?;
        let (start, end) = lines.next()?.strip_prefix("bytes ")?.split_once(' ')?;
        let records = match lines.next()?.strip_prefix("records ")? {
            "none" => None,
            pair => {
                let (first, end) = pair.split_once(' ')?;
                Some((first.parse().ok()?, end.parse().ok()?))
            }
        };
        let leaves = LeafSource::parse(lines.next()?.strip_prefix("leaves ")?)?;
        let kept = lines.next()?.strip_prefix("kept ")?.to_owned();
        let detail = lines.next()?.strip_prefix("detail ")?.to_owned();
        let time = lines.next()?.strip_prefix("time ")?.parse().ok()?;
        Some(DamageRecord {
            stream,
            file,
            kind,
            bytes: (start.parse().ok()?, end.parse().ok()?),
            records,
            leaves,
            kept,
            detail,
            time,
        })
    }

    /// The identity of a finding: the same damage found again at the next
    /// open is not recorded twice. A file moved aside is not found again,
    /// and where it went is unique, so each move is recorded.
    pub(crate) fn key(&self) -> (String, DamageKind, u64, String) {
        (
            self.file.clone(),
            self.kind,
            self.bytes.0,
            self.kept.clone(),
        )
    }
}

impl std::fmt::Display for DamageRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "stream {}, {} {}, bytes {}..{}",
            self.stream,
            self.kind.as_str(),
            self.file,
            self.bytes.0,
            self.bytes.1
        )?;
        match self.records {
            Some((first, end)) => write!(f, ", records {first}..{end} unreadable")?,
            None => write!(f, ", no record unreadable")?,
        }
        write!(
            f,
            " (leaf hashes: {}; kept {}): {}",
            self.leaves.as_str(),
            self.kept,
            self.detail
        )
    }
}

/// A signed acknowledgement of damage records by an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageAck {
    /// The stream.
    pub stream: String,
    /// The sequence numbers of the damage notes acknowledged.
    pub acknowledges: Vec<u64>,
    /// Who acknowledged.
    pub by: String,
    /// Why.
    pub reason: String,
    /// When (seconds since the Unix epoch).
    pub time: u64,
}

impl DamageAck {
    /// The note body.
    pub fn body(&self) -> String {
        let seqs: Vec<String> = self.acknowledges.iter().map(u64::to_string).collect();
        format!(
            "whodid damage-ack v1\nstream {}\nacknowledges {}\nby {}\nreason {}\ntime {}\n",
            self.stream,
            seqs.join(","),
            one_line(&self.by),
            one_line(&self.reason),
            self.time
        )
    }

    /// Parses a note body.
    pub fn parse(body: &str) -> Option<DamageAck> {
        let mut lines = body.lines();
        if lines.next()? != "whodid damage-ack v1" {
            return None;
        }
        let stream = lines.next()?.strip_prefix("stream ")?.to_owned();
        let mut acknowledges = Vec::new();
        for seq in lines.next()?.strip_prefix("acknowledges ")?.split(',') {
            acknowledges.push(seq.parse().ok()?);
        }
        let by = lines.next()?.strip_prefix("by ")?.to_owned();
        let reason = lines.next()?.strip_prefix("reason ")?.to_owned();
        let time = lines.next()?.strip_prefix("time ")?.parse().ok()?;
        Some(DamageAck {
            stream,
            acknowledges,
            by,
            reason,
            time,
        })
    }
}

/// One note of a stream's damage directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DamageNote {
    /// Damage found.
    Damage(DamageRecord),
    /// An acknowledgement.
    Ack(DamageAck),
}

/// A note file: its number, path, and content if its signature verifies.
pub type CheckedDamageNote = (u64, PathBuf, Result<DamageNote, String>);

/// Reads every note of a stream's damage directory, checking signatures.
pub fn read_notes(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<Vec<CheckedDamageNote>, JournalError> {
    let mut notes = Vec::new();
    for (seq, path) in numbered_files(&damage_dir(layout, stream), "note")? {
        let text = fs::read_to_string(&path).map_err(JournalError::io(&path))?;
        let note = match open_note(&text, verifier) {
            Ok(body) => DamageRecord::parse(&body)
                .map(DamageNote::Damage)
                .or_else(|| DamageAck::parse(&body).map(DamageNote::Ack))
                .ok_or_else(|| "signed, but not a damage record or acknowledgement".to_owned()),
            Err(e) => Err(format!("signature does not verify: {e}")),
        };
        notes.push((seq, path, note));
    }
    Ok(notes)
}

/// A damage record and its acknowledgement, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DamageStatus {
    /// The note's number.
    pub seq: u64,
    /// What was found.
    pub record: DamageRecord,
    /// Who acknowledged it, when and why.
    pub ack: Option<DamageAck>,
}

/// A stream's damage notes, read and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamDamage {
    /// Damage records with their acknowledgements.
    pub records: Vec<DamageStatus>,
    /// Notes whose signature does not verify or that do not read: path, why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The damage records of a stream with their acknowledgements, and the
/// notes that do not verify.
pub fn damage_status(
    layout: &Layout,
    stream: Stream,
    verifier: &Verifier,
) -> Result<StreamDamage, JournalError> {
    let mut found = Vec::new();
    let mut acks = Vec::new();
    let mut bad = Vec::new();
    for (seq, path, note) in read_notes(layout, stream, verifier)? {
        match note {
            Ok(DamageNote::Damage(record)) => found.push(DamageStatus {
                seq,
                record,
                ack: None,
            }),
            Ok(DamageNote::Ack(ack)) => acks.push(ack),
            Err(why) => bad.push((path, why)),
        }
    }
    for ack in acks {
        for status in found.iter_mut() {
            if status.ack.is_none() && ack.acknowledges.contains(&status.seq) {
                status.ack = Some(ack.clone());
            }
        }
    }
    Ok(StreamDamage {
        records: found,
        unreadable: bad,
    })
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
pub fn utc_text(secs: u64) -> String {
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs `body` and stores it as the next note of the stream's damage
/// directory: written to a temporary file, fsynced, then hard-linked to the
/// first free number (a link never replaces an existing note).
pub(crate) fn write_note(
    layout: &Layout,
    stream: Stream,
    body: &str,
    key: &SigningKeyPair,
) -> Result<(u64, PathBuf), JournalError> {
    use std::io::Write;
    let dir = damage_dir(layout, stream);
    fs::create_dir_all(&dir).map_err(JournalError::io(&dir))?;
    let note = sign_note(body, key);
    let tmp = dir.join(format!("note-{}.tmp", std::process::id()));
    let mut file = fs::File::create(&tmp).map_err(JournalError::io(&tmp))?;
    file.write_all(note.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io(&tmp))?;
    let mut seq = numbered_files(&dir, "note")?
        .last()
        .map_or(1, |(n, _)| n + 1);
    let path = loop {
        let path = dir.join(format!("{}.note", index_name(seq)));
        match fs::hard_link(&tmp, &path) {
            Ok(()) => break path,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => seq += 1,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(JournalError::io(&path)(e));
            }
        }
    };
    fs::remove_file(&tmp).map_err(JournalError::io(&tmp))?;
    sync_dir(&dir)?;
    Ok((seq, path))
}

/// Moves a damaged file into the stream's `damaged/` directory, unchanged;
/// returns its new name relative to the stream's directory.
pub(crate) fn move_aside(
    layout: &Layout,
    stream: Stream,
    path: &Path,
) -> Result<String, JournalError> {
    let dir = damaged_dir(layout, stream);
    fs::create_dir_all(&dir).map_err(JournalError::io(&dir))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .to_owned();
    let mut target = dir.join(format!("{name}.{}", now_secs()));
    let mut n = 1;
    while target.try_exists().map_err(JournalError::io(&target))? {
        target = dir.join(format!("{name}.{}.{n}", now_secs()));
        n += 1;
    }
    fs::rename(path, &target).map_err(JournalError::io(path))?;
    sync_dir(&dir)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    let relative = target
        .strip_prefix(layout.stream_dir(stream))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| target.to_string_lossy().into_owned());
    Ok(relative)
}

/// Acknowledges every unacknowledged damage record of `stream` with a signed
/// note (`by`, `reason`, now). Returns the note's number and the records it
/// acknowledges; `None` when there is nothing to acknowledge. Takes no lock:
/// it may run beside `whodid serve` (notes never overwrite one another).
pub fn acknowledge(
    root: &Path,
    stream: Stream,
    by: &str,
    reason: &str,
) -> Result<Option<(u64, Vec<DamageStatus>)>, JournalError> {
    prepare(root, false)?;
    let layout = Layout::new(root);
    let key = SigningKeyPair::load_existing(&layout.keys_dir())?;
    let statuses = damage_status(&layout, stream, &key.verifier())?.records;
    let open: Vec<DamageStatus> = statuses.into_iter().filter(|s| s.ack.is_none()).collect();
    if open.is_empty() {
        return Ok(None);
    }
    let ack = DamageAck {
        stream: stream.to_string(),
        acknowledges: open.iter().map(|s| s.seq).collect(),
        by: by.to_owned(),
        reason: reason.to_owned(),
        time: now_secs(),
    };
    let (seq, _) = write_note(&layout, stream, &ack.body(), &key)?;
    tracing::warn!(stream = %stream, by, reason, records = ?ack.acknowledges, "damage acknowledged");
    Ok(Some((seq, open)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let record = DamageRecord {
            stream: "kubeaudit".into(),
            file: "00000000000000000120.seg".into(),
            kind: DamageKind::Segment,
            bytes: (4123, 8211),
            records: Some((150, 160)),
            leaves: LeafSource::Sidecar,
            kept: "in place".into(),
            detail: "checksum\nmismatch".into(),
            time: 7,
        };
        let parsed = DamageRecord::parse(&record.body()).unwrap();
        assert_eq!(parsed.detail, "checksum mismatch");
        assert_eq!(parsed.records, Some((150, 160)));
        assert_eq!(parsed.key(), record.key());
        let ack = DamageAck {
            stream: "kubeaudit".into(),
            acknowledges: vec![1, 3],
            by: "alice".into(),
            reason: "restored".into(),
            time: 9,
        };
        assert_eq!(DamageAck::parse(&ack.body()).unwrap(), ack);
        assert!(DamageAck::parse(&record.body()).is_none());
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_text(1_796_679_427), "2026-12-07T21:37:07Z");
    }
}
