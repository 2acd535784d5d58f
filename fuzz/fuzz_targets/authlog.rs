//! Arbitrary bytes as an auth log (syslog text or journal JSON), fed line
//! by line through parsing, classification and attribution. None may panic;
//! every line is a record, a skip or a diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_parse::authlog::keys::{KeyOwner, KeyRegistry};
use whodid_parse::authlog::{AuthLogConfig, AuthLogParser};
use whodid_parse::parsed::lines;

fuzz_target!(|data: &[u8]| {
    let mut registry = KeyRegistry::new();
    registry.add_key(
        "SHA256:KIbjlpoKCIWYgTPg71k6I0dTGf/ns0BCPLBv9+6oyoU",
        KeyOwner { person: "eve@example.com".into(), account: Some("ubuntu".into()) },
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = registry.add_authorized_keys(text, "ubuntu");
        let _ = registry.add_yaml(text);
    }
    let reference = jiff::Timestamp::from_second(1_795_400_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let mut parser = AuthLogParser::new(AuthLogConfig::new(reference), registry);
    let mut items = 0u64;
    for (at, line) in lines(data) {
        parser.push_line(at, line, &mut |_| items += 1);
    }
    let stats = parser.stats();
    assert_eq!(stats.records + stats.skipped + stats.diagnostics, stats.lines);
    assert_eq!(items, stats.records + stats.diagnostics);
});
