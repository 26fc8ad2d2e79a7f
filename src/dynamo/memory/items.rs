//! The items of an in-memory table, in the order they were first written (the order its Scan
//! returns them), with the capacity each read and write would consume in DynamoDB.

use crate::api::facts::{Item, ItemKey, KeyAttr, Value, item_size};

#[derive(Clone, Debug, Default)]
pub(super) struct Items {
    /// The key's attribute names.
    key: Vec<String>,
    rows: Vec<Item>,
}

impl Items {
    /// `count` items keyed by `id` (a number 0..count), each with a `v` attribute.
    pub(super) fn numbered(count: usize) -> Self {
        let rows = (0..count)
            .map(|i| Item::from([("id".to_owned(), Value::N(i.to_string())), ("v".to_owned(), Value::S(format!("item {i}")))]))
            .collect();
        Self { key: vec!["id".to_owned()], rows }
    }

    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(super) fn all(&self) -> &[Item] {
        &self.rows
    }

    pub(super) fn key_of(&self, item: &Item) -> Option<ItemKey> {
        self.key.iter().map(|name| Some((name.clone(), item.get(name)?.as_key()?))).collect()
    }

    fn position(&self, key: &ItemKey) -> Option<usize> {
        self.rows.iter().position(|row| self.key_of(row).as_ref() == Some(key))
    }

    pub(super) fn get(&self, key: &ItemKey) -> Option<&Item> {
        self.position(key).map(|i| &self.rows[i])
    }

    /// Writes `item` in place of the one with its key, or after every other.
    pub(super) fn put(&mut self, item: Item) {
        match self.key_of(&item).and_then(|key| self.position(&key)) {
            Some(i) => self.rows[i] = item,
            None => self.rows.push(item),
        }
    }

    pub(super) fn delete(&mut self, key: &ItemKey) {
        if let Some(i) = self.position(key) {
            self.rows.remove(i);
        }
    }

    /// At most `limit` items after `start`, and where the next page starts.
    pub(super) fn page(&self, start: Option<&ItemKey>, limit: i32) -> (Vec<Item>, Option<ItemKey>) {
        let from = start.and_then(|k| self.position(k)).map_or(0, |i| i + 1);
        let to = (from + usize::try_from(limit.max(1)).unwrap_or(1)).min(self.rows.len());
        let next = (to < self.rows.len() && to > from).then(|| self.key_of(&self.rows[to - 1])).flatten();
        (self.rows[from..to].to_vec(), next)
    }
}

/// Read capacity of an eventually consistent read of these bytes: half a unit per 4 KB.
pub(super) fn read_units(bytes: usize) -> f64 {
    0.5 * bytes.div_ceil(4096).max(1) as f64
}

/// Write capacity of writing an item: one unit per KB.
pub(super) fn write_units(item: &Item) -> f64 {
    item_size(item).div_ceil(1024).max(1) as f64
}

pub(super) fn numbered_key(i: usize) -> ItemKey {
    ItemKey::from([("id".to_owned(), KeyAttr::N(i.to_string()))])
}
