"""An emulator of AWS Backup's job and recovery-point API for DynamoDB, inside moto's server.

Run it with the python of moto's virtualenv (scripts/testenv.sh exports it as MOTO_PYTHON):

    $MOTO_PYTHON tests/emulators/aws_backup.py -H 127.0.0.1 -p 5000

It serves everything moto's own `moto_server` serves, on one port, and adds what moto 5.2.5 lacks:
backup jobs, copy jobs, restore jobs and recovery points of AWS Backup, for DynamoDB tables.

How it works
------------
One WSGI application wraps moto's (`moto.server.DomainDispatcherApplication`, the one
`moto_server` runs). A request whose SigV4 credential scope names the service `backup` is routed
by method and path with the route table of botocore's model of AWS Backup (2018-11-15, the file
moto's virtualenv ships); the operations listed below are answered here, every other one (vaults,
plans, Vault Lock configuration, tags...) goes to moto unchanged, as does every other service.
The region is the credential scope's; the account is the request's, decided as moto decides it
(BaseResponse.get_current_account): MOTO_ACCOUNT_ID if set, else an x-moto-account-id header, else
the account whose IAM backend issued the request's access key, else moto's DEFAULT_ACCOUNT_ID
(123456789012). moto's STS AssumeRole issues keys in the role's account (the role need not
exist), so credentials of an assumed role act in that role's account, here as in moto. Jobs,
recovery points and idempotency tokens belong to the account that started or holds them; another
account's are not found (ResourceNotFoundException). Answers follow restJson1: JSON bodies, timestamps as epoch
seconds, errors as an HTTP status, an `x-amzn-ErrorType` header and a `{"Code", "Message"}` body.

State lives next to moto's models and works on them directly: vaults and their Vault Lock come
from `moto.backup.models.backup_backends[account][region]`, tables and DynamoDB backups from
`moto.dynamodb.models.dynamodb_backends[account][region]`. One lock serializes this emulator's
work with moto's handling of DynamoDB and AWS Backup requests, so a snapshot never races a write.

Operations answered here
------------------------
StartBackupJob, DescribeBackupJob, ListBackupJobs, StopBackupJob; StartCopyJob, DescribeCopyJob,
ListCopyJobs; StartRestoreJob, DescribeRestoreJob, ListRestoreJobs; DescribeRecoveryPoint,
DeleteRecoveryPoint, ListRecoveryPointsByBackupVault, ListRecoveryPointsByResource,
GetRecoveryPointRestoreMetadata; PutBackupVaultAccessPolicy, GetBackupVaultAccessPolicy,
DeleteBackupVaultAccessPolicy (moto 5.2.5 has no vault access policies). DeleteBackupVault is refused here (InvalidRequestException) while
the vault holds recovery points ("A vault can be deleted only if it is empty"); an empty vault's
deletion goes to moto. moto's vault counter (NumberOfRecoveryPoints of DescribeBackupVault and
ListBackupVaults) is kept in step with the recovery points.

Jobs
----
Backup and copy jobs go CREATED -> RUNNING -> COMPLETED (or FAILED); restore jobs PENDING ->
RUNNING -> COMPLETED (or FAILED). AWS_BACKUP_EMULATOR_JOB_SECONDS (default 3) is a job's whole
life: RUNNING after a third of it, finished at the end. A background thread advances the jobs, and
every request answered here advances them first too, so an answer is never stale.

* Backup job: only DynamoDB tables of the request's account and region
  (arn:aws:dynamodb:REGION:ACCOUNT:table/NAME); a table that does not exist is refused at once
  (ResourceNotFoundException), one dropped before the job runs fails it. When the job starts
  RUNNING the table is snapshotted with moto's own DynamoDB `Backup` class, as DynamoDB catalogs
  a backup at the time it is asked for ("Using on-demand DynamoDB backup and restore"); the
  snapshot joins moto's
  DynamoDB backups of that region (BackupType AWS_BACKUP) only when the job COMPLETES, and the
  recovery point appears then, in the advanced-DynamoDB form
  arn:aws:backup:REGION:ACCOUNT:recovery-point:UUID (returned by StartBackupJob already). Before
  that, DescribeRecoveryPoint answers ResourceNotFoundException.
* Copy job: the destination vault may be in another region, and in another account (below). A copy
  MATERIALIZES the data in the destination region: the source recovery point's DynamoDB backup
  holds a deep copy of the table model (key schema, attribute definitions, indexes, billing mode,
  items); the emulator builds a table object of moto's `Table` class in the destination region
  with those, never registers it among that region's tables (so no table appears or disappears
  there), snapshots it with moto's `Backup` class and registers that backup in the destination
  region's DynamoDB backend. A restore in the destination region then works from data that lives
  in that region, through moto's own restore_table_from_backup. A missing destination vault, a
  destination Vault Lock whose retention rules the job's Lifecycle breaks, a source recovery
  point deleted meanwhile, or the failCopiesTo fault turn the job FAILED with a StatusMessage.
* Copies to another account ("Creating backup copies across AWS accounts"): allowed only within
  the emulator's organization, whose management account turned cross-account backup on (AWS
  Backup's global setting isCrossAccountBackupEnabled). The organization is set by
  AWS_BACKUP_EMULATOR_ORGANIZATION (comma-separated member account IDs; unset or empty: no
  organization, so no cross-account copy) or POST /_emulator/organization (below). Outside it,
  StartCopyJob answers InvalidRequestException (code and words are the emulator's; AWS does not
  document them). The destination vault's access policy must allow the source account
  backup:CopyIntoBackupVault: an Allow statement with that action whose Principal is "*", the
  account ID, arn:aws:iam::ACCOUNT:root or the job's role, and whose Condition (if any) uses only
  aws:PrincipalOrgID (the organization's id, o-a1b2c3d4e5) or aws:PrincipalAccount with
  StringEquals; a matching Deny wins; no policy refuses. A refused copy, or a destination vault
  that does not exist, turns the job FAILED (AWS cannot look into the other account when the job
  starts), with "Access Denied trying to call AWS Backup service", the words AWS's knowledge
  center quotes. The copy's recovery point, its DynamoDB backup and the vault's counter are the
  destination account's; the copy job is the source account's only, as in AWS.
* Vault access policies: stored on moto's vault object; Put refuses a policy that is not a JSON
  document with a Statement, or has a wildcard in Action ("Vault access policies": AWS Backup
  access policies do not support one); Get of a vault without one answers
  ResourceNotFoundException. Nothing but cross-account copies reads them.
* iam:PassRole: a Start* call naming a role of another account than the request's answers 403
  AccessDeniedException (a role is passed only within its account).
* Restore job: Metadata targetTableName (required), ResourceType DynamoDB if given; the request's
  region must be the recovery point's. The table is made at completion with moto's
  restore_table_from_backup; an existing table turns the job FAILED with
  "Table already exists: NAME" in its StatusMessage, as moto's DynamoDB words it.
* IdempotencyToken: the same token with the same parameters within 24 hours answers the first
  job again and starts nothing ("Retrying a successful request with the same idempotency token
  results in a success message with no action taken"); the same token with other parameters
  starts a new job (the documentation says nothing of a mismatch error).
* Vault Lock (moto's PutBackupVaultLockConfiguration): a backup or copy job into a locked vault
  FAILS when its Lifecycle keeps the recovery point less than MinRetentionDays, or longer than
  MaxRetentionDays or forever while MaxRetentionDays is set ("AWS Backup Vault Lock";
  PutBackupVaultLockConfiguration). DeleteRecoveryPoint of a recovery point younger than the
  vault's MinRetentionDays answers InvalidRequestException (the error AWS documents for Vault Lock
  refusals, e.g. DeleteBackupVaultLockConfiguration) with a message naming the Vault Lock; the
  exact wording AWS uses is not documented, this one is the emulator's.
* DeleteRecoveryPoint removes the recovery point and its DynamoDB backup from moto at once
  (AWS shows DELETING for a while). A recovery point that a running copy or restore job reads is
  refused with InvalidResourceStateException, as documented.
* Lifecycle: DeleteAfterDays must be at least MoveToColdStorageAfterDays + 90
  (InvalidParameterValueException); -1 means "keep forever"; DeleteAfterEvent is refused as an
  input. CalculatedLifecycle is derived from it; StorageClass turns COLD once MoveToColdStorageAt
  has passed (nothing else changes: cold storage is only recorded); a recovery point whose DeleteAt
  has passed is deleted with its DynamoDB backup by the background thread.
* A missing vault answers ResourceNotFoundException (400), the error the API reference documents
  for StartBackupJob and the others; real AWS has been seen answering AccessDeniedException
  (403, "Insufficient privileges to perform this action.") for vaults that do not exist, and the
  fault missingVaultError switches to that. AccessDeniedException is answered with 403, as AWS
  Backup is seen to answer it, though its Common Errors page lists 400.

Faults and counters (a control API on the same port, no signature needed)
-------------------------------------------------------------------------
POST /_emulator/faults with a JSON object replaces all faults (missing keys return to defaults):
  denyPassRole: [role ARN or "*"]   Start* naming that role answers 403 AccessDeniedException
                                    "User: CALLER is not authorized to perform: iam:PassRole on
                                    resource: ROLE" (CALLER is moto's default identity).
  failCopiesTo: [vault ARN]         copy jobs to that destination vault end FAILED.
  failBackupJobs: true | [ARN]      backup jobs (of those resources) end FAILED.
  failRestoreJobs: true | [ARN]     restore jobs (from those recovery points) end FAILED.
  missingVaultError: "ResourceNotFoundException" (default) | "AccessDeniedException".
GET /_emulator/faults shows them; POST /_emulator/organization with {"accounts": [ID, ...],
"crossAccountBackup": true|false (default: true when accounts are given), "id": ORG_ID} replaces
the organization, GET shows it; POST /_emulator/reset clears faults and call counts and puts the
organization back to AWS_BACKUP_EMULATOR_ORGANIZATION's;
GET /_emulator/calls answers {"OperationName": count} for every AWS Backup request received,
emulated or passed to moto ("Unrecognized" for a path the model does not know);
GET /_emulator/state lists jobs and recovery points (with their DynamoDB backup ARNs).
moto's POST /moto-api/reset also forgets every job and recovery point.

What it does not emulate
------------------------
No real IAM (identity policies are never evaluated; only the denyPassRole fault and a role of
another account refuse a role; a vault access policy is read for cross-account copies only, and
only the keys above), no AWS Organizations (the organization is the setting above; no
DescribeGlobalSettings/UpdateGlobalSettings), no KMS (cross-account copies need a customer-managed
key shared with the destination in AWS; not checked here) (IsEncrypted is true, EncryptionKeyArn is the vault's if moto has one),
no billing, no backup plans or selections run (moto stores them, nothing executes them), no
continuous backups / PITR recovery points, no legal holds, no restore testing, no indexes or
scans, no logically air-gapped vaults, no resource types other than DynamoDB, no events or
notifications, no composite (parent/child) jobs, no StartWindow/CompleteWindow expiry (recorded
only), cold storage only recorded, ListBackupJobs' ByMessageCategory ignored. DynamoDB's
ListBackups in moto ignores BackupType, so the AWS_BACKUP backups made here show up in it, while
AWS keeps advanced-DynamoDB recovery points out of DynamoDB's own backups. A job's timing is the
emulator's, not AWS's (minutes to hours).

AWS documentation followed (titles)
-----------------------------------
AWS Backup API reference: StartBackupJob, DescribeBackupJob, ListBackupJobs, StopBackupJob,
StartCopyJob, DescribeCopyJob, ListCopyJobs, StartRestoreJob, DescribeRestoreJob,
ListRestoreJobs, DescribeRecoveryPoint, DeleteRecoveryPoint, ListRecoveryPointsByBackupVault,
PutBackupVaultAccessPolicy, GetBackupVaultAccessPolicy, DescribeGlobalSettings,
ListRecoveryPointsByResource, GetRecoveryPointRestoreMetadata, DeleteBackupVault,
PutBackupVaultLockConfiguration, DeleteBackupVaultLockConfiguration, Lifecycle,
CalculatedLifecycle, Common Errors. AWS Backup Developer Guide: "AWS Backup Vault Lock",
"Creating backup copies across AWS accounts", "Vault access policies",
"Advanced DynamoDB backup", "Restoring an Amazon DynamoDB table". AWS re:Post knowledge center: "resolve the Access Denied
error in AWS Backup". Amazon DynamoDB Developer
Guide: "Using on-demand DynamoDB backup and restore". The shapes, member names and routes are
those of botocore's model of AWS Backup in moto's virtualenv.
"""

