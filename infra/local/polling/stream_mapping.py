"""Runs one DynamoDB Streams event source mapping: shards, filtering, batching, checkpoints.

Per shard, in order, one batch in flight at a time (like AWS): records are read after the
checkpoint (or from StartingPosition the first time), FilterCriteria drops what does not
match (dropped records count as processed), and the rest is gathered until BatchSize
records, the 6 MB payload limit, or MaximumBatchingWindowInSeconds since the first gathered
record was read. Delivery and its retries are delivery.Deliverer's job. Idle shards are
polled every POLL_SECONDS. Shards are discovered with DescribeStream; a child shard waits
until its parent is read to its end (moto has one shard per stream, which never closes).
"""

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from . import filters
from .checkpoints import Checkpoints
from .delivery import Deliverer
from .records import lambda_record, sequence
from .shard import ShardReader

POLL_SECONDS = float(os.environ.get("CLAVIS_POLLER_INTERVAL", "0.2"))
DISCOVER_SECONDS = 30.0
MAX_PAYLOAD = 6 * 1024 * 1024 - 1024  # Lambda's synchronous invoke limit, less the envelope


@dataclass
class Pending:
    record: dict[str, Any]
    size: int
    read_at: float  # monotonic
    before: int | None  # sequence number read just before it: the checkpoint while it waits


@dataclass
class ShardState:
    shard_id: str
    parent_id: str | None
    reader: ShardReader
    deliverer: Deliverer
    key: str
    pending: list[Pending] = field(default_factory=list)
    read_upto: int | None = None


class StreamMapping:
    def __init__(self, mapping: dict, clients: Callable[[str], Any], checkpoints: Checkpoints,
                 wait: Callable[[float], bool], log: Callable[[str], None]):
        self.m = mapping
        self.streams, self.lam, self.sqs = clients("dynamodbstreams"), clients("lambda"), clients("sqs")
        self.checkpoints, self.wait, self.log = checkpoints, wait, log
        self.shards: dict[str, ShardState] = {}
        self.finished: set[str] = set()
        self._discovered_at = 0.0
        self._first_discovery = True
        for pattern in mapping["filter_patterns"]:
            filters.validate(pattern)

    def run(self) -> None:
        failures, last_error = 0, ""
        while True:
            try:
                if time.monotonic() - self._discovered_at > DISCOVER_SECONDS:
                    self._discover()
                busy, due = False, POLL_SECONDS
                for state in list(self.shards.values()):
                    if state.parent_id in self.shards and state.parent_id not in self.finished:
                        continue
                    if state.shard_id in self.finished:
                        continue
                    worked, wait_at_most = self._poll(state)
                    if worked is None:
                        return
                    busy, due = busy or worked, min(due, wait_at_most)
                failures, last_error = 0, ""
                if not busy and self.wait(due):
                    return
            except Exception as err:  # noqa: BLE001 (moto restarting, stream gone: keep trying)
                failures += 1
                text = f"{type(err).__name__}: {str(err)[:200]}"
                if text != last_error:
                    self.log(f"{self.m['function_name']}: reading {self.m['event_source_arn']} failed ({text}); retrying")
                    last_error = text
                self._discovered_at = 0.0  # rediscover: the stream may have been recreated
                if self.wait(min(0.2 * 2 ** min(failures, 5), 5.0)):
                    return

    def _discover(self) -> None:
        shards, start = [], None
        while True:
            args = {"StreamArn": self.m["event_source_arn"]}
            if start:
                args["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**args)["StreamDescription"]
            shards += description.get("Shards", [])
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        for shard in shards:
            if shard["ShardId"] not in self.shards:
                self._add(shard)
        self._discovered_at, self._first_discovery = time.monotonic(), False

    def _add(self, shard: dict) -> None:
        shard_id, arn = shard["ShardId"], self.m["event_source_arn"]
        key = Checkpoints.key(self.m["function_name"], arn, shard_id)
        after = self.checkpoints.get(key)
        # Shards that appear later are new children: AWS reads them from their beginning.
        start = self.m["starting_position"] if self._first_discovery else "TRIM_HORIZON"
        reader = ShardReader(self.streams, arn, shard_id, after, start)
        deliverer = Deliverer(self.m, self.lam, self.sqs, shard_id,
                              done=lambda seq: self.checkpoints.set(key, seq), wait=self.wait, log=self.log)
        self.shards[shard_id] = ShardState(shard_id, shard.get("ParentShardId"), reader, deliverer, key,
                                           read_upto=after)
        where = f"after {after}" if after is not None else f"at {start}"
        self.log(f"{self.m['function_name']}: reading {shard_id} of {arn.rsplit('/', 1)[-1]} {where}")

    def _poll(self, state: ShardState) -> tuple[bool | None, float]:
        """(worked: read or delivered something, None when stopping; seconds to wait at most)."""
        batch_size = self.m["batch_size"]
        read = state.reader.read() if len(state.pending) < batch_size else []
        now = time.monotonic()
        for raw in read:
            record = lambda_record(raw, self.m["event_source_arn"])
            if filters.matches_any(self.m["filter_patterns"], record):
                size = len(json.dumps(record, separators=(",", ":")))
                state.pending.append(Pending(record, size, now, state.read_upto))
            state.read_upto = sequence(record)
        if read and not state.pending:
            self.checkpoints.set(state.key, state.read_upto)  # everything read was filtered out
        if not state.pending:
            if state.reader.closed:
                self.finished.add(state.shard_id)
            return bool(read), POLL_SECONDS
        window_left = self.m["maximum_batching_window_seconds"] - (now - state.pending[0].read_at)
        batch = self._take(state.pending, batch_size)
        if len(batch) < len(state.pending) or len(batch) == batch_size or window_left <= 0 or state.reader.closed:
            if not state.deliverer.deliver([p.record for p in batch]):
                return None, 0
            del state.pending[:len(batch)]
            self.checkpoints.set(state.key, state.pending[0].before if state.pending else state.read_upto)
            return True, 0
        return bool(read), max(min(POLL_SECONDS, window_left), 0.01)

    @staticmethod
    def _take(pending: list[Pending], batch_size: int) -> list[Pending]:
        batch, total = [], 0
        for item in pending[:batch_size]:
            if batch and total + item.size > MAX_PAYLOAD:
                break
            batch.append(item)
            total += item.size
        return batch
