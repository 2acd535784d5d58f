//! Preparing a round of log lines on several threads gives exactly what
//! preparing them one by one gives, in the same order: the tail source
//! relies on it for positions and for "every line once, in order".

use whodid_ingest::kube::prepare::{KubeSource, Prepared};
use whodid_ingest::line_source::{LineParser, Parsed};
use whodid_ingest::redaction_key::RedactionKey;
use whodid_parse::Position;

use crate::fixtures::{capture_lines, policy};

fn parser() -> LineParser {
    LineParser::Kube(Box::new(KubeSource {
        cluster: "prod".to_owned(),
        policy: Some(policy("01-kube-up-gce-production")),
        redaction: Some(RedactionKey::from_bytes([7; 32])),
    }))
}

/// What a parsed item comes to, comparable.
fn outcome(item: &Parsed) -> (String, Vec<u8>, Vec<u8>) {
    match item {
        Parsed::Kube(Prepared::Keep { record, .. }) => {
            ("keep".into(), record.envelope.clone(), record.raw.clone())
        }
        Parsed::Kube(Prepared::Invalid { record, reason }) => {
            (format!("invalid {reason}"), Vec::new(), record.raw.clone())
        }
        Parsed::Kube(Prepared::DroppedByPolicy) => ("dropped".into(), Vec::new(), Vec::new()),
        other => (format!("{other:?}"), Vec::new(), Vec::new()),
    }
}

#[test]
fn lines_prepared_in_parallel_equal_lines_prepared_one_by_one() {
    // The capture, with blank lines, CRLF and garbage mixed in.
    let mut lines: Vec<(Position, Vec<u8>)> = Vec::new();
    for (i, line) in capture_lines().into_iter().enumerate() {
        let at = Position {
            line: i as u64 + 1,
            offset: 0,
        };
        lines.push((at, line.clone()));
        match i % 97 {
            0 => lines.push((at, Vec::new())),
            1 => lines.push((at, b"{not json".to_vec())),
            2 => lines.push((at, [line, b"\r".to_vec()].concat())),
            _ => {}
        }
    }
    let one_by_one: Vec<_> = {
        let mut parser = parser();
        let mut out = Vec::new();
        for (at, line) in &lines {
            parser.push_line(*at, line, &mut out);
        }
        out.iter().map(outcome).collect()
    };
    assert!(one_by_one.len() > 2_900, "{} items", one_by_one.len());
    assert!(one_by_one.iter().any(|o| o.0 == "keep"));
    assert!(one_by_one.iter().any(|o| o.0 == "dropped"));
    assert!(one_by_one.iter().any(|o| o.0.starts_with("invalid")));
    for threads in [1, 2, 3, 8] {
        for take in [0, 1, 255, 600, lines.len()] {
            let mut parser = parser();
            let mut out = Vec::new();
            parser.push_lines(&lines[..take], threads, &mut out);
            parser.push_lines(&lines[take..], threads, &mut out);
            let got: Vec<_> = out.iter().map(outcome).collect();
            // Envelopes of invalid records carry the time they were made: compared without.
            assert_eq!(
                got.len(),
                one_by_one.len(),
                "threads {threads}, split {take}"
            );
            for (n, (a, b)) in got.iter().zip(&one_by_one).enumerate() {
                assert_eq!(a, b, "threads {threads}, split {take}: item {n}");
            }
        }
    }
}
