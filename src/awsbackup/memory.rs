//! An in-memory AWS Backup for the state-machine tests, beside the in-memory DynamoDB: backup,
//! copy and restore jobs that run for as many reads as a test asks, then complete; idempotency
//! tokens that give back the job they started; vaults that may be locked; a restore job that
//! makes its table in the in-memory DynamoDB. Faults come on demand per operation, as there.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use jiff::Timestamp;

use super::port::{AwsBackupPort, BackupJobRequest, CopyJobRequest, Job, JobState, RestoreJobRequest};
use crate::{
    api::facts::Scope,
    aws::{AwsError, AwsResult, Service},
    dynamo::memory::{ACCOUNT, DEFAULT_REGION, Fault, MemoryDynamo},
    faults::{Tripwire, hang_if},
};

#[derive(Clone, Debug)]
struct JobEntry {
    job: Job,
    /// Reads left before the job completes.
    reads_left: u32,
    /// Fails instead of completing, with this message.
    fails: Option<String>,
    /// A restore job's table, made when it completes: (region, name, source table).
    restores: Option<(String, String, String)>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<String, JobEntry>,
    tokens: BTreeMap<String, String>,
    /// Recovery point ARN -> (vault, source table name).
    recovery_points: BTreeMap<String, (String, String)>,
    locked_vaults: BTreeSet<String>,
    faults: BTreeMap<&'static str, VecDeque<Fault>>,
    calls: Vec<&'static str>,
    job_reads: u32,
    failing_jobs: Option<String>,
    serial: u64,
}

pub struct MemoryAwsBackup {
    dynamo: Arc<MemoryDynamo>,
    state: Mutex<State>,
    tripwire: Tripwire,
}

fn error(operation: &'static str, code: &str, message: String) -> AwsError {
    AwsError::new(Service::AwsBackup, operation, Some(code.to_owned()), message, Some(400))
}

fn region_of(scope: &Scope) -> String {
    scope.region.clone().unwrap_or_else(|| DEFAULT_REGION.to_owned())
}

