"""Reads one DynamoDB Streams shard in order (GetShardIterator / GetRecords), nothing else.

The reader only knows how far it has READ; what has been processed (the checkpoint) belongs
to the caller, who starts a reader after its checkpoint. It follows NextShardIterator like
any AWS client and handles what the endpoint throws: an expired or unknown iterator
(ExpiredIteratorException, or moto restarted) is re-acquired after the last record read;
trimmed data restarts at TRIM_HORIZON (like AWS, records already trimmed are lost); a shard
without a NextShardIterator is closed.

moto: an empty read answers a NextShardIterator at the same position (AWS may move it on),
and before moto_streams.py a cancelled transaction left every iterator on an orphaned copy of
the shard that never got another record. As a cheap guard against any such silent staleness
the iterator is re-acquired from the last record read after IDLE_REACQUIRE_SECONDS of empty
reads.
"""

import time
from typing import Any

from botocore.exceptions import ClientError

IDLE_REACQUIRE_SECONDS = 60.0


class ShardReader:
    def __init__(self, streams, stream_arn: str, shard_id: str, after_sequence: int | None, start_type: str):
        self.streams = streams
        self.stream_arn = stream_arn
        self.shard_id = shard_id
        self.after = after_sequence  # last sequence number read (or checkpointed), if any
        self.start_type = start_type  # TRIM_HORIZON or LATEST, used while nothing was read
        self.closed = False
        self._iterator: str | None = None
        self._last_records = time.monotonic()

    def read(self, limit: int = 1000) -> list[dict[str, Any]]:
        if self.closed:
            return []
        idle = time.monotonic() - self._last_records > IDLE_REACQUIRE_SECONDS
        if self._iterator is None or (idle and self.after is not None):
            self._acquire()
        try:
            answer = self.streams.get_records(ShardIterator=self._iterator, Limit=limit)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "TrimmedDataAccessException":
                self.after, self.start_type = None, "TRIM_HORIZON"
            self._iterator = None  # expired, unknown (moto restarted) or trimmed: start again
            raise
        records = answer.get("Records", [])
        self._iterator = answer.get("NextShardIterator")
        if records:
            self.after = int(records[-1]["dynamodb"]["SequenceNumber"])
            self._last_records = time.monotonic()
        if self._iterator is None:
            self.closed = True
        return records

    def _acquire(self) -> None:
        args = {"StreamArn": self.stream_arn, "ShardId": self.shard_id}
        if self.after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=str(self.after))
        else:  # nothing read yet: StartingPosition (LATEST again only after a failed read)
            args.update(ShardIteratorType=self.start_type)
        self._iterator = self.streams.get_shard_iterator(**args)["ShardIterator"]
        self._last_records = time.monotonic()
