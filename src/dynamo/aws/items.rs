//! The data-plane calls of copy-back on the SDK: Scan pages of whole items, BatchGetItem, and
//! PutItem with or without the condition that its key is absent; each with the capacity
//! DynamoDB says it consumed.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::put_item::PutItemError,
    primitives::Blob,
    types::{self as t, AttributeValue as A},
};

use super::{AwsDynamo, from_attributes, to_attributes};
use crate::api::facts::{BatchRead, Item, ItemKey, ItemsPage, Put, Scope, Value};
use crate::aws::{AwsResult, Lane};

impl AwsDynamo {
    pub(super) async fn scan_page(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<ItemsPage> {
        let req = self
            .clients
            .for_scope(scope)
            .await
            .scan()
            .table_name(table)
            .limit(limit)
            .return_consumed_capacity(t::ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start.map(to_attributes))
            .send();
        let out = self.caller.call(scope, "Scan", Lane::Now, req).await?;
        Ok(ItemsPage {
            items: out.items().iter().map(item_from).collect(),
            consumed: out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0),
            next: out.last_evaluated_key().map(from_attributes).filter(|k| !k.is_empty()),
        })
    }

    pub(super) async fn batch_read(&self, scope: &Scope, table: &str, keys: &[ItemKey]) -> AwsResult<BatchRead> {
        if keys.is_empty() {
            return Ok(BatchRead::default());
        }
        let wanted = t::KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(to_attributes).collect()))
            .build()
            .map_err(|e| self.caller.invalid("BatchGetItem", "ValidationException", e.to_string()))?;
        let req = self
            .clients
            .for_scope(scope)
            .await
            .batch_get_item()
            .request_items(table, wanted)
            .return_consumed_capacity(t::ReturnConsumedCapacity::Total)
            .send();
        let out = self.caller.call(scope, "BatchGetItem", Lane::Now, req).await?;
        let items = out.responses().and_then(|r| r.get(table)).map(|items| items.iter().map(item_from).collect()).unwrap_or_default();
        let unprocessed =
            out.unprocessed_keys().and_then(|u| u.get(table)).map(|k| k.keys().iter().map(from_attributes).collect()).unwrap_or_default();
        let consumed = out.consumed_capacity().iter().filter_map(|c| c.capacity_units()).sum();
        Ok(BatchRead { items, consumed, unprocessed })
    }

    pub(super) async fn put(&self, scope: &Scope, table: &str, item: &Item, absent_key: Option<&[String]>) -> AwsResult<Put> {
        let mut req = self
            .clients
            .for_scope(scope)
            .await
            .put_item()
            .table_name(table)
            .set_item(Some(item.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()))
            .return_consumed_capacity(t::ReturnConsumedCapacity::Total);
        if let Some(names) = absent_key {
            let condition = (0..names.len()).map(|i| format!("attribute_not_exists(#k{i})")).collect::<Vec<_>>().join(" AND ");
            let placeholders: HashMap<String, String> = names.iter().enumerate().map(|(i, n)| (format!("#k{i}"), n.clone())).collect();
            req = req.condition_expression(condition).set_expression_attribute_names(Some(placeholders));
        }
        match self.caller.call(scope, "PutItem", Lane::Now, req.send()).await {
            Ok(out) => Ok(Put::Written { consumed: out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0) }),
            Err(err) if err.code.as_deref() == Some(CONDITION_FAILED) => Ok(Put::Present),
            Err(err) => Err(err),
        }
    }
}

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

// The error type is named so a change of the SDK's code for a failed condition shows here.
const _: fn(&PutItemError) -> bool = PutItemError::is_conditional_check_failed_exception;

fn item_from(attributes: &HashMap<String, A>) -> Item {
    attributes.iter().map(|(name, value)| (name.clone(), value_from(value))).collect()
}

fn value_from(value: &A) -> Value {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    match value {
        A::S(s) => Value::S(s.clone()),
        A::N(n) => Value::N(n.clone()),
        A::B(b) => Value::B(b.as_ref().to_vec()),
        A::Bool(b) => Value::Bool(*b),
        A::M(m) => Value::M(item_from(m)),
        A::L(l) => Value::L(l.iter().map(value_from).collect()),
        A::Ss(s) => Value::Ss(sorted(s.clone())),
        A::Ns(n) => Value::Ns(sorted(n.clone())),
        A::Bs(b) => {
            let mut bytes: Vec<Vec<u8>> = b.iter().map(|b| b.as_ref().to_vec()).collect();
            bytes.sort();
            Value::Bs(bytes)
        }
        // Null, and any type a later SDK adds: kept as a null rather than dropped.
        _ => Value::Null,
    }
}

fn attribute(value: &Value) -> A {
    match value {
        Value::S(s) => A::S(s.clone()),
        Value::N(n) => A::N(n.clone()),
        Value::B(b) => A::B(Blob::new(b.clone())),
        Value::Bool(b) => A::Bool(*b),
        Value::Null => A::Null(true),
        Value::M(m) => A::M(m.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()),
        Value::L(l) => A::L(l.iter().map(attribute).collect()),
        Value::Ss(s) => A::Ss(s.clone()),
        Value::Ns(n) => A::Ns(n.clone()),
        Value::Bs(b) => A::Bs(b.iter().map(|b| Blob::new(b.clone())).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_goes_to_the_sdk_and_back_with_sets_sorted() {
        let item = Item::from([
            ("id".to_owned(), Value::S("user-7".into())),
            ("age".to_owned(), Value::N("42".into())),
            ("raw".to_owned(), Value::B(vec![1, 2])),
            ("ok".to_owned(), Value::Bool(true)),
            ("gone".to_owned(), Value::Null),
            ("tags".to_owned(), Value::Ss(vec!["a".into(), "b".into()])),
            ("scores".to_owned(), Value::Ns(vec!["1".into(), "2".into()])),
            ("blobs".to_owned(), Value::Bs(vec![vec![0], vec![9]])),
            ("list".to_owned(), Value::L(vec![Value::S("x".into()), Value::N("1".into())])),
            ("map".to_owned(), Value::M(Item::from([("k".to_owned(), Value::S("v".into()))]))),
        ]);
        let sdk: HashMap<String, A> = item.iter().map(|(k, v)| (k.clone(), attribute(v))).collect();
        assert_eq!(item_from(&sdk), item);
        let unsorted = A::Ss(vec!["b".into(), "a".into()]);
        assert_eq!(value_from(&unsorted), Value::Ss(vec!["a".into(), "b".into()]));
    }
}
