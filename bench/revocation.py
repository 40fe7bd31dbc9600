#!/usr/bin/env python3
"""Revocation: API latency, and propagation from the revoke answer to a subscriber.

Against a running local cloud (`make dev`): issues N credentials (8 at a time), waits until
their `Credential Issued` events have reached the subscriber queue, then revokes
them one after another through `POST /v1/credentials/{id}/revoke`, timing each call, while a
receiver drains the example subscriber queue and notes when each `Credential Revoked` event
arrives. Propagation = arrival at the subscriber queue - the moment the revoke answered.

    .local/venv/bin/python bench/revocation.py [--revocations 200] [--stack .local/dev/stack.json]
"""
import argparse
import concurrent.futures
import json
import threading
import time
import uuid

import boto3

from issuance import CREDENTIAL, PER_CLIENT, bench_clients, call, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--revocations", type=int, default=200)
    ap.add_argument("--stack", default=".local/dev/stack.json")
    args = ap.parse_args()
    stack, api, auth, clients = bench_clients(args.stack, "bench-revocation", args.revocations)
    body = CREDENTIAL

    def issue(i):
        client = clients[i // PER_CLIENT]
        status, answer = call("POST", f"{api}/v1/clients/{client['client_id']}/credentials", auth,
                              body, {"idempotency-key": str(uuid.uuid4())})
        assert status == 201, (status, answer)
        return answer["credential_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        credentials = list(pool.map(issue, range(args.revocations)))

    sqs = boto3.client("sqs", endpoint_url=stack["endpoint_url"], region_name=stack["region"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    queue = stack["subscriber_queue_url"]
    arrived, issued_seen, wanted, stop = {}, set(), set(credentials), threading.Event()

    def receive():
        while not stop.is_set():
            out = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            now = time.perf_counter()
            for m in out.get("Messages", []):
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
                event = json.loads(m["Body"])
                crd = event.get("detail", {}).get("credential_id")
                if event.get("detail-type") == "Credential Revoked" and crd in wanted:
                    arrived.setdefault(crd, now)
                elif event.get("detail-type") == "Credential Issued" and crd in wanted:
                    issued_seen.add(crd)

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    # Let the issuance events drain first: the stream carries them ahead of the revocations,
    # and propagation should measure revocations, not the issuance backlog.
    deadline = time.time() + 120
    while len(issued_seen) < len(credentials) and time.time() < deadline:
        time.sleep(0.2)
    answered, latencies = {}, []
    for crd in credentials:
        t0 = time.perf_counter()
        status, answer = call("POST", f"{api}/v1/credentials/{crd}/revoke", auth, {"reason": "operator_request"})
        t1 = time.perf_counter()
        assert status == 200, (status, answer)
        answered[crd] = t1
        latencies.append((t1 - t0) * 1000)
    deadline = time.time() + 60
    while len(arrived) < len(credentials) and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    receiver.join(timeout=5)
    propagation = [(arrived[c] - answered[c]) * 1000 for c in credentials if c in arrived]

    n = len(credentials)
    print(f"revocation API, end to end ({n} sequential revocations):")
    print(f"  {summary(latencies)}")
    print(f"revoke answered -> Credential Revoked in the subscriber queue ({len(propagation)} of {n} arrived):")
    print(f"  {summary(propagation)}")


if __name__ == "__main__":
    main()
