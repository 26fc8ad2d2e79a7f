"""Self-test of the AWS Backup emulator (tests/emulators/aws_backup.py), with boto3.

    $MOTO_PYTHON tests/emulators/test_aws_backup.py

Starts the emulator on a free 127.0.0.1 port with AWS_BACKUP_EMULATOR_JOB_SECONDS=1 (unless the
environment sets it), drives it as the operator would, prints each check and stops the emulator.
Exits non-zero when a check fails. Every wait is bounded.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

EMULATOR = Path(__file__).resolve().parent / "aws_backup.py"
HOME = "us-east-1"
DR = "eu-central-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/backup-operator"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
DR_ACCOUNT = "222222222222"
DR_ROLE = f"arn:aws:iam::{DR_ACCOUNT}:role/dr-restores"
OUTSIDER = "333333333333"
JOB_WAIT = 20  # seconds, for a job that takes AWS_BACKUP_EMULATOR_JOB_SECONDS
FAILURES = []


def check(condition, what):
    print(f"  {'ok  ' if condition else 'FAIL'}  {what}", flush=True)
    if not condition:
        FAILURES.append(what)
    return condition


def section(title):
    print(f"\n== {title}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="aws-backup-emulator-", suffix=".log", delete=False)
        env = dict(os.environ)
        env.setdefault("AWS_BACKUP_EMULATOR_JOB_SECONDS", "1")
        self.job_seconds = float(env["AWS_BACKUP_EMULATOR_JOB_SECONDS"])
        self.proc = subprocess.Popen(
            [sys.executable, str(EMULATOR), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"the emulator did not answer within {timeout} s")

    def control(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def log_tail(self, lines=60):
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def clients(url):
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    config = Config(retries={"max_attempts": 1, "mode": "standard"})

    def client(service, region):
        return session.client(service, region_name=region, endpoint_url=url, config=config)

    return {
        "backup": client("backup", HOME),
        "backup_dr": client("backup", DR),
        "ddb": client("dynamodb", HOME),
        "ddb_dr": client("dynamodb", DR),
    }


def error_of(call):
    """(code, HTTP status, message) of the ClientError `call` raises, or None if it succeeds."""
    try:
        call()
    except ClientError as e:
        return (
            e.response["Error"]["Code"],
            e.response["ResponseMetadata"]["HTTPStatusCode"],
            e.response["Error"].get("Message", ""),
        )
    return None


def wait_job(describe, state_key, timeout=JOB_WAIT):
    """Polls until the job leaves its active states; answers (last description, states seen)."""
    seen = []
    deadline = time.time() + timeout
    while True:
        job = describe()
        state = job[state_key]
        if not seen or seen[-1] != state:
            seen.append(state)
        if state not in ("CREATED", "PENDING", "RUNNING"):
            return job, seen
        if time.time() > deadline:
            raise RuntimeError(f"job still {state} after {timeout} s")
        time.sleep(0.05)


def items(ddb, table):
    found = ddb.scan(TableName=table)["Items"]
    return sorted((i["orderId"]["S"], i["item"]["S"]) for i in found)


def seed(ddb, table):
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n, thing in enumerate(["keyboard", "monitor", "desk lamp"], start=1):
        ddb.put_item(TableName=table, Item={"orderId": {"S": f"order-{n}"}, "item": {"S": thing}})


def run(emu):
    c = clients(emu.url)
    backup, backup_dr, ddb, ddb_dr = c["backup"], c["backup_dr"], c["ddb"], c["ddb_dr"]
    table_arn = f"arn:aws:dynamodb:{HOME}:{ACCOUNT}:table/Orders"

    section("vaults through moto, a table to back up")
    vault_arn = backup.create_backup_vault(BackupVaultName="primary")["BackupVaultArn"]
    dr_arn = backup_dr.create_backup_vault(BackupVaultName="dr")["BackupVaultArn"]
    check(vault_arn == f"arn:aws:backup:{HOME}:{ACCOUNT}:backup-vault:primary", f"vault primary: {vault_arn}")
    check(dr_arn == f"arn:aws:backup:{DR}:{ACCOUNT}:backup-vault:dr", f"vault dr in {DR}: {dr_arn}")
    seed(ddb, "Orders")
    snapshot = items(ddb, "Orders")
    check(len(snapshot) == 3, "table Orders holds three orders")

    section("a missing vault")
    err = error_of(lambda: backup.start_backup_job(BackupVaultName="nope", ResourceArn=table_arn, IamRoleArn=ROLE))
    check(err is not None and err[:2] == ("ResourceNotFoundException", 400), f"StartBackupJob into vault nope: {err}")
    emu.control("POST", "/_emulator/faults", {"missingVaultError": "AccessDeniedException"})
    err = error_of(lambda: backup.start_backup_job(BackupVaultName="nope", ResourceArn=table_arn, IamRoleArn=ROLE))
    check(err is not None and err[:2] == ("AccessDeniedException", 403), f"... with missingVaultError=AccessDeniedException: {err}")
    emu.control("POST", "/_emulator/reset")
    err = error_of(
        lambda: backup.start_backup_job(
            BackupVaultName="primary", ResourceArn=table_arn.replace("Orders", "Missing"), IamRoleArn=ROLE
        )
    )
    check(err is not None and err[0] == "ResourceNotFoundException", f"StartBackupJob of a missing table: {err}")

    section("a backup job, CREATED -> RUNNING -> COMPLETED")
    started = backup.start_backup_job(
        BackupVaultName="primary",
        ResourceArn=table_arn,
        IamRoleArn=ROLE,
        IdempotencyToken="snapshot-1",
        Lifecycle={"DeleteAfterDays": 35},
    )
    job_id, point_arn = started["BackupJobId"], started["RecoveryPointArn"]
    check(
        point_arn.startswith(f"arn:aws:backup:{HOME}:{ACCOUNT}:recovery-point:"),
        f"recovery point ARN in the advanced-DynamoDB form: {point_arn}",
    )
    err = error_of(lambda: backup.describe_recovery_point(BackupVaultName="primary", RecoveryPointArn=point_arn))
    check(err is not None and err[0] == "ResourceNotFoundException", "no recovery point before the job completes")
    again = backup.start_backup_job(
        BackupVaultName="primary",
        ResourceArn=table_arn,
        IamRoleArn=ROLE,
        IdempotencyToken="snapshot-1",
        Lifecycle={"DeleteAfterDays": 35},
    )
    check(again["BackupJobId"] == job_id and again["RecoveryPointArn"] == point_arn, "same IdempotencyToken: same job")
    job, seen = wait_job(lambda: backup.describe_backup_job(BackupJobId=job_id), "State")
    check(seen[-1] == "COMPLETED" and "RUNNING" in seen, f"states seen: {' -> '.join(seen)}")
    check(job["RecoveryPointArn"] == point_arn and job["ResourceType"] == "DynamoDB", "DescribeBackupJob names the recovery point")
    check(job["PercentDone"] == "100.0" and job.get("BackupSizeInBytes", 0) > 0, f"size {job.get('BackupSizeInBytes')} bytes")
    third = backup.start_backup_job(
        BackupVaultName="primary", ResourceArn=table_arn, IamRoleArn=ROLE, IdempotencyToken="snapshot-1",
        Lifecycle={"DeleteAfterDays": 35},
    )
    check(third["BackupJobId"] == job_id, "same token after completion: still the same job")
    listed = backup.list_backup_jobs(ByResourceArn=table_arn)["BackupJobs"]
    check(len(listed) == 1 and listed[0]["BackupJobId"] == job_id, "ListBackupJobs ByResourceArn: exactly one job")
    completed = backup.list_backup_jobs(ByState="COMPLETED", ByBackupVaultName="primary")["BackupJobs"]
    check(len(completed) == 1, "ListBackupJobs ByState+ByBackupVaultName")
    check(backup.list_backup_jobs(ByBackupVaultName="dr")["BackupJobs"] == [], "ListBackupJobs of another vault: none")
    point = backup.describe_recovery_point(BackupVaultName="primary", RecoveryPointArn=point_arn)
    check(point["Status"] == "COMPLETED" and point["ResourceArn"] == table_arn, "DescribeRecoveryPoint: COMPLETED, of Orders")
    check("DeleteAt" in point.get("CalculatedLifecycle", {}), "CalculatedLifecycle.DeleteAt from Lifecycle.DeleteAfterDays")
    ddb_backups = ddb.list_backups(TableName="Orders")["BackupSummaries"]
    check(len(ddb_backups) == 1, f"a real DynamoDB backup of Orders in moto: {[b['BackupArn'] for b in ddb_backups]}")
    vault = backup.describe_backup_vault(BackupVaultName="primary")
    check(vault.get("NumberOfRecoveryPoints") == 1, f"moto's vault counts it: {vault.get('NumberOfRecoveryPoints')}")
    by_vault = backup.list_recovery_points_by_backup_vault(BackupVaultName="primary")["RecoveryPoints"]
    by_resource = backup.list_recovery_points_by_resource(ResourceArn=table_arn)["RecoveryPoints"]
    check([p["RecoveryPointArn"] for p in by_vault] == [point_arn], "ListRecoveryPointsByBackupVault")
    check([p["RecoveryPointArn"] for p in by_resource] == [point_arn], "ListRecoveryPointsByResource (ARN with a / in the path)")
    meta = backup.get_recovery_point_restore_metadata(BackupVaultName="primary", RecoveryPointArn=point_arn)
    check(meta["RestoreMetadata"].get("targetTableName") == "Orders", f"GetRecoveryPointRestoreMetadata: {meta['RestoreMetadata']}")

    section("after the snapshot, the table changes")
    ddb.delete_item(TableName="Orders", Key={"orderId": {"S": "order-2"}})
    ddb.put_item(TableName="Orders", Item={"orderId": {"S": "order-4"}, "item": {"S": "chair"}})
    check(items(ddb, "Orders") != snapshot, "Orders differs from the snapshot")

    section(f"a copy to vault dr in {DR}, and a restore there")
    copy_id = backup.start_copy_job(
        RecoveryPointArn=point_arn, SourceBackupVaultName="primary", DestinationBackupVaultArn=dr_arn,
        IamRoleArn=ROLE, IdempotencyToken="copy-1", Lifecycle={"DeleteAfterDays": 35},
    )["CopyJobId"]
    check(
        backup.start_copy_job(
            RecoveryPointArn=point_arn, SourceBackupVaultName="primary", DestinationBackupVaultArn=dr_arn,
            IamRoleArn=ROLE, IdempotencyToken="copy-1", Lifecycle={"DeleteAfterDays": 35},
        )["CopyJobId"] == copy_id,
        "same IdempotencyToken: same copy job",
    )
    err = error_of(lambda: backup.delete_recovery_point(BackupVaultName="primary", RecoveryPointArn=point_arn))
    check(err is not None and err[0] == "InvalidResourceStateException", f"delete while a copy reads it: {err}")
    copy_job, seen = wait_job(lambda: backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"], "State")
    dr_point = copy_job.get("DestinationRecoveryPointArn", "")
    check(seen[-1] == "COMPLETED", f"copy states: {' -> '.join(seen)}")
    check(dr_point.startswith(f"arn:aws:backup:{DR}:{ACCOUNT}:recovery-point:"), f"destination recovery point: {dr_point}")
    described = backup_dr.describe_recovery_point(BackupVaultName="dr", RecoveryPointArn=dr_point)
    check(
        described["SourceBackupVaultArn"] == vault_arn and described["ResourceArn"] == table_arn,
        "copied point: source vault and resource",
    )
    check(len(backup.list_copy_jobs(ByDestinationVaultArn=dr_arn)["CopyJobs"]) == 1, "ListCopyJobs ByDestinationVaultArn")
    err = error_of(
        lambda: backup.start_restore_job(
            RecoveryPointArn=dr_point, IamRoleArn=ROLE, Metadata={"targetTableName": "Orders-dr"}, ResourceType="DynamoDB"
        )
    )
    check(err is not None and err[0] == "InvalidParameterValueException", f"restoring a {DR} point from {HOME}: {err}")
    restore_id = backup_dr.start_restore_job(
        RecoveryPointArn=dr_point, IamRoleArn=ROLE, IdempotencyToken="restore-dr",
        Metadata={"targetTableName": "Orders-dr"}, ResourceType="DynamoDB",
    )["RestoreJobId"]
    restore, seen = wait_job(lambda: backup_dr.describe_restore_job(RestoreJobId=restore_id), "Status")
    check(seen[-1] == "COMPLETED", f"restore states: {' -> '.join(seen)}")
    created = restore.get("CreatedResourceArn")
    check(created == f"arn:aws:dynamodb:{DR}:{ACCOUNT}:table/Orders-dr", f"CreatedResourceArn: {created}")
    check(items(ddb_dr, "Orders-dr") == snapshot, f"Orders-dr in {DR} holds exactly the snapshot: {items(ddb_dr, 'Orders-dr')}")
    check("Orders-dr" not in ddb.list_tables()["TableNames"], f"nothing restored in {HOME}")
    check(len(backup_dr.list_restore_jobs(ByStatus="COMPLETED")["RestoreJobs"]) == 1, "ListRestoreJobs ByStatus")

    section("a restore onto an existing table fails")
    restore_id = backup.start_restore_job(
        RecoveryPointArn=point_arn, IamRoleArn=ROLE, Metadata={"targetTableName": "Orders"}, ResourceType="DynamoDB"
    )["RestoreJobId"]
    restore, seen = wait_job(lambda: backup.describe_restore_job(RestoreJobId=restore_id), "Status")
    check(seen[-1] == "FAILED", f"restore states: {' -> '.join(seen)}")
    check("already exists" in restore.get("StatusMessage", ""), f"StatusMessage: {restore.get('StatusMessage')}")
    check(items(ddb, "Orders") != snapshot, "Orders untouched")

    section("fault: denyPassRole")
    emu.control("POST", "/_emulator/faults", {"denyPassRole": [ROLE]})
    err = error_of(lambda: backup.start_backup_job(BackupVaultName="primary", ResourceArn=table_arn, IamRoleArn=ROLE))
    check(
        err is not None and err[:2] == ("AccessDeniedException", 403)
        and f"iam:PassRole on resource: {ROLE}" in err[2],
        f"StartBackupJob: {err}",
    )
    err = error_of(
        lambda: backup.start_copy_job(
            RecoveryPointArn=point_arn, SourceBackupVaultName="primary", DestinationBackupVaultArn=dr_arn, IamRoleArn=ROLE
        )
    )
    check(err is not None and err[0] == "AccessDeniedException", f"StartCopyJob: {err and err[0]}")
    other = backup.start_backup_job(BackupVaultName="primary", ResourceArn=table_arn, IamRoleArn=OTHER_ROLE)
    check(bool(other["BackupJobId"]), "another role still passes")

    section("fault: failCopiesTo (replaces denyPassRole)")
    emu.control("POST", "/_emulator/faults", {"failCopiesTo": [dr_arn]})
    failing = backup.start_copy_job(
        RecoveryPointArn=point_arn, SourceBackupVaultName="primary", DestinationBackupVaultArn=dr_arn, IamRoleArn=ROLE
    )["CopyJobId"]
    copy_job, seen = wait_job(lambda: backup.describe_copy_job(CopyJobId=failing)["CopyJob"], "State")
    check(seen[-1] == "FAILED" and copy_job.get("StatusMessage"), f"copy {' -> '.join(seen)}: {copy_job.get('StatusMessage')}")
    check("DestinationRecoveryPointArn" not in copy_job, "no destination recovery point")
    missing_dr = dr_arn.replace(":dr", ":absent")
    emu.control("POST", "/_emulator/reset")
    absent = backup.start_copy_job(
        RecoveryPointArn=point_arn, SourceBackupVaultName="primary", DestinationBackupVaultArn=missing_dr, IamRoleArn=ROLE
    )["CopyJobId"]
    copy_job, seen = wait_job(lambda: backup.describe_copy_job(CopyJobId=absent)["CopyJob"], "State")
    message = copy_job.get("StatusMessage", "")
    check(seen[-1] == "FAILED" and "does not exist" in message, f"copy to a missing vault: {message}")
    wait_job(lambda: backup.describe_backup_job(BackupJobId=other["BackupJobId"]), "State")

    section("Vault Lock")
    backup.create_backup_vault(BackupVaultName="locked")
    backup.put_backup_vault_lock_configuration(BackupVaultName="locked", MinRetentionDays=7, MaxRetentionDays=365)
    short = backup.start_backup_job(
        BackupVaultName="locked", ResourceArn=table_arn, IamRoleArn=ROLE, Lifecycle={"DeleteAfterDays": 1}
    )["BackupJobId"]
    kept = backup.start_backup_job(
        BackupVaultName="locked", ResourceArn=table_arn, IamRoleArn=ROLE, Lifecycle={"DeleteAfterDays": 30}
    )
    job, seen = wait_job(lambda: backup.describe_backup_job(BackupJobId=short), "State")
    message = job.get("StatusMessage", "")
    check(seen[-1] == "FAILED" and "minimum retention" in message, f"1-day retention into a 7-day lock: {message}")
    job, seen = wait_job(lambda: backup.describe_backup_job(BackupJobId=kept["BackupJobId"]), "State")
    check(seen[-1] == "COMPLETED", "30-day retention: COMPLETED")
    err = error_of(lambda: backup.delete_recovery_point(BackupVaultName="locked", RecoveryPointArn=kept["RecoveryPointArn"]))
    check(
        err is not None and err[0] == "InvalidRequestException" and "Vault Lock" in err[2],
        f"DeleteRecoveryPoint in the locked vault: {err}",
    )
    err = error_of(lambda: backup.delete_backup_vault(BackupVaultName="locked"))
    check(err is not None and err[0] == "InvalidRequestException", f"DeleteBackupVault of a vault with recovery points: {err and err[0]}")
    err = error_of(
        lambda: backup.start_backup_job(
            BackupVaultName="primary", ResourceArn=table_arn, IamRoleArn=ROLE,
            Lifecycle={"MoveToColdStorageAfterDays": 10, "DeleteAfterDays": 20},
        )
    )
    check(err is not None and err[0] == "InvalidParameterValueException", f"cold storage < 90 days before deletion: {err and err[0]}")

    section("DeleteRecoveryPoint")
    before = {b["BackupArn"] for b in ddb.list_backups(TableName="Orders")["BackupSummaries"]}
    backup.delete_recovery_point(BackupVaultName="primary", RecoveryPointArn=point_arn)
    err = error_of(lambda: backup.describe_recovery_point(BackupVaultName="primary", RecoveryPointArn=point_arn))
    check(err is not None and err[0] == "ResourceNotFoundException", "the recovery point is gone")
    after = {b["BackupArn"] for b in ddb.list_backups(TableName="Orders")["BackupSummaries"]}
    check(len(before - after) == 1, "its DynamoDB backup is gone from moto")
    check(
        backup_dr.describe_recovery_point(BackupVaultName="dr", RecoveryPointArn=dr_point)["Status"] == "COMPLETED",
        "the copy in dr stays",
    )
    err = error_of(
        lambda: backup.start_restore_job(RecoveryPointArn=point_arn, IamRoleArn=ROLE, Metadata={"targetTableName": "X-restored"})
    )
    check(err is not None and err[0] == "ResourceNotFoundException", "restoring a deleted point: ResourceNotFoundException")

    section("calls counter")
    emu.control("POST", "/_emulator/reset")
    check(emu.control("GET", "/_emulator/calls") == {}, "reset clears the counts")
    counted = backup.start_backup_job(BackupVaultName="primary", ResourceArn=table_arn, IamRoleArn=ROLE)["BackupJobId"]
    polls = 0
    while True:
        polls += 1
        if backup.describe_backup_job(BackupJobId=counted)["State"] == "COMPLETED":
            break
        if polls > JOB_WAIT * 10:
            raise RuntimeError("the counted job did not complete")
        time.sleep(0.1)
    backup.describe_backup_vault(BackupVaultName="primary")
    calls = emu.control("GET", "/_emulator/calls")
    expected = {"StartBackupJob": 1, "DescribeBackupJob": polls, "DescribeBackupVault": 1}
    check(calls == expected, f"calls {calls} == {expected}")


def assumed(url, role, region):
    """boto3 clients of `region` with credentials of `role`, assumed through moto's STS: they act
    in the role's account."""
    sts = boto3.client(
        "sts", region_name=region, endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    creds = sts.assume_role(RoleArn=role, RoleSessionName="self-test")["Credentials"]
    session = boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    return (
        session.client("backup", region_name=region, endpoint_url=url, config=config),
        session.client("dynamodb", region_name=region, endpoint_url=url, config=config),
    )


def copy_into(backup, point_arn, vault_arn, token):
    return backup.start_copy_job(
        RecoveryPointArn=point_arn, SourceBackupVaultName="ledger", DestinationBackupVaultArn=vault_arn,
        IamRoleArn=ROLE, IdempotencyToken=token,
    )["CopyJobId"]


def cross_account(emu):
    c = clients(emu.url)
    backup, ddb = c["backup"], c["ddb"]
    dr_backup, dr_ddb = assumed(emu.url, DR_ROLE, HOME)
    ledger_arn = f"arn:aws:dynamodb:{HOME}:{ACCOUNT}:table/Ledger"

    section(f"accounts follow the credentials: an assumed role of {DR_ACCOUNT} acts there")
    backup.create_backup_vault(BackupVaultName="ledger")
    dr_vault = dr_backup.create_backup_vault(BackupVaultName="dr")["BackupVaultArn"]
    check(dr_vault == f"arn:aws:backup:{HOME}:{DR_ACCOUNT}:backup-vault:dr", f"vault dr of the DR account: {dr_vault}")
    names = [v["BackupVaultName"] for v in backup.list_backup_vaults()["BackupVaultList"]]
    check("dr" not in names, f"the first account does not see it: {names}")
    seed(ddb, "Ledger")
    check("Ledger" not in dr_ddb.list_tables()["TableNames"], "the DR account has no table Ledger")
    point = backup.start_backup_job(BackupVaultName="ledger", ResourceArn=ledger_arn, IamRoleArn=ROLE)
    wait_job(lambda: backup.describe_backup_job(BackupJobId=point["BackupJobId"]), "State")
    point_arn = point["RecoveryPointArn"]
    err = error_of(lambda: dr_backup.describe_backup_job(BackupJobId=point["BackupJobId"]))
    check(err is not None and err[0] == "ResourceNotFoundException", f"another account's job is not found: {err}")

    section("a copy to another account: the organization must allow it")
    emu.control("POST", "/_emulator/organization", {"accounts": []})
    err = error_of(lambda: copy_into(backup, point_arn, dr_vault, "x-1"))
    check(err is not None and err[:2] == ("InvalidRequestException", 400), f"no organization: {err}")
    emu.control("POST", "/_emulator/organization", {"accounts": [ACCOUNT, DR_ACCOUNT], "crossAccountBackup": False})
    err = error_of(lambda: copy_into(backup, point_arn, dr_vault, "x-2"))
    check(err is not None and err[0] == "InvalidRequestException", f"cross-account backup off: {err}")
    emu.control("POST", "/_emulator/organization", {"accounts": [ACCOUNT, DR_ACCOUNT]})
    outsider_vault = f"arn:aws:backup:{HOME}:{OUTSIDER}:backup-vault:dr"
    err = error_of(lambda: copy_into(backup, point_arn, outsider_vault, "x-3"))
    check(err is not None and err[0] == "InvalidRequestException", f"a vault of an account outside it: {err}")

    section("... and the destination vault's access policy")
    err = error_of(lambda: dr_backup.get_backup_vault_access_policy(BackupVaultName="dr"))
    check(err is not None and err[0] == "ResourceNotFoundException", f"no policy yet: {err}")
    copy_id = copy_into(backup, point_arn, dr_vault, "x-4")
    job, _ = wait_job(lambda: backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"], "State")
    check(
        job["State"] == "FAILED" and "Access Denied" in job.get("StatusMessage", ""),
        f"no access policy: the copy fails: {job.get('StatusMessage')}",
    )
    missing = f"arn:aws:backup:{HOME}:{DR_ACCOUNT}:backup-vault:nope"
    job, _ = wait_job(lambda: backup.describe_copy_job(CopyJobId=copy_into(backup, point_arn, missing, "x-5"))["CopyJob"], "State")
    check(job["State"] == "FAILED" and "does not exist" in job.get("StatusMessage", ""), f"a missing vault: {job.get('StatusMessage')}")
    wildcard = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "backup:*", "Resource": "*"}]}
    err = error_of(lambda: dr_backup.put_backup_vault_access_policy(BackupVaultName="dr", Policy=json.dumps(wildcard)))
    check(err is not None and err[0] == "InvalidParameterValueException", f"no wildcard in Action: {err}")
    other = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"},
                       "Action": "backup:CopyIntoBackupVault", "Resource": "*"}],
    }
    dr_backup.put_backup_vault_access_policy(BackupVaultName="dr", Policy=json.dumps(other))
    job, _ = wait_job(lambda: backup.describe_copy_job(CopyJobId=copy_into(backup, point_arn, dr_vault, "x-6"))["CopyJob"], "State")
    check(job["State"] == "FAILED", "a policy for another account: the copy fails")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                       "Action": "backup:CopyIntoBackupVault", "Resource": "*"}],
    }
    dr_backup.put_backup_vault_access_policy(BackupVaultName="dr", Policy=json.dumps(policy))
    got = dr_backup.get_backup_vault_access_policy(BackupVaultName="dr")
    check(json.loads(got["Policy"]) == policy and got["BackupVaultArn"] == dr_vault, "GetBackupVaultAccessPolicy")

    section("the copy lands in the DR account")
    copy_id = copy_into(backup, point_arn, dr_vault, "x-7")
    job, seen = wait_job(lambda: backup.describe_copy_job(CopyJobId=copy_id)["CopyJob"], "State")
    check(job["State"] == "COMPLETED", f"states seen: {' -> '.join(seen)}; {job.get('StatusMessage')}")
    copied = job.get("DestinationRecoveryPointArn", "")
    check(copied.startswith(f"arn:aws:backup:{HOME}:{DR_ACCOUNT}:recovery-point:"), f"in the DR account: {copied}")
    check(job["AccountId"] == ACCOUNT, "the copy job is the source account's")
    err = error_of(lambda: dr_backup.describe_copy_job(CopyJobId=copy_id))
    check(err is not None and err[0] == "ResourceNotFoundException", "the DR account does not see the copy job")
    listed = [p["RecoveryPointArn"] for p in dr_backup.list_recovery_points_by_backup_vault(BackupVaultName="dr")["RecoveryPoints"]]
    check(listed == [copied], f"ListRecoveryPointsByBackupVault in the DR account: {listed}")
    check(dr_backup.describe_backup_vault(BackupVaultName="dr").get("NumberOfRecoveryPoints") == 1, "its vault counts it")
    err = error_of(lambda: backup.describe_recovery_point(BackupVaultName="dr", RecoveryPointArn=copied))
    check(err is not None and err[0] == "ResourceNotFoundException", "the source account cannot read it")

    section("a restore in the DR account, with a role of the DR account")
    err = error_of(lambda: backup.start_restore_job(RecoveryPointArn=copied, IamRoleArn=ROLE, Metadata={"targetTableName": "Ledger"}))
    check(err is not None and err[0] == "ResourceNotFoundException", f"the source account cannot restore it: {err}")
    err = error_of(lambda: dr_backup.start_restore_job(RecoveryPointArn=copied, IamRoleArn=ROLE, Metadata={"targetTableName": "Ledger"}))
    check(err is not None and err[:2] == ("AccessDeniedException", 403), f"passing a role of another account: {err}")
    restore_id = dr_backup.start_restore_job(
        RecoveryPointArn=copied, IamRoleArn=DR_ROLE, Metadata={"targetTableName": "Ledger"}
    )["RestoreJobId"]
    job, _ = wait_job(lambda: dr_backup.describe_restore_job(RestoreJobId=restore_id), "Status")
    check(job["Status"] == "COMPLETED", f"restore job: {job['Status']} {job.get('StatusMessage')}")
    check(job.get("CreatedResourceArn") == f"arn:aws:dynamodb:{HOME}:{DR_ACCOUNT}:table/Ledger", f"{job.get('CreatedResourceArn')}")
    check(items(dr_ddb, "Ledger") == items(ddb, "Ledger"), "the DR account's Ledger holds the snapshot's items")
    emu.control("POST", "/_emulator/reset")
    check(emu.control("GET", "/_emulator/organization")["accounts"] == [], "reset: back to the environment's organization")


def main():
    emu = Emulator()
    print(f"AWS Backup emulator self-test on {emu.url} (jobs take {emu.job_seconds:g} s)")
    started = time.time()
    ok = False
    try:
        emu.wait_ready()
        run(emu)
        cross_account(emu)
        ok = not FAILURES
    except Exception:  # noqa: BLE001 - report, then fail
        traceback.print_exc()
        FAILURES.append("the test stopped on an exception")
    finally:
        emu.stop()
    if not ok:
        print(f"\n--- emulator log ({emu.log.name}), last lines ---\n{emu.log_tail()}")
        print(f"\nFAILED ({len(FAILURES)}): " + "; ".join(FAILURES))
        sys.exit(1)
    os.unlink(emu.log.name)
    print(f"\nall checks passed in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
