//! What opening a stream finds on disk, and what it will do about it,
//! decided before anything is written.
//!
//! Crash recovery may cut only what cannot have been acknowledged: the bytes
//! after the last valid frame at the end of the *last* segment, when no valid
//! frame follows them and every record a checkpoint (valid or not) covers
//! lies before them. Those bytes are copied to `torn/` before the cut.
//! Anything else that does not check out is damage ([`crate::damage`]): the
//! file is kept byte-for-byte, the records' leaf hashes come from the
//! sidecar (which the signed root must confirm), and the stream goes on.
//! [`plan`] only reads; [`Plan::apply`] does the cutting, moving and writing.

use std::fs;
use std::path::{Path, PathBuf};

use whodid_model::Stream;

use crate::checkpoint::Checkpoint;
use crate::damage::{move_aside, torn_dir, DamageKind, DamageRecord, LeafSource};
use crate::datadir::{numbered_files, sync_dir, write_durably, Layout};
use crate::error::JournalError;
use crate::format::{record_leaf_hash, FormatError, FLAG_COMPACTED};
use crate::leaves::read_sidecar;
use crate::merkle::{CompactRange, Hash};
use crate::segment::{DamagedRange, Salvage};
use crate::stream_log::SegmentMeta;

/// A file operation recovery will do.
#[derive(Debug)]
pub(crate) enum Action {
    /// Copy the bytes from `offset` to `torn/` and cut the segment there.
    CutTornTail { path: PathBuf, offset: u64 },
    /// Move a last segment that holds no valid frame and nothing signed
    /// (created, then a crash) to `torn/`, with its sidecar.
    MoveTornSegment { path: PathBuf },
    /// Move a damaged file to `damaged/` (finding `finding` says where).
    MoveAside { path: PathBuf, finding: usize },
    /// Write a sidecar with these leaf hashes.
    WriteSidecar { path: PathBuf, leaves: Vec<Hash> },
}

/// What opening found and will do.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) range: CompactRange,
    pub(crate) segments: Vec<SegmentMeta>,
    pub(crate) findings: Vec<DamageRecord>,
    pub(crate) actions: Vec<Action>,
    /// The tree does not have the signed root at the signed size.
    pub(crate) mismatch: bool,
    /// The tree ends before the signed size.
    pub(crate) short: bool,
    /// The leaf hashes of damaged records are unknown (why).
    pub(crate) unknown: Option<String>,
}

/// What the plan checks against.
pub(crate) struct Signed<'a> {
    /// The latest checkpoint whose signature verifies.
    pub(crate) checkpoint: Option<&'a Checkpoint>,
    /// No record below this is cut as a torn tail: the largest size any
    /// checkpoint file claims, valid or not.
    pub(crate) guard: u64,
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn describe(reason: &FormatError, range: &DamagedRange) -> String {
    if range.is_header() {
        format!("segment header damaged ({reason})")
    } else if range.start == range.end {
        format!("records missing from the segment ({reason})")
    } else {
        format!("frames damaged at byte {} ({reason})", range.start)
    }
}

/// The leaf hashes of each valid frame; frames whose payload does not
/// decode are turned into damaged ranges.
pub(crate) fn frame_leaves(salvage: &mut Salvage) -> Vec<Vec<Hash>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < salvage.frames.len() {
        let frame = salvage.frames[at];
        match salvage.records(&frame) {
            Ok(records) => {
                out.push(
                    records
                        .iter()
                        .map(|r| record_leaf_hash(&r.envelope, &r.raw))
                        .collect(),
                );
                at += 1;
            }
            Err(reason) => salvage.demote(at, reason),
        }
    }
    out
}

/// The leaf hashes of a segment's records `[first, first + count)` by
/// position: those of its valid frames (`per_frame`, from
/// [`frame_leaves`]); `None` where the records cannot be read.
pub(crate) fn leaf_slots(
    salvage: &Salvage,
    per_frame: &[Vec<Hash>],
    count: usize,
) -> Vec<Option<Hash>> {
    let mut leaves = vec![None; count];
    for (frame, hashes) in salvage.frames.iter().zip(per_frame) {
        let at = (frame.header.first_index - salvage.first_index) as usize;
        for (i, h) in hashes.iter().enumerate() {
            if let Some(slot) = leaves.get_mut(at + i) {
                *slot = Some(*h);
            }
        }
    }
    leaves
}

struct Planner<'a> {
    stream: Stream,
    signed: &'a Signed<'a>,
    plan: Plan,
}

