//! Reading only the parts of a raw Kubernetes event that the index looks
//! at.
//!
//! A document needs a few dozen values of an event (the catalogue's `Kube`
//! paths and the annotations), but an event at `Request` or
//! `RequestResponse` level is mostly its bodies, and building a
//! [`serde_json::Value`] of a body costs an allocation per member. The
//! [`Wanted`] tree of the catalogue's paths drives the parser instead:
//! members on no wanted path are skipped unread, a wanted path's value is
//! read whole, and what comes back is a `Value` holding just those parts,
//! so a path lookup finds exactly what it would in the full event.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::catalogue::{Source, ANNOTATIONS, FIELDS};

/// Which members of an object to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The whole value.
    Whole,
    /// Only these members (and of them only what their own trees want).
    Members(BTreeMap<&'static str, Wanted>),
}

impl Wanted {
    /// The tree of the dot-separated `paths`; a path that is a prefix of
    /// another wants the whole value there.
    pub fn of_paths(paths: impl IntoIterator<Item = &'static str>) -> Wanted {
        let mut root = Wanted::Members(BTreeMap::new());
        for path in paths {
            let mut node = &mut root;
            let mut keys = path.split('.').peekable();
            while let Some(key) = keys.next() {
                let Wanted::Members(members) = node else {
                    break;
                };
                let last = keys.peek().is_none();
                let child = members
                    .entry(key)
                    .or_insert_with(|| Wanted::Members(BTreeMap::new()));
                if last {
                    *child = Wanted::Whole;
                }
                node = child;
            }
        }
        root
    }
}

/// What the index reads of a raw Kubernetes event.
pub static KUBE_WANTED: LazyLock<Wanted> = LazyLock::new(|| {
    Wanted::of_paths(FIELDS.iter().filter_map(|spec| match spec.source {
        Source::Kube(path) => Some(path),
        Source::KubeAnnotations => Some(ANNOTATIONS),
        Source::Stream | Source::Envelope(_) => None,
    }))
});

/// Reads the wanted parts of the JSON `text` (an object; anything else
/// gives `Value::Null`, which holds no path, as the full value would not).
pub fn read_wanted(text: &[u8], wanted: &Wanted) -> Result<Value, serde_json::Error> {
    whodid_model::json::from_bytes_seed(text, Pruned(wanted))
}

/// A value read through a [`Wanted`] tree.
struct Pruned<'w>(&'w Wanted);

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Wanted::Whole => serde::Deserialize::deserialize(deserializer),
            Wanted::Members(members) => deserializer.deserialize_any(MembersOf(members)),
        }
    }
}

/// Visits a value of which only some members are wanted: an object gives
/// those members; any other value holds no member, so it gives `Null`
/// (skipping an array's items unread).
struct MembersOf<'w>(&'w BTreeMap<&'static str, Wanted>);

impl<'de> Visitor<'de> for MembersOf<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.0.get(key.as_ref()) {
                Some(wanted) => {
                    let value = map.next_value_seed(Pruned(wanted))?;
                    out.insert(key.into_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
        path.split('.').try_fold(root, |value, key| value.get(key))
    }

    #[test]
    fn prefixes_want_the_whole_value() {
        let tree = Wanted::of_paths(["a.b.c", "a.b", "x"]);
        let expected = Wanted::Members(BTreeMap::from([
            ("a", Wanted::Members(BTreeMap::from([("b", Wanted::Whole)]))),
            ("x", Wanted::Whole),
        ]));
        assert_eq!(tree, expected);
        assert_eq!(Wanted::of_paths(["a.b", "a.b.c"]), expected_ab());
        fn expected_ab() -> Wanted {
            Wanted::Members(BTreeMap::from([(
                "a",
                Wanted::Members(BTreeMap::from([("b", Wanted::Whole)])),
            )]))
        }
    }

    #[test]
    fn wanted_paths_read_as_in_the_full_value() {
        let text = br#"{"verb":"create","user":{"username":"u","groups":["g1","g2"],"extra":{"k":["v"]}},
            "requestObject":{"kind":"RoleBinding","roleRef":{"kind":"ClusterRole","name":"admin"},"subjects":[{"name":"x"}]},
            "responseObject":{"big":[1,2,3]},"annotations":{"a":"1"},"verb":"delete"}"#;
        let full: Value = serde_json::from_slice(text).unwrap();
        let pruned = read_wanted(text, &KUBE_WANTED).unwrap();
        for path in [
            "verb",
            "user.username",
            "user.groups",
            "requestObject.roleRef.name",
            "requestObject.roleRef.kind",
            "annotations",
        ] {
            assert_eq!(at(&pruned, path), at(&full, path), "{path}");
        }
        assert_eq!(at(&pruned, "responseObject"), None);
        assert_eq!(at(&pruned, "user.extra"), None);
        assert_eq!(at(&pruned, "requestObject.subjects"), None);
    }

    #[test]
    fn bodies_that_are_not_objects_hold_no_path() {
        let patch = br#"{"requestObject":[{"op":"add","path":"/roleRef"}],"verb":"patch"}"#;
        let pruned = read_wanted(patch, &KUBE_WANTED).unwrap();
        assert_eq!(at(&pruned, "requestObject"), Some(&Value::Null));
        assert_eq!(at(&pruned, "requestObject.roleRef"), None);
        assert_eq!(at(&pruned, "verb"), Some(&Value::from("patch")));
        assert!(read_wanted(br#"{"verb":"get""#, &KUBE_WANTED).is_err());
        assert!(read_wanted(br#"{"verb":"get"} x"#, &KUBE_WANTED).is_err());
        assert_eq!(read_wanted(b"[1]", &KUBE_WANTED).unwrap(), Value::Null);
    }
}