import argparse
import contextlib
import copy
import datetime
import http
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from urllib.parse import parse_qs, unquote

import botocore.loaders
from moto.backup.models import backup_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.exceptions import TableAlreadyExistsException
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Backup as DynamoBackup
from moto.dynamodb.models.table import Table as DynamoTable
from moto.iam.models import get_account_id_from
from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.utilities.utils import get_partition
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request

DAY = 86400.0
IDEMPOTENCY_WINDOW = DAY
JOB_SECONDS = float(os.environ.get("AWS_BACKUP_EMULATOR_JOB_SECONDS", "3"))
TICK_SECONDS = 0.05
RESOURCE_TYPE = "DynamoDB"
TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
CLIENT_ERROR_STATUS = 400
ORGANIZATION_ID = "o-a1b2c3d4e5"
FAULT_DEFAULTS = {
    "denyPassRole": [],
    "failCopiesTo": [],
    "failBackupJobs": False,
    "failRestoreJobs": False,
    "missingVaultError": "ResourceNotFoundException",
}


ACTING = threading.local()


def default_account():
    return os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)


def account_id():
    """The account the current request (or job) acts in: see request_account."""
    return getattr(ACTING, "account", None) or default_account()


@contextlib.contextmanager
def acting_as(account):
    previous = getattr(ACTING, "account", None)
    ACTING.account = account
    try:
        yield
    finally:
        ACTING.account = previous