impl Planner<'_> {
    fn push(&mut self, leaves: &[Hash]) {
        for leaf in leaves {
            self.plan.range.push(*leaf);
            self.check();
        }
    }

    fn check(&mut self) {
        if let Some(cp) = self.signed.checkpoint {
            if cp.size == self.plan.range.size() && cp.root != self.plan.range.root() {
                self.plan.mismatch = true;
            }
        }
    }

    fn finding(&mut self, record: DamageRecord) -> usize {
        self.plan.findings.push(record);
        self.plan.findings.len() - 1
    }

    fn segment_finding(&mut self, path: &Path, range: &DamagedRange, end: u64, leaves: LeafSource) {
        let records = (range.first_record < end).then_some((range.first_record, end));
        let mut detail = describe(&range.reason, range);
        if let Some((first, end)) = records {
            detail.push_str(&format!(
                "; {} records unreadable, leaf hashes: {}",
                end - first,
                leaves.as_str()
            ));
        }
        self.finding(DamageRecord {
            stream: self.stream.to_string(),
            file: file_name(path),
            kind: DamageKind::Segment,
            bytes: (range.start as u64, range.end as u64),
            records,
            leaves: if records.is_some() {
                leaves
            } else {
                LeafSource::None
            },
            kept: "in place".to_owned(),
            detail,
            time: crate::damage::now_secs(),
        });
    }

    fn sidecar_finding(&mut self, sidecar: &Path, detail: String, len: u64) {
        let finding = self.finding(DamageRecord {
            stream: self.stream.to_string(),
            file: file_name(sidecar),
            kind: DamageKind::Sidecar,
            bytes: (0, len),
            records: None,
            leaves: LeafSource::Records,
            kept: "damaged/".to_owned(),
            detail,
            time: crate::damage::now_secs(),
        });
        self.plan.actions.push(Action::MoveAside {
            path: sidecar.to_owned(),
            finding,
        });
    }

    /// A segment whose frames are all valid: leaves from the sidecar when
    /// trusted, else from the records (and a sidecar that disagrees with
    /// them is damage).
    fn whole(
        &mut self,
        salvage: &Salvage,
        leaves_path: &Path,
        from_records: Option<Vec<Hash>>,
        last: bool,
    ) -> Result<(), JournalError> {
        let count = (salvage.frames_end() - salvage.first_index) as usize;
        let exists = leaves_path
            .try_exists()
            .map_err(JournalError::io(leaves_path))?;
        let sidecar = read_sidecar(leaves_path)?;
        let Some(leaves) = from_records else {
            self.push(&sidecar);
            return Ok(());
        };
        let agrees = if last {
            // The active sidecar may be short (not fsynced) or longer (its
            // frame torn): only a differing hash is damage.
            sidecar.iter().zip(&leaves).all(|(a, b)| a == b)
        } else {
            sidecar == leaves
        };
        if exists && !agrees {
            let detail = match sidecar.iter().zip(&leaves).position(|(a, b)| a != b) {
                Some(i) => format!(
                    "sidecar disagrees with record {} of its segment: moved aside, rebuilt from the records",
                    salvage.first_index + i as u64
                ),
                None => format!(
                    "sidecar holds {} leaf hashes for {count} records: moved aside, rebuilt from the records",
                    sidecar.len()
                ),
            };
            let len = fs::metadata(leaves_path).map(|m| m.len()).unwrap_or(0);
            self.sidecar_finding(leaves_path, detail, len);
        }
        if !exists || !agrees || sidecar.len() != leaves.len() {
            self.plan.actions.push(Action::WriteSidecar {
                path: leaves_path.to_owned(),
                leaves: leaves.clone(),
            });
        }
        self.push(&leaves);
        Ok(())
    }

    /// A damaged segment holding records `[first, end)`: leaves of the
    /// valid frames from their records, of the damaged ones from the
    /// sidecar, which must agree with the records that are readable.
    fn damaged(
        &mut self,
        path: &Path,
        leaves_path: &Path,
        salvage: &Salvage,
        per_frame: &[Vec<Hash>],
        end: u64,
    ) -> Result<(), JournalError> {
        let first = salvage.first_index;
        let sidecar = read_sidecar(leaves_path)?;
        let need = (end - first) as usize;
        let leaves = leaf_slots(salvage, per_frame, need);
        let disagrees = leaves
            .iter()
            .zip(&sidecar)
            .any(|(leaf, side)| leaf.is_some_and(|l| l != *side));
        let missing = leaves.iter().filter(|l| l.is_none()).count();
        let covered = leaves
            .iter()
            .enumerate()
            .all(|(i, l)| l.is_some() || i < sidecar.len());
        let usable = missing == 0 || (covered && !disagrees);
        let source = if usable {
            LeafSource::Sidecar
        } else {
            LeafSource::Unknown
        };
        let mut ranges = salvage.damaged.clone();
        let frames_end = salvage.frames_end();
        if let Some(tail) = ranges.iter_mut().find(|d| d.end_record.is_none()) {
            tail.end_record = Some(end);
        } else if frames_end < end {
            let len = salvage.bytes.len();
            ranges.push(DamagedRange {
                start: len,
                end: len,
                first_record: frames_end,
                end_record: Some(end),
                reason: FormatError::Payload(
                    "the segment ends before the records that follow it (the next segment's first, or a signed checkpoint's size): its end was cut, or a later segment removed",
                ),
            });
        }
        for range in &ranges {
            let range_end = range.end_record.unwrap_or(end);
            self.segment_finding(path, range, range_end, source);
        }
        if !usable {
            self.plan.unknown = Some(format!(
                "{} records of segment {} are unreadable and its sidecar {} (holds {} of {need} leaf hashes)",
                missing,
                file_name(path),
                if disagrees { "disagrees with the readable records" } else { "is short" },
                sidecar.len()
            ));
            return Ok(());
        }
        let leaves: Vec<Hash> = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| leaf.or_else(|| sidecar.get(i).copied()).unwrap_or_default())
            .collect();
        self.push(&leaves);
        Ok(())
    }
}

