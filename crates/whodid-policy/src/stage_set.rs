//! A set of audit stages, as a bitset: the union of omitted stages is taken
//! on every decision, so it must cost nothing.

use std::fmt;

use whodid_model::k8s::Stage;

/// A set of [`Stage`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StageSet(u8);

impl StageSet {
    /// The empty set.
    pub const EMPTY: StageSet = StageSet(0);

    fn bit(stage: Stage) -> u8 {
        match stage {
            Stage::RequestReceived => 1,
            Stage::ResponseStarted => 2,
            Stage::ResponseComplete => 4,
            Stage::Panic => 8,
        }
    }

    /// Builds a set from stages.
    pub fn from_stages<'s>(stages: impl IntoIterator<Item = &'s Stage>) -> StageSet {
        let mut set = StageSet::EMPTY;
        for &stage in stages {
            set.insert(stage);
        }
        set
    }

    /// Adds a stage.
    pub fn insert(&mut self, stage: Stage) {
        self.0 |= Self::bit(stage);
    }

    /// Whether the set holds `stage`.
    pub fn contains(self, stage: Stage) -> bool {
        self.0 & Self::bit(stage) != 0
    }

    /// The union of two sets.
    pub fn union(self, other: StageSet) -> StageSet {
        StageSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The stages, in the order they happen.
    pub fn iter(self) -> impl Iterator<Item = Stage> {
        Stage::ALL
            .into_iter()
            .filter(move |&stage| self.contains(stage))
    }

    /// The stage names sorted alphabetically, as the apiserver's oracle prints them.
    pub fn sorted_names(self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.iter().map(Stage::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl fmt::Debug for StageSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_and_order() {
        let a = StageSet::from_stages(&[Stage::ResponseComplete]);
        let b = StageSet::from_stages(&[Stage::RequestReceived, Stage::Panic]);
        let u = a.union(b);
        assert!(u.contains(Stage::Panic) && u.contains(Stage::ResponseComplete));
        assert!(!u.contains(Stage::ResponseStarted));
        assert_eq!(
            u.sorted_names(),
            ["Panic", "RequestReceived", "ResponseComplete"]
        );
        assert_eq!(
            u.iter().collect::<Vec<_>>(),
            [
                Stage::RequestReceived,
                Stage::ResponseComplete,
                Stage::Panic
            ]
        );
    }
}