def request_account(environ):
    """The account of a request, as moto decides it (BaseResponse.get_current_account):
    MOTO_ACCOUNT_ID if set, else an x-moto-account-id header, else the account whose IAM backend
    issued the request's access key (STS AssumeRole issues one in the role's account), else
    moto's default account."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    header = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if header:
        return header
    auth = environ.get("HTTP_AUTHORIZATION", "")
    key = auth.split("Credential=", 1)[1].split("/", 1)[0].strip() if "Credential=" in auth else None
    if not key:
        values = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        key = values[0].split("/", 1)[0] if values else None
    return get_account_id_from(key) if key else DEFAULT_ACCOUNT_ID


def new_id():
    return str(uuid.uuid4()).upper()


class ApiError(Exception):
    def __init__(self, code, message, status=CLIENT_ERROR_STATUS):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def invalid(message):
    return ApiError("InvalidParameterValueException", message)


def parse_arn(arn):
    """arn:partition:service:region:account:resource, or None."""
    parts = (arn or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    keys = ("partition", "service", "region", "account", "resource")
    return dict(zip(keys, parts[1:]))


def table_arn(region, name):
    return f"arn:{get_partition(region)}:dynamodb:{region}:{account_id()}:table/{name}"


# ---------------------------------------------------------------------------------------------
# The model: routes, input parsing, output shapes


class Model:
    """Routes and shapes of AWS Backup, from botocore's service model."""

    def __init__(self):
        self.data = botocore.loaders.Loader().load_service_model("backup", "service-2")
        self.shapes = self.data["shapes"]
        self.routes = []
        for name, op in self.data["operations"].items():
            self.routes.append(self._route(name, op))
        # A route with more literal text wins over one with labels: /backup-jobs/ over
        # /backup-jobs/{backupJobId}.
        self.routes.sort(key=lambda r: -r["literal"])

    @staticmethod
    def _route(name, op):
        uri = op["http"]["requestUri"]
        path, _, query = uri.partition("?")
        pattern, loose, labels, pos = "", "", [], 0
        for m in re.finditer(r"\{([^}]+)\}", path):
            pattern += re.escape(path[pos : m.start()])
            loose += re.escape(path[pos : m.start()])
            label = m.group(1)
            greedy = label.endswith("+")
            labels.append(label.rstrip("+"))
            group = f"l{len(labels) - 1}"
            pattern += f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)"
            loose += f"(?P<{group}>.+?)"
            pos = m.end()
        # botocore's URIs of list operations end in "/", the SDKs generated from Smithy models
        # send them without it: either matches.
        tail = path[pos:].rstrip("/") if len(path) > 1 else path[pos:]
        pattern += re.escape(tail) + "/?"
        loose += re.escape(tail) + "/?"
        required_query = {}
        for part in filter(None, query.split("&")):
            key, _, value = part.partition("=")
            required_query[key] = value or None
        return {
            "name": name,
            "method": op["http"]["method"],
            "regex": re.compile(f"^{pattern}$"),
            # For a client that leaves the / of an ARN in a label unencoded.
            "loose": re.compile(f"^{loose}$"),
            "labels": labels,
            "query": required_query,
            "literal": len(re.sub(r"\{[^}]+\}", "", path)),
        }

    def match(self, method, raw_path, query):
        for kind in ("regex", "loose"):
            for route in self.routes:
                if route["method"] != method:
                    continue
                m = route[kind].match(raw_path)
                if not m:
                    continue
                if any(k not in query or (v is not None and query[k][0] != v) for k, v in route["query"].items()):
                    continue
                values = {label: unquote(m.group(f"l{i}")) for i, label in enumerate(route["labels"])}
                return route["name"], values
        return None, None

    def input_members(self, op_name):
        shape = self.data["operations"][op_name].get("input")
        if not shape:
            return {}, []
        s = self.shapes[shape["shape"]]
        return s.get("members", {}), s.get("required", [])

    def has_body(self, op_name):
        members, _ = self.input_members(op_name)
        return any("location" not in m for m in members.values())

    def parse_input(self, op_name, labels, query, headers, body):
        members, required = self.input_members(op_name)
        params = {}
        for name, member in members.items():
            where = member.get("location")
            key = member.get("locationName", name)
            shape = self.shapes[member["shape"]]
            if where == "uri":
                raw = labels.get(key)
            elif where == "querystring":
                values = query.get(key)
                raw = None if values is None else (values if shape["type"] == "list" else values[0])
            elif where == "header":
                raw = headers.get(key.lower())
            else:
                if name in body:
                    params[name] = body[name]
                continue
            if raw is not None:
                params[name] = self._coerce(name, raw, shape)
        for name in required:
            if params.get(name) in (None, ""):
                raise ApiError("MissingParameterValueException", f"Missing required parameter: {name}")
        return params

    @staticmethod
    def _coerce(name, raw, shape):
        kind = shape["type"]
        try:
            if kind in ("integer", "long"):
                return int(raw)
            if kind == "boolean":
                return raw.lower() == "true"
            if kind == "timestamp":
                return parse_timestamp(raw)
        except ValueError as e:
            raise invalid(f"Invalid value for {name}: {raw}") from e
        return raw

    def project(self, shape_name, value):
        """Keeps the members the shape has, so each answer is the model's shape exactly."""
        members = self.shapes[shape_name]["members"]
        return {k: v for k, v in value.items() if k in members and v is not None}


def parse_timestamp(raw):
    try:
        return float(raw)
    except ValueError:
        pass
    return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------------------------
# moto's models


def vaults_of(region, account=None):
    return backup_backends[account or account_id()][region].vaults


def dynamo(region, account=None):
    return dynamodb_backends[account or account_id()][region]


def lifecycle_of(value):
    """Validates a Lifecycle input; -1 means "forever" (the key is dropped)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid("Lifecycle must be an object")
    if "DeleteAfterEvent" in value:
        raise invalid("DeleteAfterEvent is not valid as an input")
    result = {}
    for key in ("MoveToColdStorageAfterDays", "DeleteAfterDays"):
        days = value.get(key)
        if days is None or days == -1:
            continue
        if not isinstance(days, int) or days < 1:
            raise invalid(f"Lifecycle.{key} must be a positive number of days, or -1")
        result[key] = days
    if "OptInToArchiveForSupportedResources" in value:
        result["OptInToArchiveForSupportedResources"] = bool(value["OptInToArchiveForSupportedResources"])
    cold, delete = result.get("MoveToColdStorageAfterDays"), result.get("DeleteAfterDays")
    if cold is not None and delete is not None and delete < cold + 90:
        raise invalid(
            "Lifecycle.DeleteAfterDays must be at least 90 days after Lifecycle.MoveToColdStorageAfterDays "
            f"({delete} < {cold} + 90): backups in cold storage are kept there at least 90 days"
        )
    return result


def vault_lock_violation(vault, lifecycle):
    """Why Vault Lock fails a backup or copy job into the vault, or None."""
    if not getattr(vault, "locked", False):
        return None
    keep = (lifecycle or {}).get("DeleteAfterDays")
    least, most = vault.min_retention_days, vault.max_retention_days
    name = vault.backup_vault_name
    if least is not None and keep is not None and keep < least:
        return (
            f"The recovery point would be kept {keep} days (Lifecycle.DeleteAfterDays), less than the "
            f"minimum retention of {least} days that the Vault Lock of backup vault {name} enforces"
        )
    if most is not None and (keep is None or keep > most):
        kept = "forever (no Lifecycle.DeleteAfterDays)" if keep is None else f"{keep} days"
        return (
            f"The recovery point would be kept {kept}, more than the maximum retention of {most} days "
            f"that the Vault Lock of backup vault {name} enforces"
        )
    return None


COPY_INTO = "backup:CopyIntoBackupVault"


def as_list(value):
    return value if isinstance(value, list) else [value]


def principal_matches(principal, source_account, role):
    """Whether a statement's Principal covers the source account's copy (its backup role)."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in as_list(principal.get("AWS", [])):
        if value in ("*", source_account, f"arn:aws:iam::{source_account}:root", role):
            return True
    return False


def conditions_hold(condition, source_account, organization):
    """The condition keys a vault access policy for copies uses; any other key fails the
    statement (not emulated)."""
    for operator, keys in (condition or {}).items():
        if operator not in ("StringEquals", "ForAnyValue:StringEquals") or not isinstance(keys, dict):
            return False
        for key, values in keys.items():
            if key == "aws:PrincipalOrgID":
                if organization["id"] not in as_list(values) or source_account not in organization["accounts"]:
                    return False
            elif key == "aws:PrincipalAccount":
                if source_account not in as_list(values):
                    return False
            else:
                return False
    return True


def copy_allowed(vault, source_account, role, organization):
    """The vault access policy's say on a copy from another account: an Allow statement for
    backup:CopyIntoBackupVault whose Principal and Condition cover the source account, and no
    Deny that does. No policy: refused."""
    raw = getattr(vault, "emulator_access_policy", None)
    if not raw:
        return False
    allowed = False
    for statement in as_list(json.loads(raw).get("Statement", [])):
        if COPY_INTO not in as_list(statement.get("Action", [])):
            continue
        if not principal_matches(statement.get("Principal"), source_account, role):
            continue
        if not conditions_hold(statement.get("Condition"), source_account, organization):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def organization_from_env():
    """AWS_BACKUP_EMULATOR_ORGANIZATION: the member accounts (comma-separated) of one
    organization whose management account turned cross-account backup on."""
    accounts = [a.strip() for a in os.environ.get("AWS_BACKUP_EMULATOR_ORGANIZATION", "").split(",") if a.strip()]
    return {"id": ORGANIZATION_ID, "accounts": accounts, "crossAccountBackup": bool(accounts)}


