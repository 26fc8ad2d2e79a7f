//! The AWS Backup side: the port the controllers call for recovery points (backup, copy and
//! restore jobs), and its AWS SDK adapter. Clients, pacing, the counted call and error classes
//! are the AWS seam's (`crate::aws`).

mod aws;
#[cfg(test)]
pub mod memory;
mod port;

pub use aws::AwsBackup;
pub use port::{AwsBackupPort, BackupJobRequest, CopyJobRequest, Job, JobState, Lifecycle, RestoreJobRequest};
