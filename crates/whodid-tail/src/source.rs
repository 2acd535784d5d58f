//! One open file being read: its handle (plain or gzip), the bytes read but
//! not yet handed out, and the cut into lines. Memory stays bounded: a line
//! longer than the limit is counted and streamed past, never buffered whole.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::SystemTime;

use flate2::read::MultiGzDecoder;

use crate::event::TailEvent;
use crate::listing::{read_up_to, Candidate};
use crate::position::{Fingerprint, TailPosition, FINGERPRINT_MAX, POSITION_VERSION};

/// How much is read from a file at a time.
const CHUNK: usize = 128 * 1024;

enum Reader {
    Plain(File),
    Gz(Box<MultiGzDecoder<File>>),
}

impl Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = match self {
                Reader::Plain(f) => f.read(buf),
                Reader::Gz(d) => d.read(buf),
            };
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// An over-long line being streamed past.
#[derive(Clone, Copy, Debug)]
struct Skip {
    len: u64,
}

/// An open file and where reading it stands.
pub(crate) struct Source {
    /// The file's path as last seen (it changes when the file is rotated).
    pub(crate) path: PathBuf,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) compressed: bool,
    /// Whether this is (as far as last checked) the file at the spec's path,
    /// which may still grow; its unterminated last line is not complete.
    pub(crate) active: bool,
    reader: Reader,
    /// The first [`FINGERPRINT_MAX`] bytes of the content (fewer while the
    /// file is shorter).
    pub(crate) prefix: Vec<u8>,
    fingerprint: Fingerprint,
    /// Offset of the next line's first byte.
    pub(crate) offset: u64,
    /// Number of the next line.
    pub(crate) line: u64,
    /// Bytes consumed from the reader.
    read_offset: u64,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where to continue looking for `\n` (between `start` and `end`).
    scanned: usize,
    skip: Option<Skip>,
    /// The largest size seen for the file (bytes we know were written).
    pub(crate) seen_size: u64,
    pub(crate) modified: Option<SystemTime>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("dev", &self.dev)
            .field("ino", &self.ino)
            .field("compressed", &self.compressed)
            .field("active", &self.active)
            .field("offset", &self.offset)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// Opens a file found in the directory, at its start.
    pub(crate) fn open(c: &Candidate) -> io::Result<Source> {
        let file = File::open(&c.path)?;
        let meta = file.metadata()?;
        let (reader, prefix) = if c.compressed {
            let prefix = if (meta.dev(), meta.ino()) == (c.dev, c.ino) {
                c.prefix.clone()
            } else {
                read_up_to(
                    MultiGzDecoder::new(file.try_clone()?),
                    FINGERPRINT_MAX,
                    true,
                )?
            };
            (Reader::Gz(Box::new(MultiGzDecoder::new(file))), prefix)
        } else {
            let prefix = read_prefix_at(&file, meta.len())?;
            (Reader::Plain(file), prefix)
        };
        let fingerprint = Fingerprint::of(&prefix);
        Ok(Source {
            path: c.path.clone(),
            dev: meta.dev(),
            ino: meta.ino(),
            compressed: c.compressed,
            active: c.is_active(),
            reader,
            prefix,
            fingerprint,
            offset: 0,
            line: 1,
            read_offset: 0,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            skip: None,
            seen_size: if c.compressed { 0 } else { meta.len() },
            modified: meta.modified().ok(),
        })
    }

    /// Moves to `offset` (the start of line `line`). Returns false when the
    /// content is shorter than `offset` (then it stands at the end).
    pub(crate) fn seek_to(&mut self, offset: u64, line: u64) -> io::Result<bool> {
        self.line = line;
        match &mut self.reader {
            Reader::Plain(f) => {
                let len = f.metadata()?.len();
                let to = offset.min(len);
                f.seek(SeekFrom::Start(to))?;
                self.offset = to;
                self.read_offset = to;
                Ok(to == offset)
            }
            Reader::Gz(_) => {
                let mut scratch = vec![0; CHUNK];
                while self.read_offset < offset {
                    let want = usize::try_from(offset - self.read_offset)
                        .unwrap_or(CHUNK)
                        .min(CHUNK);
                    let n = self.reader.read(&mut scratch[..want])?;
                    if n == 0 {
                        break;
                    }
                    self.note_read(&scratch[..n]);
                    self.read_offset += n as u64;
                }
                self.offset = self.read_offset;
                Ok(self.read_offset == offset)
            }
        }
    }

    /// The position of the next unread line.
    pub(crate) fn position(&self) -> TailPosition {
        self.position_at(self.offset, self.line)
    }

    fn position_at(&self, offset: u64, line: u64) -> TailPosition {
        TailPosition {
            version: POSITION_VERSION,
            dev: self.dev,
            inode: self.ino,
            fingerprint: self.fingerprint.clone(),
            name: self.path.clone(),
            offset,
            line,
        }
    }

    /// Extends the prefix with bytes just read at `read_offset`.
    fn note_read(&mut self, bytes: &[u8]) {
        let have = self.prefix.len() as u64;
        if have >= FINGERPRINT_MAX as u64 || have < self.read_offset {
            return;
        }
        let from = usize::try_from(have - self.read_offset).unwrap_or(usize::MAX);
        if from >= bytes.len() {
            return;
        }
        let to = bytes.len().min(FINGERPRINT_MAX - self.prefix.len() + from);
        self.prefix.extend_from_slice(&bytes[from..to]);
        self.fingerprint = Fingerprint::of(&self.prefix);
    }

    /// For a plain file shorter than the fingerprint size when opened: reads
    /// its first bytes again (it may have grown).
    pub(crate) fn refresh_prefix(&mut self) -> io::Result<()> {
        if let Reader::Plain(f) = &self.reader {
            if self.prefix.len() < FINGERPRINT_MAX {
                let len = f.metadata()?.len();
                let prefix = read_prefix_at(f, len)?;
                if prefix.len() > self.prefix.len() && prefix.starts_with(&self.prefix) {
                    self.prefix = prefix;
                    self.fingerprint = Fingerprint::of(&self.prefix);
                }
            }
        }
        Ok(())
    }

    /// For the active plain file: whether it was truncated in place (shorter
    /// than what was read, or other first bytes than before).
    pub(crate) fn truncated(&mut self) -> io::Result<bool> {
        let Reader::Plain(f) = &self.reader else {
            return Ok(false);
        };
        let meta = f.metadata()?;
        let len = meta.len();
        if len < self.read_offset {
            return Ok(true);
        }
        self.modified = meta.modified().ok();
        self.seen_size = self.seen_size.max(len);
        if self.prefix.is_empty() {
            return Ok(false);
        }
        let now = read_prefix_at(f, len)?;
        let m = now.len().min(self.prefix.len());
        if now.len() < self.prefix.len() || now[..m] != self.prefix[..m] {
            return Ok(true);
        }
        if now.len() > self.prefix.len() {
            self.prefix = now;
            self.fingerprint = Fingerprint::of(&self.prefix);
        }
        Ok(false)
    }

    /// Back to the first byte, after a truncation: the file now holds other
    /// content.
    pub(crate) fn restart(&mut self) -> io::Result<()> {
        if let Reader::Plain(f) = &mut self.reader {
            f.seek(SeekFrom::Start(0))?;
            let len = f.metadata()?.len();
            self.prefix = read_prefix_at(f, len)?;
            self.fingerprint = Fingerprint::of(&self.prefix);
            self.seen_size = len;
        }
        self.offset = 0;
        self.line = 1;
        self.read_offset = 0;
        self.start = 0;
        self.end = 0;
        self.scanned = 0;
        self.skip = None;
        Ok(())
    }

    /// Bytes known to be written but not handed out as lines.
    pub(crate) fn unread_known(&self) -> u64 {
        self.seen_size
            .max(self.read_offset)
            .saturating_sub(self.offset)
    }

    /// Reads and cuts lines until the end of the file or until about
    /// `budget` bytes were read. Returns the bytes read and whether the end
    /// was reached. A partial last line stays buffered.
    pub(crate) fn read_lines(
        &mut self,
        budget: u64,
        max_line: usize,
        out: &mut Vec<TailEvent>,
    ) -> io::Result<(u64, bool)> {
        let mut read = 0u64;
        loop {
            self.cut_lines(max_line, out);
            if read >= budget {
                return Ok((read, false));
            }
            self.make_room(max_line);
            let room = self.buf.len() - self.end;
            let want = usize::try_from(budget - read).unwrap_or(room).min(room);
            let n = self.reader.read(&mut self.buf[self.end..self.end + want])?;
            if n == 0 {
                return Ok((read, true));
            }
            let (from, to) = (self.end, self.end + n);
            if (self.prefix.len() as u64) < FINGERPRINT_MAX as u64 {
                let bytes = self.buf[from..to].to_vec();
                self.note_read(&bytes);
            }
            self.end = to;
            self.read_offset += n as u64;
            self.seen_size = self.seen_size.max(self.read_offset);
            read += n as u64;
        }
    }

    /// Space for one more read after `end`, keeping the partial line.
    fn make_room(&mut self, max_line: usize) {
        if self.start == self.end {
            if self.buf.len() > 4 * CHUNK {
                self.buf = Vec::new();
            }
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
        } else if self.start > 0 && self.buf.len() - self.end < CHUNK {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < CHUNK {
            let cap = max_line.saturating_add(2 * CHUNK);
            let want = (self.buf.len() * 2).min(cap).max(self.end + CHUNK);
            self.buf.resize(want, 0);
        }
    }

    /// Hands out the complete lines in the buffer.
    fn cut_lines(&mut self, max_line: usize, out: &mut Vec<TailEvent>) {
        loop {
            let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) else {
                self.scanned = self.end;
                let partial = self.end - self.start;
                if let Some(skip) = &mut self.skip {
                    skip.len += partial as u64;
                    self.start = self.end;
                } else if partial > max_line {
                    self.skip = Some(Skip {
                        len: partial as u64,
                    });
                    self.start = self.end;
                }
                return;
            };
            let nl = self.scanned + i;
            self.emit(self.start, nl, 1, max_line, out);
            self.start = nl + 1;
            self.scanned = self.start;
        }
    }

    /// Emits `buf[from..to]` (plus any skipped part) as one line followed by
    /// `terminator` bytes.
    fn emit(
        &mut self,
        from: usize,
        to: usize,
        terminator: u64,
        max_line: usize,
        out: &mut Vec<TailEvent>,
    ) {
        let line = self.line;
        let offset = self.offset;
        let len = match self.skip.take() {
            Some(skip) => skip.len + (to - from) as u64,
            None => (to - from) as u64,
        };
        self.offset += len + terminator;
        self.line += 1;
        let after = self.position_at(self.offset, self.line);
        if len > max_line as u64 {
            tracing::warn!(file = %self.path.display(), line, offset, len, max_line, "line too long; skipped");
            out.push(TailEvent::LineTooLong {
                file: self.path.clone(),
                line,
                offset,
                len,
                after,
            });
        } else {
            out.push(TailEvent::Line {
                file: self.path.clone(),
                line,
                offset,
                text: self.buf[from..to].to_vec(),
                after,
            });
        }
    }

    /// The file will not grow any more: its unterminated last line is
    /// complete and handed out.
    pub(crate) fn finish(&mut self, max_line: usize, out: &mut Vec<TailEvent>) {
        if self.start < self.end || self.skip.is_some() {
            let (from, to) = (self.start, self.end);
            self.emit(from, to, 0, max_line, out);
            self.start = self.end;
            self.scanned = self.end;
        }
    }

    /// Drops the buffered partial line (the rest of the file cannot be read).
    pub(crate) fn abandon(&mut self) {
        self.start = self.end;
        self.scanned = self.end;
        self.skip = None;
    }
}

/// The first bytes of an open plain file of length `len`.
fn read_prefix_at(f: &File, len: u64) -> io::Result<Vec<u8>> {
    let want = usize::try_from(len)
        .unwrap_or(FINGERPRINT_MAX)
        .min(FINGERPRINT_MAX);
    let mut out = vec![0; want];
    let mut filled = 0;
    while filled < want {
        match f.read_at(&mut out[filled..], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    out.truncate(filled);
    Ok(out)
}