def validate_organization(value):
    if not isinstance(value, dict) or set(value) - {"id", "accounts", "crossAccountBackup"}:
        raise ValueError("organization must be an object with id, accounts and crossAccountBackup")
    accounts = value.get("accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, str) and re.fullmatch(r"\d{12}", a) for a in accounts):
        raise ValueError("accounts must be a list of 12-digit account IDs")
    enabled = value.get("crossAccountBackup", bool(accounts))
    if not isinstance(enabled, bool):
        raise ValueError("crossAccountBackup must be true or false")
    return {"id": str(value.get("id", ORGANIZATION_ID)), "accounts": accounts, "crossAccountBackup": enabled}


# ---------------------------------------------------------------------------------------------
# Jobs and recovery points


class RecoveryPoint:
    def __init__(self, arn, region, vault, resource_arn, role, lifecycle, ddb_backup, size, created, initiated):
        self.arn = arn
        self.region = region
        self.account = parse_arn(arn)["account"]
        self.vault_name = vault.backup_vault_name
        self.vault_arn = vault.backup_vault_arn
        self.encryption_key_arn = getattr(vault, "encryption_key_arn", None)
        self.source_vault_arn = None
        self.resource_arn = resource_arn
        self.resource_name = resource_arn.rsplit("/", 1)[-1]
        self.role = role
        self.lifecycle = lifecycle
        self.ddb_backup_arn = ddb_backup.arn
        self.size = size
        self.created = created
        self.initiated = initiated
        self.completed = time.time()
        self.last_restore = None

    def calculated_lifecycle(self):
        out = {}
        lc = self.lifecycle or {}
        if lc.get("MoveToColdStorageAfterDays") is not None:
            out["MoveToColdStorageAt"] = self.created + lc["MoveToColdStorageAfterDays"] * DAY
        if lc.get("DeleteAfterDays") is not None:
            out["DeleteAt"] = self.created + lc["DeleteAfterDays"] * DAY
        return out or None

    def storage_class(self, now):
        cold_at = (self.calculated_lifecycle() or {}).get("MoveToColdStorageAt")
        return "COLD" if cold_at is not None and now >= cold_at else "WARM"

    def describe(self, now):
        return {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "SourceBackupVaultArn": self.source_vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": RESOURCE_TYPE,
            "ResourceName": self.resource_name,
            "IamRoleArn": self.role,
            "Status": "COMPLETED",
            "CreationDate": self.created,
            "InitiationDate": self.initiated,
            "CompletionDate": self.completed,
            "BackupSizeInBytes": self.size,
            "BackupSizeBytes": self.size,
            "CalculatedLifecycle": self.calculated_lifecycle(),
            "Lifecycle": self.lifecycle,
            "EncryptionKeyArn": self.encryption_key_arn,
            "IsEncrypted": True,
            "StorageClass": self.storage_class(now),
            "LastRestoreTime": self.last_restore,
            "IsParent": False,
            "VaultType": "BACKUP_VAULT",
        }


class Job:
    """A job's clock: created, RUNNING after a third of JOB_SECONDS, finished after all of it."""

    first_state = "CREATED"

    def __init__(self, region, role):
        self.id = new_id()
        self.account = account_id()
        self.region = region
        self.role = role
        self.created = time.time()
        self.running_at = self.created + JOB_SECONDS / 3
        self.done_at = self.created + JOB_SECONDS
        self.state = self.first_state
        self.message = None
        self.completed = None
        self.failure = None  # decided up front (faults), reported at the end

    @property
    def active(self):
        return self.state in (self.first_state, "RUNNING")

    def advance(self, emulator, now):
        with acting_as(self.account):
            self._advance(emulator, now)

    def _advance(self, emulator, now):
        try:
            if self.state == self.first_state and now >= self.running_at:
                self.state = "RUNNING"
                self.on_running(emulator)
            if self.state == "RUNNING" and now >= self.done_at:
                if self.failure is None:
                    self.failure = self.on_finish(emulator)
                self.end("FAILED" if self.failure else "COMPLETED", self.failure)
        except Exception as e:  # noqa: BLE001 - a bug here must fail the job, not the emulator
            traceback.print_exc()
            self.end("FAILED", f"Internal error of the emulator: {e!r}")

    def end(self, state, message=None):
        self.state = state
        self.message = message
        self.completed = time.time()

    def percent(self):
        return {"COMPLETED": "100.0", "RUNNING": "50.0"}.get(self.state, "0.0")

    def on_running(self, emulator):
        pass

    def on_finish(self, emulator):
        """Does the work; answers why it failed, or None."""
        return None


class BackupJob(Job):
    def __init__(self, region, params, vault, table_name):
        super().__init__(region, params["IamRoleArn"])
        self.vault_name = vault.backup_vault_name
        self.vault_arn = vault.backup_vault_arn
        self.encryption_key_arn = getattr(vault, "encryption_key_arn", None)
        self.resource_arn = params["ResourceArn"]
        self.table_name = table_name
        self.lifecycle = params["Lifecycle"]
        self.backup_options = params.get("BackupOptions")
        self.start_window = params.get("StartWindowMinutes") or 480
        self.recovery_point_arn = (
            f"arn:{get_partition(region)}:backup:{region}:{account_id()}:recovery-point:{new_id()}"
        )
        self.snapshot = None
        self.snapshot_at = None
        self.size = None

    def on_running(self, emulator):
        table = dynamo(self.region).tables.get(self.table_name)
        if table is None:
            self.failure = f"Resource {self.resource_arn} was not found: the table no longer exists"
            return
        # DynamoDB catalogs the backup now; it joins moto's backups only when the job completes.
        self.snapshot = DynamoBackup(
            account_id(), self.region, f"AwsBackup-{self.id}", table, type_="AWS_BACKUP"
        )
        self.snapshot_at = time.time()
        self.size = sum(item.size() for item in self.snapshot.table.all_items())

    def on_finish(self, emulator):
        vault = vaults_of(self.region).get(self.vault_name)
        if vault is None:
            return f"Backup vault {self.vault_name} no longer exists"
        violation = vault_lock_violation(vault, self.lifecycle)
        if violation:
            return violation
        dynamo(self.region).backups[self.snapshot.arn] = self.snapshot
        point = RecoveryPoint(
            self.recovery_point_arn, self.region, vault, self.resource_arn, self.role,
            self.lifecycle, self.snapshot, self.size, self.snapshot_at, self.created,
        )
        emulator.add_point(point, vault)
        return None

    def describe(self):
        return {
            "AccountId": self.account,
            "BackupJobId": self.id,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "VaultType": "BACKUP_VAULT",
            "RecoveryPointArn": self.recovery_point_arn,
            "RecoveryPointLifecycle": self.lifecycle or None,
            "EncryptionKeyArn": self.encryption_key_arn,
            "IsEncrypted": True,
            "ResourceArn": self.resource_arn,
            "ResourceName": self.table_name,
            "ResourceType": RESOURCE_TYPE,
            "CreationDate": self.created,
            "CompletionDate": self.completed,
            "State": self.state,
            "StatusMessage": self.message,
            "PercentDone": self.percent(),
            "BackupSizeInBytes": self.size,
            "BytesTransferred": self.size if self.state == "COMPLETED" else None,
            "IamRoleArn": self.role,
            "StartBy": self.created + self.start_window * 60,
            "ExpectedCompletionDate": self.done_at if self.active else None,
            "BackupOptions": self.backup_options,
            "IsParent": False,
            "NumberOfChildJobs": 0,
        }


class CopyJob(Job):
    def __init__(self, region, params, source_point, dest, dest_vault_name):
        super().__init__(region, params["IamRoleArn"])
        self.source_point = source_point
        self.source_point_arn = source_point.arn
        self.source_vault_arn = source_point.vault_arn
        self.resource_arn = source_point.resource_arn
        self.resource_name = source_point.resource_name
        self.size = source_point.size
        self.dest_vault_arn = params["DestinationBackupVaultArn"]
        self.dest_region = dest["region"]
        self.dest_account = dest["account"]
        self.dest_vault_name = dest_vault_name
        self.lifecycle = params["Lifecycle"]
        self.dest_point_arn = None

    def on_finish(self, emulator):
        source = emulator.points.get(self.source_point_arn)
        if source is None:
            return f"Source recovery point {self.source_point_arn} no longer exists"
        backup = dynamo(self.region).backups.get(source.ddb_backup_arn)
        if backup is None:
            return f"The DynamoDB backup of recovery point {self.source_point_arn} no longer exists"
        vault = vaults_of(self.dest_region, self.dest_account).get(self.dest_vault_name)
        if vault is None:
            return f"Destination backup vault {self.dest_vault_arn} does not exist"
        if self.dest_account != self.account and not copy_allowed(vault, self.account, self.role, emulator.organization):
            # The words AWS's knowledge center quotes for a destination vault whose access
            # policy does not let the source account copy in.
            return (
                "Access Denied trying to call AWS Backup service: the access policy of destination backup vault "
                f"{self.dest_vault_arn} does not allow account {self.account} backup:CopyIntoBackupVault"
            )
        violation = vault_lock_violation(vault, self.lifecycle)
        if violation:
            return violation
        copied = materialize(backup, self.dest_region, f"AwsBackupCopy-{self.id}", self.dest_account)
        dynamo(self.dest_region, self.dest_account).backups[copied.arn] = copied
        arn = (
            f"arn:{get_partition(self.dest_region)}:backup:{self.dest_region}:{self.dest_account}:recovery-point:{new_id()}"
        )
        point = RecoveryPoint(
            arn, self.dest_region, vault, source.resource_arn, self.role, self.lifecycle,
            copied, source.size, time.time(), self.created,
        )
        point.source_vault_arn = source.vault_arn
        emulator.add_point(point, vault)
        self.dest_point_arn = arn
        return None

    def describe(self):
        return {
            "AccountId": self.account,
            "CopyJobId": self.id,
            "SourceBackupVaultArn": self.source_vault_arn,
            "SourceRecoveryPointArn": self.source_point_arn,
            "DestinationBackupVaultArn": self.dest_vault_arn,
            "DestinationVaultType": "BACKUP_VAULT",
            "DestinationRecoveryPointArn": self.dest_point_arn,
            "DestinationRecoveryPointLifecycle": self.lifecycle or None,
            "ResourceArn": self.resource_arn,
            "ResourceName": self.resource_name,
            "ResourceType": RESOURCE_TYPE,
            "CreationDate": self.created,
            "CompletionDate": self.completed,
            "State": self.state,
            "StatusMessage": self.message,
            "BackupSizeInBytes": self.size,
            "IamRoleArn": self.role,
            "IsParent": False,
        }


class RestoreJob(Job):
    first_state = "PENDING"

    def __init__(self, region, params, point, target):
        super().__init__(region, params.get("IamRoleArn"))
        self.point_arn = point.arn
        self.vault_arn = point.vault_arn
        self.source_resource_arn = point.resource_arn
        self.point_created = point.created
        self.size = point.size
        self.target = target
        self.created_arn = None

    def on_finish(self, emulator):
        point = emulator.points.get(self.point_arn)
        if point is None:
            return f"Recovery point {self.point_arn} no longer exists"
        ddb = dynamo(self.region)
        if point.ddb_backup_arn not in ddb.backups:
            return f"The DynamoDB backup of recovery point {self.point_arn} no longer exists"
        try:
            table = ddb.restore_table_from_backup(self.target, point.ddb_backup_arn)
        except TableAlreadyExistsException as e:
            return f"DynamoDB refused the restore: {e.message}"
        self.created_arn = table.table_arn
        point.last_restore = time.time()
        return None

    def describe(self):
        return {
            "AccountId": self.account,
            "RestoreJobId": self.id,
            "RecoveryPointArn": self.point_arn,
            "SourceResourceArn": self.source_resource_arn,
            "BackupVaultArn": self.vault_arn,
            "CreationDate": self.created,
            "CompletionDate": self.completed,
            "Status": self.state,
            "StatusMessage": self.message,
            "PercentDone": self.percent(),
            "BackupSizeInBytes": self.size,
            "IamRoleArn": self.role,
            "ExpectedCompletionTimeMinutes": 1,
            "CreatedResourceArn": self.created_arn,
            "ResourceType": RESOURCE_TYPE,
            "RecoveryPointCreationDate": self.point_created,
            "IsParent": False,
        }


def materialize(backup, dest_region, name, dest_account):
    """A DynamoDB backup in dest_region of dest_account holding the same table model and items
    as `backup`."""
    source = backup.table
    table = DynamoTable(
        source.name,
        account_id=dest_account,
        region=dest_region,
        schema=copy.deepcopy(source.schema),
        attr=copy.deepcopy(source.attr),
        throughput={k: v for k, v in source.throughput.items() if k != "NumberOfDecreasesToday"},
        billing_mode=source.billing_mode,
    )
    table.indexes = copy.deepcopy(source.indexes)
    table.global_indexes = copy.deepcopy(source.global_indexes)
    table.items = copy.deepcopy(source.items)
    return DynamoBackup(dest_account, dest_region, name, table, type_="AWS_BACKUP")


# ---------------------------------------------------------------------------------------------
# The emulator


class Emulator:
    def __init__(self, moto_app):
        self.moto_app = moto_app
        self.model = Model()
        self.lock = threading.RLock()
        self.calls = Counter()
        self.faults = copy.deepcopy(FAULT_DEFAULTS)
        self.organization = organization_from_env()
        self.clear()
        self.handlers = {
            "StartBackupJob": self.start_backup_job,
            "DescribeBackupJob": self.describe_backup_job,
            "ListBackupJobs": self.list_backup_jobs,
            "StopBackupJob": self.stop_backup_job,
            "StartCopyJob": self.start_copy_job,
            "DescribeCopyJob": self.describe_copy_job,
            "ListCopyJobs": self.list_copy_jobs,
            "StartRestoreJob": self.start_restore_job,
            "DescribeRestoreJob": self.describe_restore_job,
            "ListRestoreJobs": self.list_restore_jobs,
            "DescribeRecoveryPoint": self.describe_recovery_point,
            "DeleteRecoveryPoint": self.delete_recovery_point,
            "ListRecoveryPointsByBackupVault": self.list_points_by_vault,
            "ListRecoveryPointsByResource": self.list_points_by_resource,
            "GetRecoveryPointRestoreMetadata": self.restore_metadata,
            "DeleteBackupVault": self.delete_backup_vault,
            "PutBackupVaultAccessPolicy": self.put_access_policy,
            "GetBackupVaultAccessPolicy": self.get_access_policy,
            "DeleteBackupVaultAccessPolicy": self.delete_access_policy,
        }

    def clear(self):
        self.backup_jobs = {}
        self.copy_jobs = {}
        self.restore_jobs = {}
        self.points = {}
        self.tokens = {}

    # -- the clock ------------------------------------------------------------------------------

    def advance(self):
        now = time.time()
        for jobs in (self.backup_jobs, self.copy_jobs, self.restore_jobs):
            for job in jobs.values():
                if job.active:
                    job.advance(self, now)
        for point in list(self.points.values()):
            delete_at = (point.calculated_lifecycle() or {}).get("DeleteAt")
            if delete_at is not None and now >= delete_at:
                self.remove_point(point)

    def run_clock(self):
        while True:
            time.sleep(TICK_SECONDS)
            with self.lock:
                try:
                    self.advance()
                except Exception:  # noqa: BLE001 - keep ticking whatever happens
                    traceback.print_exc()

    # -- recovery points -----------------------------------------------------------------------

    def add_point(self, point, vault):
        self.points[point.arn] = point
        self.count_in(vault, point.region, point.account)

    def remove_point(self, point):
        self.points.pop(point.arn, None)
        dynamo(point.region, point.account).backups.pop(point.ddb_backup_arn, None)
        vault = vaults_of(point.region, point.account).get(point.vault_name)
        if vault is not None:
            self.count_in(vault, point.region, point.account)

    def count_in(self, vault, region, account=None):
        """Keeps moto's vault counter in step: ListBackupVaults reads num_of_recovery_points,
        DescribeBackupVault's serializer number_of_recovery_points."""
        count = self.count_points(region, vault.backup_vault_name, account)
        vault.num_of_recovery_points = count
        vault.number_of_recovery_points = count

    def count_points(self, region, vault_name, account=None):
        account = account or account_id()
        return sum(
            1 for p in self.points.values() if p.account == account and p.region == region and p.vault_name == vault_name
        )

    def vault(self, region, name):
        vault = vaults_of(region).get(name)
        if vault is None:
            if self.faults["missingVaultError"] == "AccessDeniedException":
                raise ApiError("AccessDeniedException", "Insufficient privileges to perform this action.", 403)
            raise ApiError("ResourceNotFoundException", f"Backup vault {name} does not exist in {region}")
        return vault

    def point_in_vault(self, region, vault_name, arn):
        self.vault(region, vault_name)
        point = self.points.get(arn)
        if point is None or point.account != account_id() or point.region != region or point.vault_name != vault_name:
            raise ApiError(
                "ResourceNotFoundException", f"Recovery point {arn} does not exist in backup vault {vault_name}"
            )
        return point

    # -- shared checks -------------------------------------------------------------------------

    def check_pass_role(self, role):
        denied = self.faults["denyPassRole"]
        if role and ("*" in denied or role in denied):
            caller = f"arn:{get_partition('us-east-1')}:sts::{account_id()}:user/moto"
            raise ApiError(
                "AccessDeniedException",
                f"User: {caller} is not authorized to perform: iam:PassRole on resource: {role}",
                403,
            )
        if role is not None and not ROLE_ARN.match(role):
            raise invalid(f"Invalid IAM role ARN: {role}")
        if role is not None and parse_arn(role)["account"] != account_id():
            # A role is passed to AWS Backup only within its own account.
            caller = f"arn:{get_partition('us-east-1')}:sts::{account_id()}:user/moto"
            raise ApiError(
                "AccessDeniedException",
                f"User: {caller} is not authorized to perform: iam:PassRole on resource: {role} (a role of another account)",
                403,
            )

    def replay(self, op, region, params, jobs):
        """The job an earlier call with the same IdempotencyToken and parameters started."""
        token = params.get("IdempotencyToken")
        if not token:
            return None
        entry = self.tokens.get((account_id(), op, region, token))
        if entry is None:
            return None
        fingerprint, job_id, at = entry
        if fingerprint != self.fingerprint(params) or time.time() - at > IDEMPOTENCY_WINDOW:
            return None
        return jobs.get(job_id)

    def remember(self, op, region, params, job):
        token = params.get("IdempotencyToken")
        if token:
            self.tokens[(account_id(), op, region, token)] = (self.fingerprint(params), job.id, job.created)

    @staticmethod
    def fingerprint(params):
        rest = {k: v for k, v in params.items() if k != "IdempotencyToken"}
        return json.dumps(rest, sort_keys=True, default=str)

    @staticmethod
    def fails(setting, arn):
        return setting is True or (isinstance(setting, list) and arn in setting)

    # -- backup jobs ---------------------------------------------------------------------------

    def start_backup_job(self, region, params):
        self.check_pass_role(params["IamRoleArn"])
        job = self.replay("StartBackupJob", region, params, self.backup_jobs)
        if job is None:
            arn = parse_arn(params["ResourceArn"])
            if arn is None:
                raise invalid(f"Invalid resource ARN: {params['ResourceArn']}")
            if arn["service"] != "dynamodb" or not arn["resource"].startswith("table/") or "/" in arn["resource"][6:]:
                raise invalid(
                    f"Resource {params['ResourceArn']} is not a DynamoDB table; this emulator backs up DynamoDB tables only"
                )
            if arn["region"] != region:
                raise invalid(f"Resource {params['ResourceArn']} is not in the request's Region {region}")
            if arn["account"] != account_id():
                raise invalid(f"Resource {params['ResourceArn']} belongs to another account")
            if params.get("LogicallyAirGappedBackupVaultArn"):
                raise invalid("Logically air-gapped vaults are not emulated")
            window = params.get("StartWindowMinutes")
            if window is not None and window < 60:
                raise invalid("StartWindowMinutes must be at least 60 minutes")
            vault = self.vault(region, params["BackupVaultName"])
            table_name = arn["resource"][len("table/"):]
            if table_name not in dynamo(region).tables:
                raise ApiError("ResourceNotFoundException", f"Resource {params['ResourceArn']} not found")
            job = BackupJob(region, dict(params, Lifecycle=lifecycle_of(params.get("Lifecycle"))), vault, table_name)
            if self.fails(self.faults["failBackupJobs"], job.resource_arn):
                job.failure = f"Backup job failed: the emulator's failBackupJobs fault covers {job.resource_arn}"
            self.backup_jobs[job.id] = job
            self.remember("StartBackupJob", region, params, job)
        return {
            "BackupJobId": job.id,
            "RecoveryPointArn": job.recovery_point_arn,
            "CreationDate": job.created,
            "IsParent": False,
        }

    def backup_job(self, region, job_id):
        job = self.backup_jobs.get(job_id)
        if job is None or job.account != account_id() or job.region != region:
            raise ApiError("ResourceNotFoundException", f"Backup job {job_id} not found")
        return job

    def describe_backup_job(self, region, params):
        job = self.backup_job(region, params["BackupJobId"])
        return self.model.project("DescribeBackupJobOutput", job.describe())

    def stop_backup_job(self, region, params):
        job = self.backup_job(region, params["BackupJobId"])
        if not job.active:
            raise ApiError("InvalidRequestException", f"Backup job {job.id} is {job.state} and cannot be stopped")
        job.end("ABORTED", "Backup job was stopped by StopBackupJob")
        return {}

    def list_backup_jobs(self, region, params):
        fields = {"ByResourceArn": "ResourceArn", "ByState": "State", "ByBackupVaultName": "BackupVaultName"}
        jobs = [j for j in self.backup_jobs.values() if job_listed(j, region, params, fields)]
        page, token = paginate(jobs, params)
        return {"BackupJobs": [self.model.project("BackupJob", j.describe()) for j in page], "NextToken": token}

    # -- copy jobs -----------------------------------------------------------------------------

    def start_copy_job(self, region, params):
        self.check_pass_role(params["IamRoleArn"])
        job = self.replay("StartCopyJob", region, params, self.copy_jobs)
        if job is None:
            dest = parse_arn(params["DestinationBackupVaultArn"])
            if dest is None or dest["service"] != "backup" or not dest["resource"].startswith("backup-vault:"):
                raise invalid(f"Invalid destination backup vault ARN: {params['DestinationBackupVaultArn']}")
            if dest["account"] != account_id():
                self.check_cross_account(dest["account"])
            source = self.point_in_vault(region, params["SourceBackupVaultName"], params["RecoveryPointArn"])
            lifecycle = lifecycle_of(params.get("Lifecycle"))
            job = CopyJob(region, dict(params, Lifecycle=lifecycle), source, dest, dest["resource"][len("backup-vault:"):])
            if job.dest_vault_arn in self.faults["failCopiesTo"]:
                job.failure = (
                    f"Copy job failed: the emulator's failCopiesTo fault covers the destination vault {job.dest_vault_arn}"
                )
            self.copy_jobs[job.id] = job
            self.remember("StartCopyJob", region, params, job)
        return {"CopyJobId": job.id, "CreationDate": job.created, "IsParent": False}

    def check_cross_account(self, dest_account):
        """A copy to another account: both accounts in the organization, which turned
        cross-account backup on (AWS Backup's DescribeGlobalSettings isCrossAccountBackupEnabled).
        The error code and words are the emulator's: AWS does not document them."""
        org = self.organization
        members = org["accounts"]
        if not org["crossAccountBackup"] or account_id() not in members or dest_account not in members:
            raise ApiError(
                "InvalidRequestException",
                f"Cross-account backup is not enabled between account {account_id()} and account {dest_account}: both must "
                "belong to one organization whose management account turned cross-account backup on",
            )

    def describe_copy_job(self, region, params):
        job = self.copy_jobs.get(params["CopyJobId"])
        if job is None or job.account != account_id() or job.region != region:
            raise ApiError("ResourceNotFoundException", f"Copy job {params['CopyJobId']} not found")
        return {"CopyJob": self.model.project("CopyJob", job.describe())}

    def list_copy_jobs(self, region, params):
        fields = {
            "ByResourceArn": "ResourceArn",
            "ByState": "State",
            "ByDestinationVaultArn": "DestinationBackupVaultArn",
            "BySourceRecoveryPointArn": "SourceRecoveryPointArn",
        }
        jobs = [j for j in self.copy_jobs.values() if job_listed(j, region, params, fields)]
        page, token = paginate(jobs, params)
        return {"CopyJobs": [self.model.project("CopyJob", j.describe()) for j in page], "NextToken": token}

    # -- restore jobs --------------------------------------------------------------------------

    def start_restore_job(self, region, params):
        self.check_pass_role(params.get("IamRoleArn"))
        job = self.replay("StartRestoreJob", region, params, self.restore_jobs)
        if job is None:
            arn = params["RecoveryPointArn"]
            parsed = parse_arn(arn)
            if parsed is None or parsed["service"] != "backup" or not parsed["resource"].startswith("recovery-point:"):
                raise invalid(f"Invalid recovery point ARN: {arn}")
            if parsed["region"] != region:
                raise invalid(
                    f"Recovery point {arn} is in Region {parsed['region']}; restore it there, not in {region}"
                )
            point = self.points.get(arn)
            if point is None or point.account != account_id():
                raise ApiError("ResourceNotFoundException", f"Recovery point {arn} not found")
            if params.get("ResourceType") not in (None, RESOURCE_TYPE):
                raise invalid(f"ResourceType {params['ResourceType']} does not match the recovery point's (DynamoDB)")
            metadata = params.get("Metadata") or {}
            target = metadata.get("targetTableName")
            if not target:
                raise ApiError("MissingParameterValueException", "Metadata must name the new table: targetTableName")
            if not TABLE_NAME.match(target):
                raise invalid(f"Invalid targetTableName: {target}")
            job = RestoreJob(region, params, point, target)
            if self.fails(self.faults["failRestoreJobs"], arn):
                job.failure = f"Restore job failed: the emulator's failRestoreJobs fault covers {arn}"
            self.restore_jobs[job.id] = job
            self.remember("StartRestoreJob", region, params, job)
        return {"RestoreJobId": job.id}

    def describe_restore_job(self, region, params):
        job = self.restore_jobs.get(params["RestoreJobId"])
        if job is None or job.account != account_id() or job.region != region:
            raise ApiError("ResourceNotFoundException", f"Restore job {params['RestoreJobId']} not found")
        return self.model.project("DescribeRestoreJobOutput", job.describe())

    def list_restore_jobs(self, region, params):
        if params.get("ByRestoreTestingPlanArn") is not None:
            return {"RestoreJobs": [], "NextToken": None}
        jobs = [j for j in self.restore_jobs.values() if job_listed(j, region, params, {"ByStatus": "Status"})]
        page, token = paginate(jobs, params)
        return {
            "RestoreJobs": [self.model.project("RestoreJobsListMember", j.describe()) for j in page],
            "NextToken": token,
        }

    # -- recovery points -----------------------------------------------------------------------

    def describe_recovery_point(self, region, params):
        point = self.point_in_vault(region, params["BackupVaultName"], params["RecoveryPointArn"])
        return self.model.project("DescribeRecoveryPointOutput", point.describe(time.time()))

    def delete_recovery_point(self, region, params):
        point = self.point_in_vault(region, params["BackupVaultName"], params["RecoveryPointArn"])
        busy = [j for j in self.copy_jobs.values() if j.active and j.source_point_arn == point.arn]
        busy += [j for j in self.restore_jobs.values() if j.active and j.point_arn == point.arn]
        if busy:
            raise ApiError(
                "InvalidResourceStateException",
                f"AWS Backup is already performing an action on recovery point {point.arn} (job {busy[0].id}); try again later",
            )
        vault = vaults_of(region)[point.vault_name]
        least = vault.min_retention_days if getattr(vault, "locked", False) else None
        age = time.time() - point.created
        if least is not None and age < least * DAY:
            raise ApiError(
                "InvalidRequestException",
                f"Recovery point {point.arn} cannot be deleted: backup vault {vault.backup_vault_name} has a Vault Lock "
                f"that keeps recovery points at least {least} days (MinRetentionDays), and this one is "
                f"{age / DAY:.2f} days old",
            )
        self.remove_point(point)
        return {}

    def list_points_by_vault(self, region, params):
        self.vault(region, params["BackupVaultName"])
        now = time.time()

        def keep(p):
            return (
                p.account == account_id()
                and p.region == region
                and p.vault_name == params["BackupVaultName"]
                and params.get("ByResourceArn") in (None, p.resource_arn)
                and params.get("ByResourceType") in (None, RESOURCE_TYPE)
                and params.get("ByBackupPlanId") is None
                and params.get("ByParentRecoveryPointArn") is None
                and in_window(p.created, params.get("ByCreatedAfter"), params.get("ByCreatedBefore"))
            )

        points = [p for p in self.points.values() if keep(p)]
        page, token = paginate(points, params)
        return {
            "RecoveryPoints": [self.model.project("RecoveryPointByBackupVault", p.describe(now)) for p in page],
            "NextToken": token,
        }

    def list_points_by_resource(self, region, params):
        now = time.time()
        points = [
            p
            for p in self.points.values()
            if p.account == account_id() and p.region == region and p.resource_arn == params["ResourceArn"]
        ]
        page, token = paginate(points, params)
        return {
            "RecoveryPoints": [self.model.project("RecoveryPointByResource", p.describe(now)) for p in page],
            "NextToken": token,
        }

    def restore_metadata(self, region, params):
        point = self.point_in_vault(region, params["BackupVaultName"], params["RecoveryPointArn"])
        return {
            "BackupVaultArn": point.vault_arn,
            "RecoveryPointArn": point.arn,
            "RestoreMetadata": {"targetTableName": point.resource_name, "encryptionType": "Default"},
            "ResourceType": RESOURCE_TYPE,
        }

    def delete_backup_vault(self, region, params):
        name = params["BackupVaultName"]
        if self.count_points(region, name):
            raise ApiError(
                "InvalidRequestException",
                f"Backup vault {name} cannot be deleted because it contains recovery points; a vault can be deleted only if it is empty",
            )
        return None  # empty: moto deletes it

    # -- vault access policies (moto 5.2.5 has none) -------------------------------------------

    def put_access_policy(self, region, params):
        vault = self.vault(region, params["BackupVaultName"])
        policy = params.get("Policy")
        try:
            parsed = json.loads(policy) if policy else None
        except json.JSONDecodeError as e:
            raise invalid(f"Policy is not valid JSON: {e}") from e
        if not isinstance(parsed, dict) or not isinstance(parsed.get("Statement"), (list, dict)):
            raise invalid("Policy must be a JSON policy document with a Statement")
        for statement in as_list(parsed["Statement"]):
            if any("*" in action for action in as_list(statement.get("Action", []))):
                raise invalid("Backup vault access policies do not support a wildcard in Action")
        vault.emulator_access_policy = policy
        return {}

    def get_access_policy(self, region, params):
        vault = self.vault(region, params["BackupVaultName"])
        policy = getattr(vault, "emulator_access_policy", None)
        if not policy:
            raise ApiError("ResourceNotFoundException", f"Backup vault {vault.backup_vault_name} has no access policy")
        return {"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn, "Policy": policy}

    def delete_access_policy(self, region, params):
        vault = self.vault(region, params["BackupVaultName"])
        vault.emulator_access_policy = None
        return {}

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_emulator" or path.startswith("/_emulator/"):
            return self.control(environ, start_response)
        service, region = credential_scope(environ)
        if service == "backup":
            return self.backup(environ, start_response, region)
        if environ.get("REQUEST_METHOD") == "POST" and path.rstrip("/") == "/moto-api/reset":
            response = self.pass_to_moto(environ, start_response, locked=True)
            with self.lock:
                self.clear()
            return response
        return self.pass_to_moto(environ, start_response, locked=service == "dynamodb")

    def pass_to_moto(self, environ, start_response, locked):
        if not locked:
            return self.moto_app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return captured.setdefault("written", []).append

        with self.lock:
            result = self.moto_app(environ, capture)
            try:
                body = b"".join(captured.get("written", [])) + b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        start_response(captured["status"], captured["headers"])
        return [body]

    def backup(self, environ, start_response, region):
        method = environ.get("REQUEST_METHOD", "GET")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        op, labels = self.model.match(method, raw_path(environ), query)
        with self.lock:
            self.calls[op or "Unrecognized"] += 1
        handler = self.handlers.get(op)
        if handler is None:
            return self.pass_to_moto(environ, start_response, locked=True)
        try:
            body = {}
            if self.model.has_body(op):
                raw = Request(environ).get_data()
                body = json.loads(raw) if raw.strip() else {}
                if not isinstance(body, dict):
                    raise ApiError("SerializationException", "The request body must be a JSON object")
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            params = self.model.parse_input(op, labels, query, headers, body)
            account = request_account(environ)
            with self.lock:
                self.advance()
                with acting_as(account):
                    result = handler(region, params)
        except ApiError as e:
            return error_response(start_response, e)
        except json.JSONDecodeError as e:
            return error_response(start_response, ApiError("SerializationException", f"Invalid JSON body: {e}"))
        except Exception as e:  # noqa: BLE001 - answer, and keep serving
            traceback.print_exc()
            return error_response(start_response, ApiError("ServiceUnavailableException", f"Emulator error: {e!r}", 500))
        if result is None:
            return self.pass_to_moto(environ, start_response, locked=True)
        return json_response(start_response, 200, {k: v for k, v in result.items() if v is not None})

    def control(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "").rstrip("/")
        with self.lock:
            if path == "/_emulator/calls" and method == "GET":
                return json_response(start_response, 200, dict(self.calls))
            if path == "/_emulator/faults" and method == "GET":
                return json_response(start_response, 200, self.faults)
            if path == "/_emulator/faults" and method == "POST":
                try:
                    raw = Request(environ).get_data()
                    self.faults = validate_faults(json.loads(raw) if raw.strip() else {})
                except (ValueError, TypeError) as e:
                    return json_response(start_response, 400, {"Message": str(e)})
                return json_response(start_response, 200, self.faults)
            if path == "/_emulator/organization" and method == "GET":
                return json_response(start_response, 200, self.organization)
            if path == "/_emulator/organization" and method == "POST":
                try:
                    raw = Request(environ).get_data()
                    self.organization = validate_organization(json.loads(raw) if raw.strip() else {})
                except (ValueError, TypeError) as e:
                    return json_response(start_response, 400, {"Message": str(e)})
                return json_response(start_response, 200, self.organization)
            if path == "/_emulator/reset" and method == "POST":
                self.organization = organization_from_env()
                self.faults = copy.deepcopy(FAULT_DEFAULTS)
                self.calls.clear()
                return json_response(start_response, 200, {"faults": self.faults, "calls": {}})
            if path == "/_emulator/state" and method == "GET":
                self.advance()
                return json_response(start_response, 200, self.state())
        return json_response(start_response, 404, {"Message": f"No control endpoint {method} {path}"})

    def state(self):
        now = time.time()
        return {
            "backupJobs": [j.describe() for j in self.backup_jobs.values()],
            "copyJobs": [j.describe() for j in self.copy_jobs.values()],
            "restoreJobs": [j.describe() for j in self.restore_jobs.values()],
            "recoveryPoints": [
                dict(p.describe(now), Region=p.region, AccountId=p.account, DynamoDbBackupArn=p.ddb_backup_arn)
                for p in self.points.values()
            ],
        }


def validate_faults(value):
    if not isinstance(value, dict):
        raise ValueError("faults must be a JSON object")
    unknown = set(value) - set(FAULT_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown faults: {sorted(unknown)}; known: {sorted(FAULT_DEFAULTS)}")
    faults = copy.deepcopy(FAULT_DEFAULTS)
    faults.update(value)
    for key in ("denyPassRole", "failCopiesTo"):
        if not isinstance(faults[key], list) or not all(isinstance(x, str) for x in faults[key]):
            raise ValueError(f"{key} must be a list of ARNs")
    for key in ("failBackupJobs", "failRestoreJobs"):
        v = faults[key]
        if not isinstance(v, bool) and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
            raise ValueError(f"{key} must be true, false or a list of ARNs")
    if faults["missingVaultError"] not in ("ResourceNotFoundException", "AccessDeniedException"):
        raise ValueError("missingVaultError must be ResourceNotFoundException or AccessDeniedException")
    return faults


def in_window(at, after, before):
    return (after is None or at > after) and (before is None or at < before)


def completed_in(at, after, before):
    if after is None and before is None:
        return True
    return at is not None and in_window(at, after, before)


def job_listed(job, region, params, fields):
    """The filters every List*Jobs shares (region, resource type, account, no parent jobs,
    creation and completion windows), and `fields`: a filter's name -> the job's member."""
    d = job.describe()
    return (
        job.account == account_id()
        and job.region == region
        and params.get("ByResourceType") in (None, RESOURCE_TYPE)
        and params.get("ByAccountId") in (None, "*", account_id())
        and params.get("ByParentJobId") is None
        and in_window(d["CreationDate"], params.get("ByCreatedAfter"), params.get("ByCreatedBefore"))
        and completed_in(d.get("CompletionDate"), params.get("ByCompleteAfter"), params.get("ByCompleteBefore"))
        and all(params.get(name) in (None, d.get(member)) for name, member in fields.items())
    )


def paginate(items, params):
    size = params.get("MaxResults") or 1000
    if not 1 <= size <= 1000:
        raise invalid("MaxResults must be between 1 and 1000")
    try:
        start = int(params.get("NextToken") or 0)
    except ValueError as e:
        raise invalid(f"Invalid NextToken: {params.get('NextToken')}") from e
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def credential_scope(environ):
    """(service, region) of a SigV4 request's credential scope, or (None, None)."""
    credential = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        credential = auth.split("Credential=", 1)[1].split(",", 1)[0].strip()
    else:
        values = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential")
        credential = values[0] if values else None
    parts = (credential or "").split("/")
    if len(parts) != 5:
        return None, None
    return parts[3].lower(), parts[2]


def raw_path(environ):
    """The path as the client sent it (labels still percent-encoded, so an ARN's / stays in it)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("PATH_INFO", "")
    raw = raw.split("?", 1)[0]
    if raw.startswith(("http://", "https://")):
        raw = "/" + raw.split("://", 1)[1].partition("/")[2]
    return raw


def json_response(start_response, status, payload, headers=()):
    body = json.dumps(payload).encode()
    start_response(
        f"{status} {http.HTTPStatus(status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *headers,
        ],
    )
    return [body]


def error_response(start_response, error):
    return json_response(
        start_response,
        error.status,
        {"Code": error.code, "Message": error.message},
        [("x-amzn-ErrorType", error.code)],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="moto's server with AWS Backup jobs and recovery points")
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)), help="port")
    args = parser.parse_args(argv)
    # moto builds some URLs from the port it serves on, as moto_server sets it.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))

    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True
    emulator = Emulator(moto_app)
    threading.Thread(target=emulator.run_clock, name="aws-backup-jobs", daemon=True).start()
    print(
        f"AWS Backup emulator on moto: http://{args.host}:{args.port} (jobs take {JOB_SECONDS:g} s)",
        file=sys.stderr,
        flush=True,
    )
    run_simple(args.host, args.port, emulator, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
