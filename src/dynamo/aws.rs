//! The DynamoDB port on the AWS SDK: requests built from the port's plain data, answers read
//! back into it; every call goes through the seam's paced, counted `Caller`.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    self as t, BackupTypeFilter, BillingMode, PointInTimeRecoverySpecification, ProvisionedThroughput, SseSpecification, SseType, Tag,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use jiff::Timestamp;

mod convert;
mod items;

use convert::*;

use super::port::DynamoPort;
use crate::api::facts::*;
use crate::aws::{AwsError, AwsResult, CallObserver, Caller, ErrorClass, Lane, Pacer, RegionalClients, Service};

pub struct AwsDynamo {
    clients: RegionalClients,
    caller: Caller,
}

impl AwsDynamo {
    pub fn new(clients: RegionalClients, pacer: Pacer, observer: Arc<dyn CallObserver>) -> Self {
        let caller = Caller::new(Service::DynamoDB, pacer, observer, clients.default_region());
        Self { clients, caller }
    }
}

impl AwsDynamo {
    /// User backups of `table` (None: of every table in the region) made at or after `since`,
    /// every page. The time bound keeps a lookup to one page even for a table with thousands of
    /// backups.
    async fn list(&self, scope: &Scope, table: Option<&str>, since: Option<Timestamp>, lane: Lane) -> AwsResult<Vec<Backup>> {
        let client = self.clients.for_scope(scope).await;
        let mut start: Option<String> = None;
        let mut backups = Vec::new();
        loop {
            let req = client
                .list_backups()
                .set_table_name(table.map(str::to_owned))
                .backup_type(BackupTypeFilter::User)
                .set_time_range_lower_bound(since.map(to_datetime))
                .set_exclusive_start_backup_arn(start.clone())
                .send();
            let out = self.caller.call(scope, "ListBackups", lane, req).await?;
            backups.extend(out.backup_summaries().iter().map(backup_from_summary));
            match out.last_evaluated_backup_arn() {
                Some(next) if Some(next) != start.as_deref() => start = Some(next.to_owned()),
                _ => return Ok(backups),
            }
        }
    }
}

/// Both restore requests take the same overrides; this sets them on either builder.
macro_rules! with_overrides {
    ($builder:expr, $o:expr, $op:expr) => {{
        let mut b = $builder;
        if let Some(mode) = &$o.billing_mode {
            b = b.billing_mode_override(BillingMode::from(mode.as_str()));
        }
        if let Some((r, w)) = $o.throughput {
            let tp = ProvisionedThroughput::builder().read_capacity_units(r).write_capacity_units(w).build();
            b = b.provisioned_throughput_override(tp.map_err(|e| build_error($op, e))?);
        }
        if let Some(gsis) = &$o.global_indexes {
            b = b.set_global_secondary_index_override(Some(gsi_override(gsis).map_err(|e| build_error($op, e))?));
        }
        if let Some(lsis) = &$o.local_indexes {
            b = b.set_local_secondary_index_override(Some(lsi_override(lsis).map_err(|e| build_error($op, e))?));
        }
        if let Some((enabled, key)) = &$o.sse {
            let mut sse = SseSpecification::builder().enabled(*enabled);
            if *enabled {
                sse = sse.sse_type(SseType::Kms).set_kms_master_key_id(key.clone());
            }
            b = b.sse_specification_override(sse.build());
        }
        b
    }};
}

#[async_trait]
impl DynamoPort for AwsDynamo {
    async fn describe_table(&self, scope: &Scope, table: &str) -> AwsResult<Option<Table>> {
        let req = self.clients.for_scope(scope).await.describe_table().table_name(table).send();
        let out = absent_as_none(self.caller.call(scope, "DescribeTable", Lane::Now, req).await, "ResourceNotFoundException")?;
        Ok(out.and_then(|out| out.table().map(table_from)))
    }

