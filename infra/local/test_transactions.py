"""Self-test of moto_transactions.py: ClientRequestToken makes a retried commit a no-op.

Runs moto in-process (mock_aws, no server), with the patches moto_server.py installs.
"""

import unittest

import boto3
from moto import mock_aws

import moto_transactions

moto_transactions.install()


def put_new(pk):
    return {"Put": {"TableName": "t", "Item": {"pk": {"S": pk}},
                    "ConditionExpression": "attribute_not_exists(pk)"}}


@mock_aws
class ClientRequestToken(unittest.TestCase):
    def setUp(self):
        moto_transactions._COMMITTED.clear()
        self.db = boto3.client("dynamodb", region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
        self.db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    def test_a_retry_with_the_same_token_succeeds_without_applying_again(self):
        self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-1")
        # The SDK's retry of a commit whose answer was lost: same token, same items.
        self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-1")
        self.assertEqual(self.db.scan(TableName="t")["Count"], 1)

    def test_without_a_token_or_with_a_new_one_the_conditions_still_hold(self):
        self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-1")
        for token in (None, "tok-2"):
            kwargs = {"ClientRequestToken": token} if token else {}
            with self.assertRaises(self.db.exceptions.TransactionCanceledException):
                self.db.transact_write_items(TransactItems=[put_new("a")], **kwargs)

    def test_the_same_token_with_other_items_is_refused(self):
        self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-1")
        with self.assertRaises(self.db.exceptions.IdempotentParameterMismatchException):
            self.db.transact_write_items(TransactItems=[put_new("b")], ClientRequestToken="tok-1")
        self.assertEqual(self.db.scan(TableName="t")["Count"], 1)

    def test_a_cancelled_transaction_is_not_remembered(self):
        self.db.transact_write_items(TransactItems=[put_new("a")])
        with self.assertRaises(self.db.exceptions.TransactionCanceledException):
            self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-3")
        self.db.delete_item(TableName="t", Key={"pk": {"S": "a"}})
        self.db.transact_write_items(TransactItems=[put_new("a")], ClientRequestToken="tok-3")
        self.assertEqual(self.db.scan(TableName="t")["Count"], 1)


if __name__ == "__main__":
    unittest.main()
