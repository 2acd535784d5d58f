//! Arbitrary bytes as a PostgreSQL log in each destination format (stderr
//! with the Debian prefix and with every escape, csvlog, jsonlog, syslog),
//! through the AUDIT payload decoding, redaction and the filter. None may
//! panic; no password literal survives redaction of a record's statement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use whodid_parse::parsed::lines;
use whodid_parse::pgaudit::{PgAuditFilter, PgAuditParser, PgAuditRecord, PgLogConfig, PgLogFormat};
use whodid_parse::Item;

fuzz_target!(|data: &[u8]| {
    let reference = jiff::Timestamp::from_second(1_795_400_000).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let filter: PgAuditFilter = serde_json::from_str(
        r#"{"objects": {"include": ["app.*"], "exclude": ["app.emailsSent"]}, "classes": {"include": ["write", "misc_set"]}, "users": {"exclude": ["app_*"]}}"#,
    )
    .unwrap_or_default();
    let configs = [
        (PgLogFormat::Stderr, "%m [%p] %q%u@%d "),
        (PgLogFormat::Stderr, "%t %n %p %l %x %u %d %r %h %a|%c %i|%b|%v %e %s %Q %P %L %% %-6u"),
        (PgLogFormat::Csvlog, ""),
        (PgLogFormat::Jsonlog, ""),
        (PgLogFormat::Syslog, "%m [%p] %q%u@%d "),
    ];
    for (format, prefix) in configs {
        let mut config = PgLogConfig::new(format);
        config.log_line_prefix = prefix.to_owned();
        config.max_record_bytes = 64 * 1024;
        let Ok(mut parser) = PgAuditParser::new(&config, reference) else { return };
        let mut check = |item: Item<PgAuditRecord>| {
            if let Item::Record(parsed) = item {
                let _ = filter.keeps(&parsed.record);
                if parsed.record.audit.redacted {
                    assert!(!parsed.envelope.redacted.is_empty());
                }
            }
        };
        for (at, line) in lines(data) {
            parser.push_line(at, line, &mut check);
        }
        parser.finish(&mut check);
        assert!(parser.pending_since().is_none());
    }
});
