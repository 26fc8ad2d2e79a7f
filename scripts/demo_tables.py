"""Table chores for the demo, run with the python of moto's venv (it has boto3).

    demo_tables.py seed TABLE        create TABLE with a few orders
    demo_tables.py items TABLE       print TABLE's items, one per line
    demo_tables.py change TABLE      delete one order and add another
"""
import os
import sys

import boto3

ddb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])


def seed(table):
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n, item in enumerate(["keyboard", "monitor", "desk lamp"], start=1):
        ddb.put_item(TableName=table, Item={"orderId": {"S": f"order-{n}"}, "item": {"S": item}})


def items(table):
    found = ddb.scan(TableName=table)["Items"]
    for item in sorted(found, key=lambda i: i["orderId"]["S"]):
        print(f"  {item['orderId']['S']}: {item['item']['S']}")


def change(table):
    ddb.delete_item(TableName=table, Key={"orderId": {"S": "order-2"}})
    ddb.put_item(TableName=table, Item={"orderId": {"S": "order-4"}, "item": {"S": "chair"}})


if __name__ == "__main__":
    {"seed": seed, "items": items, "change": change}[sys.argv[1]](sys.argv[2])
