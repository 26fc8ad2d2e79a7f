//! moto's server: the real DynamoDB wire protocol on a loopback port, with AWS Backup's jobs and
//! recovery points added by the emulator it runs in (tests/emulators/aws_backup.py).

use std::{path::Path, process::Command, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
};

use super::process::{Process, eventually, free_port};

pub const REGION: &str = "us-east-1";
/// The account of the operator's credentials (moto's default).
pub const OWN_ACCOUNT: &str = "123456789012";
/// A second account of the emulator's organization.
pub const DR_ACCOUNT: &str = "222222222222";

pub struct Moto {
    pub process: Process,
    pub url: String,
}

impl Moto {
    pub async fn start(moto_python: &Path, dir: &Path) -> Result<Self, String> {
        let port = free_port()?;
        let mut cmd = Command::new(moto_python);
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emulators/aws_backup.py"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        // One organization of the operator's account and a disaster-recovery account, with
        // cross-account backup on: copies between them are allowed (vault access policies permitting).
        cmd.env("AWS_BACKUP_EMULATOR_ORGANIZATION", format!("{OWN_ACCOUNT},{DR_ACCOUNT}"));
        let process = Process::spawn("moto", cmd, &dir.join("moto.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        let moto = Self { process, url };
        let client = moto.client();
        eventually("moto to answer ListTables", Duration::from_secs(60), || {
            let client = client.clone();
            async move { client.list_tables().send().await.ok().map(|_| ()) }
        })
        .await
        .map_err(|e| format!("{e}\n--- moto log ---\n{}", moto.process.log_tail(20)))?;
        Ok(moto)
    }

    /// A DynamoDB client for the tests' own setup and checks.
    pub fn client(&self) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        Client::from_conf(config)
    }

    /// A DynamoDB client of another region.
    pub fn client_in(&self, region: &str) -> Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        Client::from_conf(config)
    }

    /// An AWS Backup client of `region` (vaults and Vault Lock are moto's; jobs and recovery
    /// points the emulator's).
    pub fn backup_client(&self, region: &str) -> aws_sdk_backup::Client {
        let config = aws_sdk_backup::Config::builder()
            .behavior_version(aws_sdk_backup::config::BehaviorVersion::latest())
            .region(aws_sdk_backup::config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_backup::config::Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_backup::Client::from_conf(config)
    }

    /// An Application Auto Scaling client (moto's, on the same port).
    pub fn autoscaling_client(&self) -> aws_sdk_applicationautoscaling::Client {
        use aws_sdk_applicationautoscaling::config as c;
        let config = c::Builder::new()
            .behavior_version(c::BehaviorVersion::latest())
            .region(c::Region::new(REGION))
            .endpoint_url(&self.url)
            .credentials_provider(c::Credentials::new("testing", "testing", None, None, "e2e"))
            .build();
        aws_sdk_applicationautoscaling::Client::from_conf(config)
    }

    /// DynamoDB and AWS Backup clients of `region` with the credentials of `role_arn`, assumed
    /// through moto's STS: they act in the role's account.
    pub async fn assumed(&self, role_arn: &str, region: &str) -> Result<(Client, aws_sdk_backup::Client), String> {
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::Config::builder()
                .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
                .region(aws_sdk_sts::config::Region::new(region.to_owned()))
                .endpoint_url(&self.url)
                .credentials_provider(aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "e2e"))
                .build(),
        );
        let answer = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("e2e")
            .send()
            .await
            .map_err(|e| format!("AssumeRole {role_arn}: {}", aws_sdk_sts::error::DisplayErrorContext(e)))?;
        let c = answer.credentials().ok_or("AssumeRole gave no credentials")?;
        let credentials = Credentials::new(c.access_key_id(), c.secret_access_key(), Some(c.session_token().to_owned()), None, "assumed");
        let dynamo = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(credentials.clone())
            .build();
        let backup = aws_sdk_backup::Config::builder()
            .behavior_version(aws_sdk_backup::config::BehaviorVersion::latest())
            .region(aws_sdk_backup::config::Region::new(region.to_owned()))
            .endpoint_url(&self.url)
            .credentials_provider(credentials)
            .build();
        Ok((Client::from_conf(dynamo), aws_sdk_backup::Client::from_conf(backup)))
    }

    /// Sets the AWS Backup emulator's faults (replacing those set before): a JSON object such as
    /// `{"denyPassRole": [ROLE], "failCopiesTo": [VAULT_ARN]}`.
    pub async fn aws_backup_faults(&self, faults: serde_json::Value) -> Result<(), String> {
        let answer = reqwest::Client::new()
            .post(format!("{}/_emulator/faults", self.url))
            .header("content-type", "application/json")
            .body(faults.to_string())
            .send()
            .await
            .map_err(|e| format!("setting the emulator's faults: {e}"))?;
        if answer.status().is_success() { Ok(()) } else { Err(format!("the emulator refused the faults: {}", answer.status())) }
    }

    /// The environment that points the operator's SDK default chain at moto.
    pub fn operator_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", self.url.clone()),
            ("AWS_ENDPOINT_URL_BACKUP", self.url.clone()),
            ("AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING", self.url.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }
}