    async fn create_backup(&self, scope: &Scope, table: &str, backup_name: &str) -> AwsResult<Backup> {
        let req = self.clients.for_scope(scope).await.create_backup().table_name(table).backup_name(backup_name).send();
        let out = self.caller.call(scope, "CreateBackup", Lane::Now, req).await?;
        out.backup_details().map(backup_from_details).ok_or_else(|| AwsError {
            service: Service::DynamoDB,
            operation: "CreateBackup",
            code: None,
            message: "the answer had no backup details".into(),
            class: ErrorClass::Transient,
        })
    }

    async fn find_backup(&self, scope: &Scope, table: &str, backup_name: &str, since: Timestamp) -> AwsResult<Option<Backup>> {
        let found = self.list(scope, Some(table), Some(since), Lane::Now).await?;
        // Filter here too: not every implementation honours the request's filters.
        Ok(found
            .into_iter()
            .filter(|b| b.name == backup_name && b.source.as_ref().is_none_or(|s| s.table_name == table))
            .filter(|b| b.state != BackupState::Deleted)
            .max_by_key(|b| b.created_at))
    }

    async fn list_backups(&self, scope: &Scope, since: Option<Timestamp>, lane: Lane) -> AwsResult<Vec<Backup>> {
        let mut backups = self.list(scope, None, since, lane).await?;
        if let Some(since) = since {
            backups.retain(|b| b.created_at.is_none_or(|at| at >= since));
        }
        Ok(backups)
    }

    async fn describe_backup(&self, scope: &Scope, backup_arn: &str) -> AwsResult<Option<Backup>> {
        let req = self.clients.for_scope(scope).await.describe_backup().backup_arn(backup_arn).send();
        let Some(out) = absent_as_none(self.caller.call(scope, "DescribeBackup", Lane::Now, req).await, "BackupNotFoundException")? else {
            return Ok(None);
        };
        let Some(desc) = out.backup_description() else { return Ok(None) };
        let Some(details) = desc.backup_details() else { return Ok(None) };
        let mut backup = backup_from_details(details);
        let features = desc.source_table_feature_details();
        backup.source = desc.source_table_details().map(|s| BackupSource {
            table_name: s.table_name().to_owned(),
            table_arn: s.table_arn().map(str::to_owned),
            table_id: Some(s.table_id().to_owned()),
            item_count: s.item_count(),
            indexes: features.map(|f| {
                let global = f
                    .global_secondary_indexes()
                    .iter()
                    .map(|g| {
                        let tp = g.provisioned_throughput().map(|p| (p.read_capacity_units(), p.write_capacity_units()));
                        index(g.index_name(), g.key_schema(), g.projection(), tp.filter(|(r, w)| *r > 0 && *w > 0))
                    })
                    .collect();
                let local =
                    f.local_secondary_indexes().iter().map(|l| index(l.index_name(), l.key_schema(), l.projection(), None)).collect();
                (global, local)
            }),
        });
        Ok(Some(backup))
    }

    async fn delete_backup(&self, scope: &Scope, backup_arn: &str) -> AwsResult<()> {
        let req = self.clients.for_scope(scope).await.delete_backup().backup_arn(backup_arn).send();
        absent_as_none(self.caller.call(scope, "DeleteBackup", Lane::Now, req).await, "BackupNotFoundException").map(|_| ())
    }

    async fn restore(&self, scope: &Scope, from: &RestoreFrom, target: &str, overrides: &TableOverrides) -> AwsResult<Table> {
        let client = self.clients.for_scope(scope).await;
        let description = match from {
            RestoreFrom::Backup { arn } => {
                const OP: &str = "RestoreTableFromBackup";
                let req = with_overrides!(client.restore_table_from_backup().target_table_name(target).backup_arn(arn), overrides, OP);
                self.caller.call(scope, OP, Lane::Now, req.send()).await?.table_description().map(table_from)
            }
            RestoreFrom::PointInTime { source_table, at } => {
                const OP: &str = "RestoreTableToPointInTime";
                let mut req = client.restore_table_to_point_in_time().target_table_name(target);
                req =
                    if source_table.starts_with("arn:") { req.source_table_arn(source_table) } else { req.source_table_name(source_table) };
                req = match at {
                    Some(at) => req.restore_date_time(to_datetime(*at)),
                    None => req.use_latest_restorable_time(true),
                };
                let req = with_overrides!(req, overrides, OP);
                self.caller.call(scope, OP, Lane::Now, req.send()).await?.table_description().map(table_from)
            }
        };
        description.ok_or_else(|| AwsError {
            service: Service::DynamoDB,
            operation: "Restore",
            code: None,
            message: "the answer had no table description".into(),
            class: ErrorClass::Transient,
        })
    }