impl MemoryAwsBackup {
    /// Beside `dynamo`, its calls counting towards `tripwire`'s crash.
    pub fn new(dynamo: Arc<MemoryDynamo>, tripwire: Tripwire) -> Arc<Self> {
        Arc::new(Self { dynamo, state: Mutex::default(), tripwire })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Jobs started from now on run for `reads` Describe calls before they complete.
    pub fn jobs_take(&self, reads: u32) {
        self.lock().job_reads = reads;
    }

    /// Jobs started from now on fail with `message` when they end.
    pub fn jobs_fail(&self, message: &str) {
        self.lock().failing_jobs = Some(message.to_owned());
    }

    /// The vault refuses every deletion of its recovery points, as a vault lock does.
    pub fn lock_vault(&self, vault: &str) {
        self.lock().locked_vaults.insert(vault.to_owned());
    }

    pub fn inject(&self, operation: &'static str, fault: Fault) {
        self.lock().faults.entry(operation).or_default().push_back(fault);
    }

    pub fn count(&self, operation: &str) -> usize {
        self.lock().calls.iter().filter(|op| **op == operation).count()
    }

    /// The recovery points kept now: ARN -> vault.
    pub fn recovery_points(&self) -> BTreeMap<String, String> {
        self.lock().recovery_points.iter().map(|(arn, (vault, _))| (arn.clone(), vault.clone())).collect()
    }

    /// Jobs started, of every kind.
    pub fn job_count(&self) -> usize {
        self.lock().jobs.len()
    }

    async fn call<T>(&self, operation: &'static str, effect: impl FnOnce(&mut State) -> AwsResult<T>) -> AwsResult<T> {
        let lost = {
            let mut state = self.lock();
            state.calls.push(operation);
            match state.faults.get_mut(operation).and_then(VecDeque::pop_front) {
                None => false,
                Some(Fault::Throttle) => return Err(error(operation, "ThrottlingException", "Rate exceeded".into())),
                Some(Fault::Refuse(code)) => return Err(error(operation, code, format!("{operation} refused ({code})"))),
                Some(Fault::Lost) => true,
            }
        };
        let result = effect(&mut self.lock());
        let tripped = self.tripwire.count();
        hang_if(lost || tripped).await;
        result
    }

    /// One read of a job: a running one comes a read closer to its end. A completed restore job's
    /// table appears in the in-memory DynamoDB.
    fn read_job(&self, operation: &'static str, job_id: &str) -> impl FnOnce(&mut State) -> AwsResult<Job> + use<'_> {
        let job_id = job_id.to_owned();
        move |s| {
            let entry = s.jobs.get_mut(&job_id).ok_or_else(|| error(operation, "ResourceNotFoundException", format!("job {job_id}")))?;
            if entry.job.state == JobState::Running {
                if entry.reads_left > 0 {
                    entry.reads_left -= 1;
                } else if let Some(message) = entry.fails.clone() {
                    entry.job.state = JobState::Failed;
                    entry.job.state_name = "FAILED".into();
                    entry.job.message = Some(message);
                } else {
                    entry.job.state = JobState::Completed;
                    entry.job.state_name = "COMPLETED".into();
                    entry.job.completed_at = Some(Timestamp::now());
                    if let Some((region, name, source)) = entry.restores.take() {
                        self.dynamo.add_copy(&region, &name, &source);
                    }
                }
            }
            Ok(entry.job.clone())
        }
    }
}

impl State {
    /// A new job (or, for a token seen before, that job's id).
    fn start(&mut self, token: &str, made_arn: Option<String>, restores: Option<(String, String, String)>) -> String {
        if let Some(id) = self.tokens.get(token) {
            return id.clone();
        }
        self.serial += 1;
        let id = format!("job-{:06}", self.serial);
        let job = Job {
            id: id.clone(),
            state: JobState::Running,
            state_name: "RUNNING".into(),
            made_arn,
            message: None,
            size_bytes: Some(1024),
            created_at: Some(Timestamp::now()),
            completed_at: None,
        };
        let entry = JobEntry { job, reads_left: self.job_reads, fails: self.failing_jobs.clone(), restores };
        self.jobs.insert(id.clone(), entry);
        self.tokens.insert(token.to_owned(), id.clone());
        id
    }

    fn recovery_point_arn(&mut self, region: &str) -> String {
        self.serial += 1;
        format!("arn:aws:backup:{region}:{ACCOUNT}:recovery-point:rp-{:06}", self.serial)
    }
}

#[async_trait]
impl AwsBackupPort for MemoryAwsBackup {
    async fn start_backup_job(&self, scope: &Scope, request: &BackupJobRequest) -> AwsResult<(String, Option<String>)> {
        let region = region_of(scope);
        let table = request.resource_arn.rsplit_once(":table/").map(|(_, name)| name.to_owned()).unwrap_or_default();
        let exists = self.dynamo.table(&region, &table).is_some();
        self.call("StartBackupJob", |s| {
            if !exists {
                return Err(error("StartBackupJob", "InvalidParameterValueException", format!("{table} not found")));
            }
            if let Some(id) = s.tokens.get(&request.idempotency_token).cloned() {
                let made = s.jobs.get(&id).and_then(|j| j.job.made_arn.clone());
                return Ok((id, made));
            }
            let arn = s.recovery_point_arn(&region);
            s.recovery_points.insert(arn.clone(), (request.vault.clone(), table));
            Ok((s.start(&request.idempotency_token, Some(arn.clone()), None), Some(arn)))
        })
        .await
    }

    async fn describe_backup_job(&self, _scope: &Scope, job_id: &str) -> AwsResult<Job> {
        self.call("DescribeBackupJob", self.read_job("DescribeBackupJob", job_id)).await
    }

    async fn start_copy_job(&self, _scope: &Scope, request: &CopyJobRequest) -> AwsResult<String> {
        self.call("StartCopyJob", |s| {
            let Some((_, table)) = s.recovery_points.get(&request.recovery_point_arn).cloned() else {
                return Err(error("StartCopyJob", "ResourceNotFoundException", format!("{} not found", request.recovery_point_arn)));
            };
            if let Some(id) = s.tokens.get(&request.idempotency_token) {
                return Ok(id.clone());
            }
            let region = request.destination_vault_arn.split(':').nth(3).unwrap_or(DEFAULT_REGION).to_owned();
            let vault = request.destination_vault_arn.rsplit(':').next().unwrap_or_default().to_owned();
            let arn = s.recovery_point_arn(&region);
            s.recovery_points.insert(arn.clone(), (vault, table));
            Ok(s.start(&request.idempotency_token, Some(arn), None))
        })
        .await
    }

    async fn describe_copy_job(&self, _scope: &Scope, job_id: &str) -> AwsResult<Job> {
        self.call("DescribeCopyJob", self.read_job("DescribeCopyJob", job_id)).await
    }

    async fn delete_recovery_point(&self, _scope: &Scope, vault: &str, recovery_point_arn: &str) -> AwsResult<()> {
        self.call("DeleteRecoveryPoint", |s| {
            if s.locked_vaults.contains(vault) {
                return Err(error(
                    "DeleteRecoveryPoint",
                    "InvalidRequestException",
                    format!("recovery point {recovery_point_arn} is protected by the vault lock of {vault}"),
                ));
            }
            s.recovery_points.remove(recovery_point_arn);
            Ok(())
        })
        .await
    }

    async fn start_restore_job(&self, scope: &Scope, request: &RestoreJobRequest) -> AwsResult<String> {
        let region = region_of(scope);
        self.call("StartRestoreJob", |s| {
            let Some((_, source)) = s.recovery_points.get(&request.recovery_point_arn).cloned() else {
                return Err(error("StartRestoreJob", "ResourceNotFoundException", format!("{} not found", request.recovery_point_arn)));
            };
            let made = format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{}", request.target_table);
            let restores = Some((region.clone(), request.target_table.clone(), source));
            Ok(s.start(&request.idempotency_token, Some(made), restores))
        })
        .await
    }

    async fn describe_restore_job(&self, _scope: &Scope, job_id: &str) -> AwsResult<Job> {
        self.call("DescribeRestoreJob", self.read_job("DescribeRestoreJob", job_id)).await
    }
}