/// Reads a stream's segments and decides what recovery does. `start` is
/// the tree at the first kept record (from the latest retention record).
/// With `trust_sidecars`, sealed segments that check out contribute their
/// sidecar's leaf hashes unread (fast); without, every record is hashed and
/// every sidecar compared (after a root mismatch).
pub(crate) fn plan(
    layout: &Layout,
    stream: Stream,
    start: CompactRange,
    signed: &Signed<'_>,
    trust_sidecars: bool,
) -> Result<Plan, JournalError> {
    let mut planner = Planner {
        stream,
        signed,
        plan: Plan {
            range: start,
            segments: Vec::new(),
            findings: Vec::new(),
            actions: Vec::new(),
            mismatch: false,
            short: false,
            unknown: None,
        },
    };
    planner.check();
    let dir = layout.stream_dir(stream);
    let files = numbered_files(&dir, "seg")?;
    let last = files.len().saturating_sub(1);
    for (position, (first, path)) in files.iter().enumerate() {
        let is_last = position == last;
        let expected = planner.plan.range.size();
        if *first != expected {
            // A segment removed (or renamed) by hand: the records between
            // are gone from the directory, and so are their leaf hashes.
            let records = if *first > expected {
                format!("records {expected}..{first} are missing")
            } else {
                format!("it starts at record {first}, but records up to {expected} came before it")
            };
            let detail = format!(
                "segment does not continue the previous one ({records}: a segment was removed or renamed)"
            );
            planner.finding(DamageRecord {
                stream: stream.to_string(),
                file: file_name(path),
                kind: DamageKind::Segment,
                bytes: (0, 0),
                records: (*first > expected).then_some((expected, *first)),
                leaves: LeafSource::Unknown,
                kept: "in place".to_owned(),
                detail: detail.clone(),
                time: crate::damage::now_secs(),
            });
            planner.plan.unknown = Some(detail);
            return Ok(planner.plan);
        }
        let mut salvage = Salvage::read(path, *first)?;
        let leaves_path = path.with_extension("leaves");
        let sidecar_len = fs::metadata(&leaves_path).map(|m| m.len() / 32).ok();
        let expected_count = salvage.frames_end() - first;
        let short_of_next = files
            .get(position + 1)
            .is_some_and(|(next, _)| *next != salvage.frames_end());
        let need_records = is_last
            || short_of_next
            || !salvage.is_whole()
            || !trust_sidecars
            || sidecar_len != Some(expected_count);
        let per_frame = if need_records {
            frame_leaves(&mut salvage)
        } else {
            Vec::new()
        };
        let frames_end = salvage.frames_end();
        let next_first = files.get(position + 1).map(|(f, _)| *f);
        if let Some(next) = next_first {
            if frames_end > next {
                let detail = format!(
                    "segment holds records up to {frames_end}, but the next one starts at {next} (reordered segments)"
                );
                planner.finding(DamageRecord {
                    stream: stream.to_string(),
                    file: file_name(path),
                    kind: DamageKind::Segment,
                    bytes: (0, 0),
                    records: None,
                    leaves: LeafSource::Unknown,
                    kept: "in place".to_owned(),
                    detail: detail.clone(),
                    time: crate::damage::now_secs(),
                });
                planner.plan.unknown = Some(detail);
                return Ok(planner.plan);
            }
        }
        let header_ok = salvage.flags.is_some();
        if is_last && salvage.frames.is_empty() && !header_ok && *first >= signed.guard {
            // Created, then a crash before its header was whole: it holds
            // no record. Kept aside, not deleted.
            planner
                .plan
                .actions
                .push(Action::MoveTornSegment { path: path.clone() });
            continue;
        }
        let torn = is_last
            && header_ok
            && salvage.damaged.len() == 1
            && salvage.damaged_tail().is_some()
            && frames_end >= signed.guard;
        if torn {
            let offset = salvage.frames_len() as u64;
            planner.plan.actions.push(Action::CutTornTail {
                path: path.clone(),
                offset,
            });
        }
        let end = match next_first {
            Some(next) => next,
            None if torn => frames_end,
            None => frames_end.max(signed.guard),
        };
        let damaged = !torn && (!salvage.is_whole() || frames_end < end);
        let meta = SegmentMeta {
            first_index: *first,
            end_index: end,
            bytes: if torn {
                salvage.frames_len() as u64
            } else {
                salvage.bytes.len() as u64
            },
            path: path.clone(),
            leaves_path: leaves_path.clone(),
            last_time_micros: salvage
                .frames
                .last()
                .map(|f| f.header.time_micros)
                .unwrap_or(0),
            compacted: salvage.flags.unwrap_or(0) & FLAG_COMPACTED != 0,
            damaged,
        };
        if damaged {
            planner.damaged(path, &leaves_path, &salvage, &per_frame, end)?;
            planner.plan.segments.push(meta);
            if planner.plan.unknown.is_some() {
                return Ok(planner.plan);
            }
            continue;
        }
        let from_records = need_records.then(|| per_frame.concat());
        planner.whole(&salvage, &leaves_path, from_records, is_last)?;
        planner.plan.segments.push(meta);
    }
    if let Some(cp) = signed.checkpoint {
        planner.plan.short = cp.size > planner.plan.range.size();
    }
    Ok(planner.plan)
}

