"""Table chores for the demo, run with the python of moto's venv (it has boto3).

    demo_tables.py seed TABLE               create TABLE with a few orders
    demo_tables.py items TABLE [REGION]     print TABLE's items, one per line
    demo_tables.py change TABLE             delete one order and add another
    demo_tables.py vault NAME REGION        create the AWS Backup vault NAME in REGION
    demo_tables.py points NAME REGION       print the recovery points of vault NAME
"""
import os
import sys

import boto3

ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])


def backup_client(region):
    return boto3.client("backup", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL_BACKUP"])


def seed(table):
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n, item in enumerate(["keyboard", "monitor", "desk lamp"], start=1):
        ddb.put_item(TableName=table, Item={"orderId": {"S": f"order-{n}"}, "item": {"S": item}})


def items(table, region=None):
    client = boto3.client("dynamodb", region_name=region, endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"]) if region else ddb
    found = client.scan(TableName=table)["Items"]
    for item in sorted(found, key=lambda i: i["orderId"]["S"]):
        print(f"  {item['orderId']['S']}: {item['item']['S']}")


def change(table):
    ddb.delete_item(TableName=table, Key={"orderId": {"S": "order-2"}})
    ddb.put_item(TableName=table, Item={"orderId": {"S": "order-4"}, "item": {"S": "chair"}})


def vault(name, region):
    backup_client(region).create_backup_vault(BackupVaultName=name)


def points(name, region):
    for point in backup_client(region).list_recovery_points_by_backup_vault(BackupVaultName=name)["RecoveryPoints"]:
        print(f"  {point['RecoveryPointArn']}  {point['Status']}  from {point['ResourceArn']}")


if __name__ == "__main__":
    {"seed": seed, "items": items, "change": change, "vault": vault, "points": points}[sys.argv[1]](*sys.argv[2:])
