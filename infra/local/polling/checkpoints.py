"""Checkpoints of the stream pollers, kept in $CLAVIS_LOCAL_DIR/stream_checkpoints.json.

A checkpoint is the sequence number up to which a shard has been processed (delivered,
filtered out, or given up and sent to the on-failure destination). Like AWS, it belongs to
the (function, stream) pair: a poller restarted because a mapping's settings changed resumes
after it instead of starting again at StartingPosition. A new stream (a fresh moto) has a new
ARN, so it starts afresh; `clavis-local up` also deletes the file when moto starts empty.
"""

import json
import os
import threading
from pathlib import Path


class Checkpoints:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            self._data: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self._data = {}

    @staticmethod
    def key(function_name: str, stream_arn: str, shard_id: str) -> str:
        return f"{function_name}|{stream_arn}|{shard_id}"

    def get(self, key: str) -> int | None:
        with self._lock:
            value = self._data.get(key)
        return int(value) if value is not None else None

    def set(self, key: str, sequence: int | None) -> None:
        if sequence is None:
            return
        with self._lock:
            if key in self._data and int(self._data[key]) >= sequence:
                return
            self._data[key] = str(sequence)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self._data, indent=2) + "\n")
            tmp.replace(self.path)
