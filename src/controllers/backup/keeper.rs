//! The seam between a DynamoBackup's lifecycle and where its snapshot lives: DynamoDB's own
//! backups or AWS Backup's recovery points. The method chooses the keeper once; nothing else in
//! the controller asks about it.

use async_trait::async_trait;
use kube::runtime::controller::Action;

use crate::{
    api::{DynamoBackup, facts::Scope},
    controllers::{common::StatusWriter, error::Error},
    plan::validate::BackupTarget,
};

pub type Writer<'a> = StatusWriter<'a, DynamoBackup>;

/// Where a snapshot lives.
#[async_trait]
pub trait Keeper: Sync {
    /// Starts the snapshot or follows it one step, and reports where it stands.
    async fn advance(&self, r: &mut Writer<'_>, scope: &Scope, target: &BackupTarget) -> Result<Action, Error>;

    /// Deletes the snapshot (`deletionPolicy: Delete`): None once it is gone, else when to look again.
    async fn delete(&self, r: &mut Writer<'_>, scope: &Scope, target: Option<&BackupTarget>) -> Result<Option<Action>, Error>;
}
