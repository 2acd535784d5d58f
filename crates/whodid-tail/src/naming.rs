//! Which siblings of the active file are its rotated backups, and in which
//! order they were rotated: lumberjack's embedded UTC time, logrotate's
//! number (higher = older) or dateext date.

use std::cmp::Ordering;

use crate::spec::RotationNaming;

/// Where a backup stands in rotation order. Ordered oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OrderKey {
    /// logrotate dateext: the date text (fixed width digits sort as dates).
    Date(String),
    /// logrotate number: `auth.log.3` is older than `auth.log.1`.
    Number(u64),
    /// lumberjack: `2006-01-02T15-04-05.000`, sortable as text.
    Time(String),
}

impl OrderKey {
    fn rank(&self) -> u8 {
        match self {
            OrderKey::Date(_) => 0,
            OrderKey::Number(_) => 1,
            OrderKey::Time(_) => 2,
        }
    }
}

impl Ord for OrderKey {
    /// Oldest first; keys of different schemes (which should not be mixed in
    /// one directory) sort by scheme.
    fn cmp(&self, other: &OrderKey) -> Ordering {
        match (self, other) {
            (OrderKey::Date(a), OrderKey::Date(b)) | (OrderKey::Time(a), OrderKey::Time(b)) => {
                a.len().cmp(&b.len()).then_with(|| a.cmp(b))
            }
            (OrderKey::Number(a), OrderKey::Number(b)) => b.cmp(a),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &OrderKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A sibling recognised as a backup of the active file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Backup {
    pub(crate) key: OrderKey,
    pub(crate) compressed: bool,
}

/// Whether `name` (a file name in the active file's directory) is a backup
/// of `active` (the active file's name) under `naming`.
pub(crate) fn classify(active: &str, name: &str, naming: RotationNaming) -> Option<Backup> {
    if name == active {
        return None;
    }
    let (base, compressed) = match name.strip_suffix(".gz") {
        Some(base) => (base, true),
        None => (name, false),
    };
    let key = match naming {
        RotationNaming::Lumberjack => lumberjack(active, base),
        RotationNaming::Logrotate => logrotate(active, base),
        RotationNaming::Auto => lumberjack(active, base).or_else(|| logrotate(active, base)),
    }?;
    Some(Backup { key, compressed })
}

/// lumberjack's `backupName`: `<name without ext>-<2006-01-02T15-04-05.000><ext>`.
fn lumberjack(active: &str, base: &str) -> Option<OrderKey> {
    let (stem, ext) = match active.rfind('.') {
        Some(dot) if dot > 0 => active.split_at(dot),
        _ => (active, ""),
    };
    let time = base
        .strip_prefix(stem)?
        .strip_prefix('-')?
        .strip_suffix(ext)?;
    is_lumberjack_time(time).then(|| OrderKey::Time(time.to_owned()))
}

/// `2006-01-02T15-04-05.000`: digits where the layout has digits.
fn is_lumberjack_time(time: &str) -> bool {
    const LAYOUT: &[u8] = b"dddd-dd-ddTdd-dd-dd.ddd";
    time.len() == LAYOUT.len()
        && time.bytes().zip(LAYOUT).all(|(c, &l)| match l {
            b'd' => c.is_ascii_digit(),
            _ => c == l,
        })
}

/// logrotate: `<name>.<N>` or dateext `<name>-<date>` (digits, `-`, `_`).
fn logrotate(active: &str, base: &str) -> Option<OrderKey> {
    let rest = base.strip_prefix(active)?;
    if let Some(number) = rest.strip_prefix('.') {
        if !number.is_empty() && number.bytes().all(|c| c.is_ascii_digit()) {
            return number.parse().ok().map(OrderKey::Number);
        }
        return None;
    }
    let date = rest.strip_prefix('-')?;
    let dateish = date.len() >= 8
        && date.as_bytes()[0].is_ascii_digit()
        && date
            .bytes()
            .all(|c| c.is_ascii_digit() || c == b'-' || c == b'_');
    dateish.then(|| OrderKey::Date(date.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lumberjack_names() {
        let b = classify(
            "audit.log",
            "audit-2026-11-22T18-29-44.518.log.gz",
            RotationNaming::Auto,
        );
        assert_eq!(
            b,
            Some(Backup {
                key: OrderKey::Time("2026-11-22T18-29-44.518".into()),
                compressed: true
            })
        );
        assert_eq!(
            classify(
                "audit.log",
                "audit-2026-11-22T18-29-44.log",
                RotationNaming::Auto
            ),
            None
        );
        assert_eq!(
            classify("audit.log", "audit.log", RotationNaming::Auto),
            None
        );
        assert!(classify(
            "audit",
            "audit-2026-11-22T18-29-44.518",
            RotationNaming::Lumberjack
        )
        .is_some());
        assert_eq!(
            classify("audit.log", "audit.log.1", RotationNaming::Lumberjack),
            None
        );
    }

    #[test]
    fn logrotate_names_and_order() {
        let one = classify("auth.log", "auth.log.1", RotationNaming::Logrotate).map(|b| b.key);
        let two = classify("auth.log", "auth.log.2.gz", RotationNaming::Logrotate).map(|b| b.key);
        assert!(one.is_some() && two.is_some() && two < one);
        let d1 = classify("auth.log", "auth.log-20261121", RotationNaming::Auto).map(|b| b.key);
        let d2 = classify("auth.log", "auth.log-20261122.gz", RotationNaming::Auto).map(|b| b.key);
        assert!(d1.is_some() && d1 < d2);
        assert_eq!(
            classify("auth.log", "auth.log.1x", RotationNaming::Auto),
            None
        );
        assert_eq!(
            classify("auth.log", "auth.log.swp", RotationNaming::Auto),
            None
        );
        assert_eq!(
            classify("auth.log", "auth.log-old", RotationNaming::Auto),
            None
        );
    }
}
