//! Reading JSON from bytes with UTF-8 checked once.
//!
//! serde_json's byte parser checks every string it reads as UTF-8; checking
//! the whole input once and parsing it as text is cheaper, and ingest and
//! the index read every event this way. Bytes that are not UTF-8 still go
//! to the byte parser, so errors (and where they are) and what is accepted
//! stay exactly as `serde_json::from_slice` has them — an event whose
//! invalid bytes are only in values the target skips is still read.

use std::marker::PhantomData;

use serde::de::{Deserialize, DeserializeSeed};

/// `serde_json::from_slice`, with UTF-8 checked once.
pub fn from_bytes<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, serde_json::Error> {
    from_bytes_seed(bytes, PhantomData)
}

/// [`from_bytes`] for a [`DeserializeSeed`]: the whole input is one value,
/// trailing whitespace allowed.
pub fn from_bytes_seed<'a, S: DeserializeSeed<'a>>(
    bytes: &'a [u8],
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let value = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(value)
        }
        Err(_) => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = seed.deserialize(&mut de)?;
            de.end()?;
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_read_alike() {
        let v: serde_json::Value = from_bytes(br#" {"a":["\u00e9",1]} "#).unwrap();
        assert_eq!(v, serde_json::json!({"a": ["é", 1]}));
        // Not UTF-8 inside a value that is skipped: accepted, as from_slice does.
        #[derive(serde::Deserialize)]
        struct OnlyA {
            a: u8,
        }
        let skipped: OnlyA = from_bytes(b"{\"a\":1,\"b\":\"\xff\"}").unwrap();
        assert_eq!(skipped.a, 1);
        let text = from_bytes::<serde_json::Value>(b"{\"a\":1} x").unwrap_err();
        let bytes = serde_json::from_slice::<serde_json::Value>(b"{\"a\":1} x").unwrap_err();
        assert_eq!(text.to_string(), bytes.to_string());
        let bad = from_bytes::<serde_json::Value>(b"{\"a\":\"\xff\"}").unwrap_err();
        let slice = serde_json::from_slice::<serde_json::Value>(b"{\"a\":\"\xff\"}").unwrap_err();
        assert_eq!(bad.to_string(), slice.to_string());
    }
}
