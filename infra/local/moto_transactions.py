"""TransactWriteItems in moto 5.2.5 without copying whole tables.

moto makes a transaction atomic by deep-copying every table it touches before it starts and
putting the copies back if it fails. That costs time in proportion to the table's size on
every transaction: about 56 ms for 3,000 items, and with moto_server.py's DynamoDB lock held,
every other request waits behind it. A dev stack that has issued a few hundred credentials
then times out its own SDK calls (seen: 504s in bench/revocation.py).

Here only the items the transaction names are remembered (a deep copy of each, or "absent"),
together with the length of each table's stream shard; moto's whole-table copy becomes a
no-op; and a failed transaction is undone item by item, its stream records dropped. That is
exact because moto_server.py serialises DynamoDB requests: nothing else runs in between.

It also honours `ClientRequestToken` as DynamoDB does (moto ignores it): a transaction that
succeeded is remembered under its token for 10 minutes, and the same token with the same
items again answers success without applying anything; with other items it is an
`IdempotentParameterMismatchException`. Clavis relies on this when the SDK retries a commit
whose answer was lost (an attempt that timed out on a loaded machine): without it the retry's
conditions fail on the first attempt's own writes, and a new request reads as a repeat.

Installed by moto_server.py.
"""

import copy
import json
import time

from moto.core.responses import ActionResult
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.exceptions import DynamodbException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's transact_write_items: tables pass
    through uncopied, anything else is copied as before."""

    @staticmethod
    def deepcopy(value, memo=None):
        if isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key_of(table: Table, op_type: str, op: dict):
    attrs = op["Item"] if op_type == "Put" else op.get("Key", {})
    hash_value = attrs.get(table.hash_key_attr)
    range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
    if hash_value is None or (table.range_key_attr and range_value is None):
        return None
    return DynamoType(hash_value), (DynamoType(range_value) if range_value is not None else None)


def _restore(table: Table, hash_value, range_value, previous) -> None:
    if range_value is not None:
        if previous is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = previous
    elif previous is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = previous


def _undoable(transact_write_items):
    def transact(self: DynamoDBBackend, transact_items, *args, **kwargs):
        undo, shards = [], {}
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue
            if table.stream_shard is not None and id(table) not in shards:
                shards[id(table)] = (table.stream_shard, len(table.stream_shard.items))
            key = _key_of(table, op_type, op)
            if key is not None:
                undo.append((table, *key, copy.deepcopy(table.get_item(*key))))
        dynamodb_models.copy = _TablesNotCopied
        try:
            return transact_write_items(self, transact_items, *args, **kwargs)
        except Exception:
            for table, hash_value, range_value, previous in reversed(undo):
                _restore(table, hash_value, range_value, previous)
            for shard, length in shards.values():
                del shard.items[length:]  # AWS never streams a cancelled transaction
            raise
        finally:
            dynamodb_models.copy = copy

    return transact


# How long DynamoDB remembers a ClientRequestToken.
TOKEN_TTL_SECONDS = 600
# token -> (the items it committed, when); only successful transactions are remembered.
_COMMITTED: dict[str, tuple[str, float]] = {}


class IdempotentParameterMismatch(DynamodbException):
    def __init__(self):
        super().__init__(
            "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException",
            message="The request uses the same client token as a previous, but non-identical request.",
        )


def _idempotent(handler_transact):
    def transact(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return handler_transact(self)
        now = time.monotonic()
        for stale in [t for t, (_, at) in _COMMITTED.items() if now - at > TOKEN_TTL_SECONDS]:
            del _COMMITTED[stale]
        items = json.dumps(self.body.get("TransactItems"), sort_keys=True)
        seen = _COMMITTED.get(token)
        if seen is not None:
            if seen[0] != items:
                raise IdempotentParameterMismatch()
            return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})
        answer = handler_transact(self)
        _COMMITTED[token] = (items, now)
        return answer

    return transact


def install() -> None:
    from moto.dynamodb.responses import DynamoHandler

    DynamoDBBackend.transact_write_items = _undoable(DynamoDBBackend.transact_write_items)
    DynamoHandler.transact_write_items = _idempotent(DynamoHandler.transact_write_items)
