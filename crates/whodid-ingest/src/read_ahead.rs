//! A file source's tailer on its own thread, one round ahead.
//!
//! A round is read (lines split and copied out of the files) on one thread
//! and then prepared and hashed on several. Read in turn with the rest, the
//! reading left the other core idle for about a sixth of a tailer run.
//! [`ReadAhead`] runs the [`Tailer`] on a thread of its own: while a round is
//! prepared, the next is read. It reads on only while the files hold more
//! than one round; once a poll reaches the end of what is written, it waits
//! to be asked again, so a caught-up source still sleeps between polls.
//!
//! Each round carries the tailer's position as of the end of that round
//! (never the round read ahead), which is what a caller may save once the
//! round is durable.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use whodid_tail::{PollOutcome, TailError, TailEvent, TailPosition, Tailer};

/// One poll of the tailer.
#[derive(Debug)]
pub(crate) struct Round {
    /// What the poll found (an error leaves `events` empty).
    pub(crate) outcome: Result<PollOutcome, TailError>,
    /// The events read.
    pub(crate) events: Vec<TailEvent>,
    /// [`Tailer::position`] right after this poll.
    pub(crate) position: Option<TailPosition>,
}

/// A tailer polled on its own thread; see the module docs.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    ask: Option<SyncSender<()>>,
    rounds: Option<Receiver<Round>>,
    /// The thread waits to be asked (nothing read ahead).
    idle: bool,
    thread: Option<JoinHandle<()>>,
}

impl ReadAhead {
    /// Starts polling `tailer` for rounds of up to `budget` bytes.
    pub(crate) fn start(
        mut tailer: Tailer,
        budget: usize,
        name: &str,
    ) -> std::io::Result<ReadAhead> {
        let (ask, asked) = mpsc::sync_channel::<()>(1);
        // A rendezvous: the round read ahead stays with the thread until
        // taken, so at most one round waits beside the one being prepared.
        let (send, rounds) = mpsc::sync_channel::<Round>(0);
        let thread = std::thread::Builder::new()
            .name(format!("tail-read:{name}"))
            .spawn(move || {
                while asked.recv().is_ok() {
                    loop {
                        let mut events = Vec::new();
                        let outcome = tailer.poll(budget, &mut events);
                        let more = reads_on(&outcome);
                        let position = tailer.position();
                        let round = Round {
                            outcome,
                            events,
                            position,
                        };
                        if send.send(round).is_err() {
                            return;
                        }
                        if !more {
                            break;
                        }
                    }
                }
            })?;
        Ok(ReadAhead {
            ask: Some(ask),
            rounds: Some(rounds),
            idle: true,
            thread: Some(thread),
        })
    }

    /// The next round, in order; `None` only if the thread is gone.
    pub(crate) fn next(&mut self) -> Option<Round> {
        if self.idle {
            self.ask.as_ref()?.send(()).ok()?;
        }
        let round = self.rounds.as_ref()?.recv().ok()?;
        self.idle = !reads_on(&round.outcome);
        Some(round)
    }
}

/// Whether the thread polls again without being asked: the poll stopped at
/// its budget, with more written than it read.
fn reads_on(outcome: &Result<PollOutcome, TailError>) -> bool {
    matches!(outcome, Ok(o) if !o.caught_up)
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        // Closing both channels ends the thread: a wait for the next ask
        // fails, and so does handing over a round read ahead.
        self.ask.take();
        self.rounds.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use whodid_tail::{TailEvent, TailSpec, Tailer};

    use super::ReadAhead;

    fn lines_of(events: &[TailEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                TailEvent::Line { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rounds_come_in_order_with_their_own_position_and_resume_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut file = std::fs::File::create(&path).unwrap();
        let written: Vec<String> = (0..500).map(|i| format!("line {i:04}")).collect();
        for line in &written {
            writeln!(file, "{line}").unwrap();
        }
        file.flush().unwrap();
        // 10 lines a round: the thread reads ahead while a round is held.
        let mut reader =
            ReadAhead::start(Tailer::new(TailSpec::new(&path), None), 100, "t").unwrap();
        let mut seen = Vec::new();
        let mut rounds = 0;
        loop {
            let round = reader.next().unwrap();
            let outcome = round.outcome.unwrap();
            seen.extend(lines_of(&round.events));
            rounds += 1;
            // The position is the one after this round's last line, not after
            // the round read ahead meanwhile.
            let position = round.position.unwrap();
            let read_bytes: u64 = seen.iter().map(|l| l.len() as u64 + 1).sum();
            assert_eq!(position.offset, read_bytes, "round {rounds}");
            if outcome.caught_up {
                break;
            }
        }
        assert!(rounds > 10, "{rounds} rounds");
        assert_eq!(seen, written);
        // Caught up, the thread waits to be asked; lines written meanwhile
        // come with the next round.
        writeln!(file, "line 0500").unwrap();
        file.flush().unwrap();
        let mut more = Vec::new();
        while more.is_empty() {
            let round = reader.next().unwrap();
            round.outcome.unwrap();
            more.extend(lines_of(&round.events));
        }
        assert_eq!(more, ["line 0500"]);
        drop(reader);
    }
}
