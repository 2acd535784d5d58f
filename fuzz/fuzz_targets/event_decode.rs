//! Arbitrary bytes through every way whodid reads audit events: the log
//! splitter (JSON lines or EventList), the full decoder, the fast head
//! decoder, and the apiserver's request-info derivation. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_model::k8s::{decode_event, read_log};
use whodid_policy::attributes::{EventHead, RequestAttributes};
use whodid_policy::request_info::{request_info, Method};

fuzz_target!(|data: &[u8]| {
    read_log(data, |e| {
        let _ = RequestAttributes::from_event(&e.event);
    }, |_| {});
    let _ = decode_event(data);
    if let Ok(head) = EventHead::from_json(data) {
        let _ = head.attributes();
    }
    if let Ok(uri) = std::str::from_utf8(data) {
        for method in [Method::Get, Method::Post, Method::Delete] {
            let _ = request_info(uri, method);
        }
    }
});
