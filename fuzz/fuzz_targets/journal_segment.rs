//! Arbitrary bytes as a journal segment: scanning and decoding frames must
//! report, never panic (recovery and verify read segments an attacker may
//! have written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_journal::segment::ScannedSegment;

fuzz_target!(|data: &[u8]| {
    if let Ok(scanned) = ScannedSegment::scan(data.to_vec()) {
        for frame in &scanned.frames {
            let _ = scanned.records(frame);
        }
    }
});
