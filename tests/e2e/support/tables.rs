//! DynamoDB tables and Kubernetes objects, as the tests set them up and look at them.

use std::{collections::BTreeMap, fmt::Debug, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::process::eventually;

/// Creates `table` keyed on `orderId` with these items (orderId -> item).
pub async fn create_table(client: &Client, table: &str, items: &[(&str, &str)]) -> Result<(), String> {
    client
        .create_table()
        .table_name(table)
        .key_schema(KeySchemaElement::builder().attribute_name("orderId").key_type(KeyType::Hash).build().map_err(|e| e.to_string())?)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("orderId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| format!("CreateTable {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    for (id, item) in items {
        put(client, table, id, item).await?;
    }
    Ok(())
}

pub async fn put(client: &Client, table: &str, id: &str, item: &str) -> Result<(), String> {
    client
        .put_item()
        .table_name(table)
        .item("orderId", AttributeValue::S((*id).to_owned()))
        .item("item", AttributeValue::S((*item).to_owned()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("PutItem: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

pub async fn delete(client: &Client, table: &str, id: &str) -> Result<(), String> {
    client
        .delete_item()
        .table_name(table)
        .key("orderId", AttributeValue::S(id.to_owned()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("DeleteItem: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
}

/// The table's items as orderId -> item.
pub async fn items(client: &Client, table: &str) -> Result<BTreeMap<String, String>, String> {
    let out = client
        .scan()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("Scan {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    Ok(out.items().iter().filter_map(|i| Some((i.get("orderId")?.as_s().ok()?.clone(), i.get("item")?.as_s().ok()?.clone()))).collect())
}

pub async fn table_exists(client: &Client, table: &str) -> bool {
    client.describe_table().table_name(table).send().await.is_ok()
}

/// The user backups of `table` in moto, by name.
pub async fn backups_of(client: &Client, table: &str) -> Result<Vec<(String, String)>, String> {
    let out = client
        .list_backups()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("ListBackups: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
    Ok(out
        .backup_summaries()
        .iter()
        .filter(|s| s.table_name() == Some(table))
        .map(|s| (s.backup_name().unwrap_or_default().to_owned(), s.backup_arn().unwrap_or_default().to_owned()))
        .collect())
}

/// Every backup moto holds in the default region, as (table, backup name), every page.
pub async fn all_backups(client: &Client) -> Result<Vec<(String, String)>, String> {
    let mut all = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = client
            .list_backups()
            .set_exclusive_start_backup_arn(start.clone())
            .send()
            .await
            .map_err(|e| format!("ListBackups: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        all.extend(
            out.backup_summaries()
                .iter()
                .map(|s| (s.table_name().unwrap_or_default().to_owned(), s.backup_name().unwrap_or_default().to_owned())),
        );
        match out.last_evaluated_backup_arn() {
            Some(next) if Some(next) != start.as_deref() => start = Some(next.to_owned()),
            _ => return Ok(all),
        }
    }
}

pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Waits until `get_conditions` of the named object shows `type_=True`, and returns the object.
pub async fn wait_condition<K, F>(api: &Api<K>, name: &str, type_: &str, timeout: Duration, conditions: F) -> Result<K, String>
where
    K: Resource + Clone + DeserializeOwned + Debug,
    F: Fn(&K) -> Vec<Condition>,
{
    let result = eventually(&format!("{name} to be {type_}"), timeout, || {
        let api = api.clone();
        let conditions = &conditions;
        async move {
            let obj = api.get(name).await.ok()?;
            condition(&conditions(&obj), type_).filter(|c| c.status == "True").map(|_| obj)
        }
    })
    .await;
    match result {
        Ok(obj) => Ok(obj),
        Err(err) => {
            let last = api.get(name).await.map(|o| format!("{:?}", conditions(&o))).unwrap_or_default();
            Err(format!("{err}; last conditions: {last}"))
        }
    }
}
