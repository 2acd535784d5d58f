//! RFC 4180 CSV, as PostgreSQL's csvlog and pgaudit write it: fields
//! separated by commas, quoted with `"` when they hold a comma, a quote or a
//! newline, quotes doubled inside. pgaudit nests it three deep (csvlog row →
//! AUDIT message → PARAMETER field), so this is one small, strict parser.

/// Why a CSV record could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// A quoted field is not closed before the end.
    #[error("unterminated quoted field starting at byte {0}")]
    Unterminated(usize),
    /// Something other than a comma follows a closing quote.
    #[error("unexpected character after a closing quote at byte {0}")]
    AfterQuote(usize),
}

/// Splits one CSV record (which may contain newlines inside quotes).
pub fn split_record(text: &str) -> Result<Vec<String>, CsvError> {
    let bytes = text.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        if i < bytes.len() && bytes[i] == b'"' {
            let start = i;
            i += 1;
            let mut field = Vec::new();
            loop {
                match bytes.get(i) {
                    None => return Err(CsvError::Unterminated(start)),
                    Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                        field.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        field.push(b);
                        i += 1;
                    }
                }
            }
            fields.push(String::from_utf8_lossy(&field).into_owned());
            match bytes.get(i) {
                None => return Ok(fields),
                Some(b',') => i += 1,
                Some(_) => return Err(CsvError::AfterQuote(i)),
            }
        } else {
            let end = bytes[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(bytes.len(), |p| i + p);
            fields.push(text[i..end].to_owned());
            if end == bytes.len() {
                return Ok(fields);
            }
            i = end + 1;
        }
    }
}

/// Whether the quotes in `text` leave a quoted field open (an odd
/// number of `"`): a csvlog record continues on the next line.
pub(crate) fn ends_inside_quotes(text: &str) -> bool {
    text.bytes().filter(|&b| b == b'"').count() % 2 == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_quoting() {
        let fields = split_record(
            r#"a,"b,c","d""e",,"x
y""#,
        )
        .unwrap();
        assert_eq!(fields, ["a", "b,c", "d\"e", "", "x\ny"]);
        assert!(split_record(r#""open"#).is_err());
        assert!(split_record(r#""a"b"#).is_err());
    }

    #[test]
    fn open_quotes() {
        assert!(ends_inside_quotes("1,\"a"));
        assert!(!ends_inside_quotes("1,\"a\"\"b\""));
    }
}
