"""Table chores for the demo, run with the python of moto's venv (it has boto3).

    demo_tables.py seed TABLE               create TABLE with a few orders
    demo_tables.py items TABLE [REGION [ROLE]]   print TABLE's items, one per line
    demo_tables.py change TABLE             delete one order and add another
    demo_tables.py vault NAME REGION [ROLE] create the AWS Backup vault NAME in REGION; with ROLE,
                                            in ROLE's account, open to copies from this account
    demo_tables.py points NAME REGION [ROLE]
                                            print the recovery points of vault NAME

ROLE is a role of another account, assumed through STS: the call is made in that account.
"""
import json
import os
import sys

import boto3

ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])


def session(role=None):
    """This account's session, or one of ROLE's account through STS."""
    if not role:
        return boto3.session.Session()
    sts = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL_STS"])
    c = sts.assume_role(RoleArn=role, RoleSessionName="demo")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"]
    )


def backup_client(region, role=None):
    return session(role).client("backup", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL_BACKUP"])


def seed(table):
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n, item in enumerate(["keyboard", "monitor", "desk lamp"], start=1):
        ddb.put_item(TableName=table, Item={"orderId": {"S": f"order-{n}"}, "item": {"S": item}})


def items(table, region=None, role=None):
    client = session(role).client("dynamodb", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"]) if region else ddb
    found = client.scan(TableName=table)["Items"]
    for item in sorted(found, key=lambda i: i["orderId"]["S"]):
        print(f"  {item['orderId']['S']}: {item['item']['S']}")


def change(table):
    ddb.delete_item(TableName=table, Key={"orderId": {"S": "order-2"}})
    ddb.put_item(TableName=table, Item={"orderId": {"S": "order-4"}, "item": {"S": "chair"}})


def vault(name, region, role=None):
    client = backup_client(region, role)
    client.create_backup_vault(BackupVaultName=name)
    if role:
        # The vault's access policy lets this (the production) account copy into it.
        me = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL_STS"]).get_caller_identity()["Account"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CopiesFromProduction",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{me}:root"},
                    "Action": "backup:CopyIntoBackupVault",
                    "Resource": "*",
                }
            ],
        }
        client.put_backup_vault_access_policy(BackupVaultName=name, Policy=json.dumps(policy))


def points(name, region, role=None):
    for point in backup_client(region, role).list_recovery_points_by_backup_vault(BackupVaultName=name)["RecoveryPoints"]:
        print(f"  {point['RecoveryPointArn']}  {point['Status']}  from {point['ResourceArn']}")


if __name__ == "__main__":
    {"seed": seed, "items": items, "change": change, "vault": vault, "points": points}[sys.argv[1]](*sys.argv[2:])