    async fn describe_pitr(&self, scope: &Scope, table: &str, lane: Lane) -> AwsResult<Pitr> {
        let req = self.clients.for_scope(scope).await.describe_continuous_backups().table_name(table).send();
        let out = self.caller.call(scope, "DescribeContinuousBackups", lane, req).await?;
        Ok(pitr_from(out.continuous_backups_description()))
    }

    async fn enable_pitr(&self, scope: &Scope, table: &str, recovery_period_in_days: i32) -> AwsResult<Pitr> {
        const OP: &str = "UpdateContinuousBackups";
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .recovery_period_in_days(recovery_period_in_days)
            .build()
            .map_err(|e| build_error(OP, e))?;
        let req = self
            .clients
            .for_scope(scope)
            .await
            .update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(spec)
            .send();
        let out = self.caller.call(scope, OP, Lane::Now, req).await?;
        Ok(pitr_from(out.continuous_backups_description()))
    }

    async fn scan_items(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<ItemsPage> {
        self.scan_page(scope, table, start, limit).await
    }

    async fn batch_get(&self, scope: &Scope, table: &str, keys: &[ItemKey]) -> AwsResult<BatchRead> {
        self.batch_read(scope, table, keys).await
    }

    async fn put_item(&self, scope: &Scope, table: &str, item: &Item, absent_key: Option<&[String]>) -> AwsResult<Put> {
        self.put(scope, table, item, absent_key).await
    }

    async fn list_tables(&self, scope: &Scope, lane: Lane) -> AwsResult<Vec<String>> {
        let client = self.clients.for_scope(scope).await;
        let mut names = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let req = client.list_tables().set_exclusive_start_table_name(start.clone()).send();
            let out = self.caller.call(scope, "ListTables", lane, req).await?;
            names.extend(out.table_names().iter().cloned());
            match out.last_evaluated_table_name() {
                Some(next) if Some(next) != start.as_deref() => start = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    async fn list_tags(&self, scope: &Scope, resource_arn: &str, lane: Lane) -> AwsResult<Tags> {
        let client = self.clients.for_scope(scope).await;
        let mut tags = Tags::new();
        let mut token: Option<String> = None;
        loop {
            let req = client.list_tags_of_resource().resource_arn(resource_arn).set_next_token(token.clone()).send();
            let out = self.caller.call(scope, "ListTagsOfResource", lane, req).await?;
            tags.extend(out.tags().iter().map(|t| (t.key().to_owned(), t.value().to_owned())));
            match out.next_token() {
                Some(next) if Some(next) != token.as_deref() => token = Some(next.to_owned()),
                _ => return Ok(tags),
            }
        }
    }

    async fn tag(&self, scope: &Scope, resource_arn: &str, tags: &Tags) -> AwsResult<()> {
        const OP: &str = "TagResource";
        if tags.is_empty() {
            return Ok(());
        }
        let tags: Vec<Tag> =
            tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect::<Result<_, _>>().map_err(|e| build_error(OP, e))?;
        let req = self.clients.for_scope(scope).await.tag_resource().resource_arn(resource_arn).set_tags(Some(tags)).send();
        self.caller.call(scope, OP, Lane::Now, req).await.map(|_| ())
    }

    async fn set_deletion_protection(&self, scope: &Scope, table: &str, enabled: bool) -> AwsResult<()> {
        let req = self.clients.for_scope(scope).await.update_table().table_name(table).deletion_protection_enabled(enabled).send();
        self.caller.call(scope, "UpdateTable", Lane::Now, req).await.map(|_| ())
    }

    async fn time_to_live(&self, scope: &Scope, table: &str) -> AwsResult<Option<String>> {
        let req = self.clients.for_scope(scope).await.describe_time_to_live().table_name(table).send();
        let out = self.caller.call(scope, "DescribeTimeToLive", Lane::Now, req).await?;
        Ok(out
            .time_to_live_description()
            .filter(|d| matches!(d.time_to_live_status(), Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)))
            .and_then(|d| d.attribute_name().map(str::to_owned)))
    }

    async fn enable_time_to_live(&self, scope: &Scope, table: &str, attribute: &str) -> AwsResult<()> {
        const OP: &str = "UpdateTimeToLive";
        let spec = TimeToLiveSpecification::builder().enabled(true).attribute_name(attribute).build().map_err(|e| build_error(OP, e))?;
        let req = self.clients.for_scope(scope).await.update_time_to_live().table_name(table).time_to_live_specification(spec).send();
        self.caller.call(scope, OP, Lane::Now, req).await.map(|_| ())
    }

    async fn delete_table(&self, scope: &Scope, table: &str) -> AwsResult<()> {
        let req = self.clients.for_scope(scope).await.delete_table().table_name(table).send();
        absent_as_none(self.caller.call(scope, "DeleteTable", Lane::Now, req).await, "ResourceNotFoundException").map(|_| ())
    }

    async fn count_page(&self, scope: &Scope, table: &str, start: Option<&ItemKey>, limit: i32) -> AwsResult<CountPage> {
        let req = self
            .clients
            .for_scope(scope)
            .await
            .scan()
            .table_name(table)
            .select(t::Select::Count)
            .limit(limit)
            .return_consumed_capacity(t::ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start.map(to_attributes))
            .send();
        let out = self.caller.call(scope, "Scan", Lane::Now, req).await?;
        Ok(CountPage {
            count: i64::from(out.count()),
            consumed: out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0),
            next: out.last_evaluated_key().map(from_attributes).filter(|k| !k.is_empty()),
        })
    }

    async fn item_exists(&self, scope: &Scope, table: &str, key: &ItemKey) -> AwsResult<bool> {
        let req = self.clients.for_scope(scope).await.get_item().table_name(table).set_key(Some(to_attributes(key))).send();
        Ok(self.caller.call(scope, "GetItem", Lane::Now, req).await?.item().is_some())
    }

    async fn enable_stream(&self, scope: &Scope, table: &str, view_type: &str) -> AwsResult<()> {
        const OP: &str = "UpdateTable";
        let spec = t::StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(t::StreamViewType::from(view_type))
            .build()
            .map_err(|e| build_error(OP, e))?;
        let req = self.clients.for_scope(scope).await.update_table().table_name(table).stream_specification(spec).send();
        self.caller.call(scope, OP, Lane::Now, req).await.map(|_| ())
    }

    async fn resource_policy(&self, scope: &Scope, resource_arn: &str) -> AwsResult<Option<String>> {
        let req = self.clients.for_scope(scope).await.get_resource_policy().resource_arn(resource_arn).send();
        let out = absent_as_none(self.caller.call(scope, "GetResourcePolicy", Lane::Now, req).await, "PolicyNotFoundException")?;
        Ok(out.and_then(|out| out.policy().map(str::to_owned)).filter(|p| !p.is_empty()))
    }

    async fn put_resource_policy(&self, scope: &Scope, resource_arn: &str, policy: &str) -> AwsResult<()> {
        let req = self.clients.for_scope(scope).await.put_resource_policy().resource_arn(resource_arn).policy(policy).send();
        self.caller.call(scope, "PutResourcePolicy", Lane::Now, req).await.map(|_| ())
    }
}
