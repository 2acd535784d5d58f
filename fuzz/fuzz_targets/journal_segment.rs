//! Arbitrary bytes as a journal segment: scanning, salvaging (finding the
//! valid frames after a damaged one) and decoding frames must report, never
//! panic (recovery and verify read segments an attacker may have written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_journal::segment::{Salvage, ScannedSegment};

fuzz_target!(|data: &[u8]| {
    if let Ok(scanned) = ScannedSegment::scan(data.to_vec()) {
        for frame in &scanned.frames {
            let _ = scanned.records(frame);
        }
    }
    let first = data
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes);
    let salvage = Salvage::scan(data.to_vec(), first);
    // Valid frames go forward in records and bytes; damaged ranges lie
    // inside the file, in order.
    let mut next = salvage.first_index;
    for frame in &salvage.frames {
        assert!(frame.header.first_index >= next && frame.end <= data.len());
        next = frame.header.first_index + u64::from(frame.header.count);
        let _ = salvage.records(frame);
    }
    let mut end = 0;
    for range in &salvage.damaged {
        assert!(range.start >= end && range.start <= range.end && range.end <= data.len());
        end = range.end;
    }
});