impl Plan {
    /// True when something other than checkpoints was found damaged.
    pub(crate) fn has_data_damage(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.kind, DamageKind::Segment | DamageKind::Sidecar))
    }

    /// Does the cutting (torn tails, kept aside first), moving and writing.
    pub(crate) fn apply(&mut self, layout: &Layout, stream: Stream) -> Result<(), JournalError> {
        for action in std::mem::take(&mut self.actions) {
            match action {
                Action::CutTornTail { path, offset } => {
                    cut_torn_tail(layout, stream, &path, offset)?
                }
                Action::MoveTornSegment { path } => {
                    let torn = torn_dir(layout, stream);
                    fs::create_dir_all(&torn).map_err(JournalError::io(&torn))?;
                    let target = torn.join(file_name(&path));
                    tracing::warn!(stream = %stream, segment = %path.display(), kept = %target.display(), "segment without a whole header or any frame (created, then a crash): moved aside");
                    fs::rename(&path, &target).map_err(JournalError::io(&path))?;
                    let leaves = path.with_extension("leaves");
                    if leaves.try_exists().map_err(JournalError::io(&leaves))? {
                        fs::rename(&leaves, target.with_extension("leaves"))
                            .map_err(JournalError::io(&leaves))?;
                    }
                    sync_dir(&torn)?;
                    sync_dir(&layout.stream_dir(stream))?;
                }
                Action::MoveAside { path, finding } => {
                    let kept = move_aside(layout, stream, &path)?;
                    if let Some(record) = self.findings.get_mut(finding) {
                        record.kept = kept;
                    }
                }
                Action::WriteSidecar { path, leaves } => {
                    let bytes: Vec<u8> = leaves.iter().flat_map(|h| h.iter().copied()).collect();
                    write_durably(&path, &bytes)?;
                }
            }
        }
        Ok(())
    }
}

/// Copies the torn tail of `path` (bytes from `offset`) to `torn/`, then
/// cuts the segment there.
fn cut_torn_tail(
    layout: &Layout,
    stream: Stream,
    path: &Path,
    offset: u64,
) -> Result<(), JournalError> {
    let bytes = fs::read(path).map_err(JournalError::io(path))?;
    let cut = bytes.get(offset as usize..).unwrap_or_default();
    let torn = torn_dir(layout, stream);
    fs::create_dir_all(&torn).map_err(JournalError::io(&torn))?;
    let kept = torn.join(format!("{}.{offset}", file_name(path)));
    write_durably(&kept, cut)?;
    tracing::warn!(
        stream = %stream,
        segment = %path.display(),
        offset,
        bytes_cut = cut.len(),
        kept = %kept.display(),
        "torn tail cut back to the last whole frame (no signature covers it, no valid frame follows it); the cut bytes are kept"
    );
    let file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(JournalError::io(path))?;
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(JournalError::io(path))
}
