//! `spec.tableSelector`: which tables of a region's listing a policy selects; and which tables of
//! a region no policy protects (the unprotected-tables metric).

use std::collections::{BTreeMap, HashMap};

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::{
    drill::is_drill_table,
    validate::{Invalid, invalid},
};
use crate::api::TableSelector;

/// At most this many tables per policy from a selector: each is a line of the policy's status,
/// which must stay well inside an object's size limit.
pub const MAX_SELECTED: usize = 500;

/// A selector, checked.
#[derive(Clone, Debug)]
pub struct Selector {
    /// None: every name.
    names: Option<GlobSet>,
    tags: BTreeMap<String, String>,
}

impl Selector {
    pub fn parse(spec: &TableSelector) -> Result<Self, Invalid> {
        if spec.names.is_empty() && spec.tags.is_empty() {
            return Err(invalid("spec.tableSelector needs names, tags or both"));
        }
        let names = if spec.names.is_empty() {
            None
        } else {
            let mut builder = GlobSetBuilder::new();
            for (i, glob) in spec.names.iter().enumerate() {
                let compiled =
                    Glob::new(glob).map_err(|e| invalid(format!("spec.tableSelector.names[{i}] {glob:?} is not a glob: {e}")))?;
                builder.add(compiled);
            }
            Some(builder.build().map_err(|e| invalid(format!("spec.tableSelector.names: {e}")))?)
        };
        Ok(Self { names, tags: spec.tags.clone() })
    }

    /// Whether matching needs the tables' tags (ListTagsOfResource per table).
    pub fn wants_tags(&self) -> bool {
        !self.tags.is_empty()
    }

    /// A drill's table never matches: drills are not the service's tables.
    pub fn matches(&self, name: &str, tags: &BTreeMap<String, String>) -> bool {
        !is_drill_table(name, tags)
            && self.names.as_ref().is_none_or(|n| n.is_match(name))
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

/// Why a table counts as unprotected.
pub const NO_POLICY: &str = "NoPolicy";
pub const PITR_OFF: &str = "PointInTimeRecoveryOff";

/// The tables of a region's listing that no policy follows, or whose PITR a policy read as off,
/// among those `counted` (the tenancy file's tables); drills' tables are passed over.
pub fn unprotected(
    listing: &BTreeMap<String, BTreeMap<String, String>>,
    followed: &HashMap<String, Option<bool>>,
    counted: impl Fn(&str) -> bool,
) -> Vec<(String, &'static str)> {
    listing
        .iter()
        .filter(|(name, tags)| !is_drill_table(name, tags) && counted(name))
        .filter_map(|(name, _)| match followed.get(name) {
            None => Some((name.clone(), NO_POLICY)),
            Some(Some(false)) => Some((name.clone(), PITR_OFF)),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn selector(names: &[&str], with: &[(&str, &str)]) -> Selector {
        Selector::parse(&TableSelector { names: names.iter().map(|n| (*n).to_owned()).collect(), tags: tags(with) }).expect("valid")
    }

    #[test]
    fn names_and_tags_must_both_match() {
        let s = selector(&["orders-*"], &[("backup", "daily")]);
        assert!(s.matches("orders-eu", &tags(&[("backup", "daily"), ("team", "shop")])));
        assert!(!s.matches("orders-eu", &tags(&[("backup", "weekly")])));
        assert!(!s.matches("payments", &tags(&[("backup", "daily")])));
        assert!(!s.matches("orders-drill-20261206-0400", &tags(&[("backup", "daily")])), "a drill's table");
        let by_tag = selector(&[], &[("backup", "daily")]);
        assert!(by_tag.wants_tags() && by_tag.matches("anything", &tags(&[("backup", "daily")])));
        assert!(!selector(&["*"], &[]).wants_tags());
    }

    #[test]
    fn an_empty_or_bad_selector_is_refused() {
        assert!(Selector::parse(&TableSelector::default()).is_err());
        let bad = TableSelector { names: vec!["orders-[".into()], tags: BTreeMap::new() };
        assert!(Selector::parse(&bad).is_err_and(|e| e.message.contains("names[0]")));
    }

    #[test]
    fn unprotected_are_the_unfollowed_and_those_with_pitr_off() {
        let listing: BTreeMap<String, BTreeMap<String, String>> =
            ["a", "b", "c", "d", "a-drill-20261206-0400", "other"].iter().map(|n| ((*n).to_owned(), BTreeMap::new())).collect();
        let followed = HashMap::from([("a".to_owned(), Some(true)), ("b".to_owned(), Some(false)), ("c".to_owned(), None)]);
        let found = unprotected(&listing, &followed, |n| n != "other");
        assert_eq!(found, vec![("b".to_owned(), PITR_OFF), ("d".to_owned(), NO_POLICY)]);
    }
}
