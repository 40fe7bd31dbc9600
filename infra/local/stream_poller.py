#!/usr/bin/env python3
"""The local cloud's event source mappings: a long-running poller started by `clavis-local up`.

moto's own mappings deliver synchronously and drop DynamoDB Streams records without Docker,
so provision.py records the template's mappings in $CLAVIS_LOCAL_DIR/event_source_mappings.json
instead of creating them, and this process runs each DynamoDB Streams mapping the AWS way:
it polls moto's stream and invokes the function through moto's Lambda Invoke API (and so
through the bridge to the Rust binary), batched, filtered, retried, bisected, with failed
batches to the on-failure queue (see polling/). Owns only this process: one thread per
mapping, checkpoints in $CLAVIS_LOCAL_DIR/stream_checkpoints.json, log lines on stderr.
SQS mappings are not run yet (none in template.yaml): they are logged and left alone.

    env CLAVIS_LOCAL_DIR (.local/dev), MOTO_PORT (5050), CLAVIS_LOCAL_REGION (us-east-1),
        CLAVIS_POLLER_INTERVAL (0.2 s idle poll), CLAVIS_POLLER_BACKOFF_BASE (0.5 s) and
        CLAVIS_POLLER_BACKOFF_MAX (10 s) for retries
"""

import faulthandler
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

from polling.checkpoints import Checkpoints
from polling.stream_mapping import StreamMapping

ROOT = Path(__file__).resolve().parents[2]
STOP = threading.Event()
_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} poller: {message}\n"
    with _LOG_LOCK:  # one write per line: the mapping threads must not interleave
        sys.stderr.write(line)
        sys.stderr.flush()


def client_factory(endpoint: str, region: str):
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    # The poller does its own retrying (AWS's semantics), so the SDK must not; the first invoke
    # may wait for cargo lambda watch to compile the function (the bridge waits up to 900 s).
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=910)

    def clients(service: str):
        return session.client(service, endpoint_url=endpoint, config=config)

    return clients


def run(mapping: dict, clients, checkpoints: Checkpoints) -> None:
    try:
        StreamMapping(mapping, clients, checkpoints, wait=STOP.wait, log=log).run()
    except Exception as err:  # noqa: BLE001 (a broken mapping must say why, not vanish)
        log(f"{mapping['logical_id']}: stopped: {type(err).__name__}: {err}")


def main() -> None:
    local_dir = Path(os.environ.get("CLAVIS_LOCAL_DIR", ROOT / ".local/dev"))
    endpoint = f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5050')}"
    region = os.environ.get("CLAVIS_LOCAL_REGION", "us-east-1")
    mappings = json.loads((local_dir / "event_source_mappings.json").read_text())
    checkpoints = Checkpoints(local_dir / "stream_checkpoints.json")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: STOP.set())
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: stacks to the log

    threads = []
    for mapping in mappings:
        if mapping["kind"] != "dynamodb-stream" or not mapping["enabled"]:
            why = "disabled" if not mapping["enabled"] else f"{mapping['kind']} source not run locally"
            log(f"{mapping['logical_id']}: {why} ({mapping['event_source_arn']})")
            continue
        log(f"{mapping['logical_id']}: {mapping['function_name']} <- {mapping['event_source_arn']} "
            f"(batch {mapping['batch_size']}, window {mapping['maximum_batching_window_seconds']:g} s, "
            f"retries {mapping['maximum_retry_attempts']}, bisect {mapping['bisect_batch_on_function_error']}, "
            f"{len(mapping['filter_patterns'])} filter(s))")
        thread = threading.Thread(target=run, args=(mapping, client_factory(endpoint, region), checkpoints),
                                  name=mapping["logical_id"], daemon=True)
        thread.start()
        threads.append(thread)
    log(f"{len(threads)} mapping(s) running against {endpoint}")
    while not STOP.wait(1.0):
        pass
    # An invoke in flight is not waited for: its batch is not checkpointed and runs again.
    for thread in threads:
        thread.join(timeout=2.0)
    log("stopped")


if __name__ == "__main__":
    main()
