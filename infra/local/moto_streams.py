"""DynamoDB Streams in moto 5.2.5, made to behave like AWS for stream readers (the poller).

Installed by moto_server.py before the server starts. Three fixes:

1. A cancelled TransactWriteItems "rolls back" by putting a deep copy of each table, taken
   when the transaction began, in place of the live one, and the copy carries a copy of the
   table's stream shard. Every shard iterator handed out before then still points at the old
   shard object, which no longer receives records: a stream reader silently sees nothing
   from then on (seen: the stream poller went quiet after the bootstrap's expected conflict).
   Here the live shard object is kept across the rollback, with the records the cancelled
   transaction had appended removed (AWS never streams a cancelled transaction).

2. Transactions no longer deep-copy the stream shard (see `_shard_is_not_copied`).

3. moto stores every shard iterator it hands out (one per GetRecords call) forever. AWS
   expires them after 15 minutes (ExpiredIteratorException); so does this, which also keeps
   a long-polling local cloud's memory bounded.
"""

import time

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodbstreams import models as streams

ITERATOR_LIFETIME_SECONDS = 15 * 60
_PURGE_EVERY = 1000  # GetShardIterator / GetRecords calls between purges of expired iterators


def _keep_stream_shards_across_rollback(transact_write_items):
    def transact(self: DynamoDBBackend, transact_items, *args, **kwargs):
        names = {next(iter(item.values())).get("TableName") for item in transact_items}
        live = {
            name: (self.tables[name], self.tables[name].stream_shard, len(self.tables[name].stream_shard.items))
            for name in names
            if name in self.tables and self.tables[name].stream_shard is not None
        }
        try:
            return transact_write_items(self, transact_items, *args, **kwargs)
        except Exception:
            for name, (table, shard, length) in live.items():
                restored = self.tables.get(name)
                if restored is not None and restored is not table:  # moto swapped in its copy
                    del shard.items[length:]
                    shard.table = restored
                    restored.stream_shard = shard
            raise

    return transact


class _Expiring(dict):
    """moto's iterator store, where an entry lives ITERATOR_LIFETIME_SECONDS."""

    def __init__(self):
        super().__init__()
        self.born: dict[str, float] = {}
        self.calls = 0

    def __setitem__(self, key, value):
        self.calls += 1
        if self.calls % _PURGE_EVERY == 0:
            cutoff = time.monotonic() - ITERATOR_LIFETIME_SECONDS
            for old in [k for k, born in self.born.items() if born < cutoff]:
                self.pop(old, None)
                self.born.pop(old, None)
        self.born[key] = time.monotonic()
        super().__setitem__(key, value)

    def __getitem__(self, key):
        born = self.born.get(key)
        if born is None or time.monotonic() - born > ITERATOR_LIFETIME_SECONDS:
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown: get a new one")
        return super().__getitem__(key)


def _expiring_iterators(init):
    def __init__(self, *args, **kwargs):  # noqa: N807
        init(self, *args, **kwargs)
        self.shard_iterators = _Expiring()

    return __init__


def _shard_is_not_copied(self, memo):
    # moto deep-copies every table a transaction touches, for its rollback; the copy of the
    # stream shard (every record the table ever streamed) made each transaction slower than
    # the last until the SDK timed out (seen at ~100 issuances). The rollback above keeps the
    # live shard anyway, so the copy shares it.
    return self


def install() -> None:
    from moto.dynamodb.models.table import StreamShard

    StreamShard.__deepcopy__ = _shard_is_not_copied
    DynamoDBBackend.transact_write_items = _keep_stream_shards_across_rollback(DynamoDBBackend.transact_write_items)
    streams.DynamoDBStreamsBackend.__init__ = _expiring_iterators(streams.DynamoDBStreamsBackend.__init__)
