#!/usr/bin/env python3
"""Local end-to-end issuance: latency and AWS calls per issuance, beside a bare PutItem.

Against a running local cloud (`make dev`), this registers a client and issues N credentials
one after another through the HTTP API (POST /v1/clients/{id}/credentials, new Idempotency-Key
each time), timing each until its answer carries the secret (201). It then times N bare
DynamoDB PutItem calls on the same emulator, and sums the `aws_calls` every Clavis function
logged while the issuances ran (the SDK call counter in clavis-aws).

    .local/venv/bin/python bench/issuance.py [--requests 200] [--stack .local/dev/stack.json]
"""
import argparse
import base64
import collections
import json
import os
import statistics
import time
import urllib.request
import uuid

import boto3


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples):
    return (f"p50 {percentile(samples, 0.50):7.1f} ms   p95 {percentile(samples, 0.95):7.1f} ms   "
            f"p99 {percentile(samples, 0.99):7.1f} ms   mean {statistics.mean(samples):7.1f} ms")


def call(method, url, auth, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("authorization", auth)
    if data is not None:
        req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def aws_calls_since(log_path, offset):
    totals, by_source = collections.Counter(), collections.defaultdict(collections.Counter)
    with open(log_path, "rb") as f:
        f.seek(offset)
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            calls = line.get("aws_calls")
            if not calls:
                continue
            for part in calls.split():
                name, count = part.rsplit("=", 1)
                totals[name] += int(count)
                by_source[line.get("message", "?")][name] += int(count)
    return totals, by_source


#: What every benchmark credential asks for.
CREDENTIAL = {"ttl_seconds": 3600, "scopes": ["bench:read"], "audiences": ["https://bench.example"],
              "justification": "benchmark"}


def bench_client(stack_path, name):
    """The stack, the API base URL, the operator's Authorization value and a fresh client."""
    stack = json.load(open(stack_path))
    api = stack["api_url"].rstrip("/")
    auth = "Basic " + base64.b64encode(
        f"{stack['operator_client_id']}:{stack['operator_client_secret']}".encode()).decode()
    status, client = call("POST", f"{api}/v1/clients", auth, {
        "name": name, "environment": "dev", "tier": "standard",
        "allowed_scopes": CREDENTIAL["scopes"], "allowed_audiences": CREDENTIAL["audiences"]})
    assert status == 201, (status, client)
    return stack, api, auth, client


#: Issuances per benchmark client: no more than the anomaly floor of
#: infra/policies/anomaly.cedar (20 in 5 minutes), so a benchmark measures the allow path, not
#: anomaly holds (which wait for an approver).
PER_CLIENT = 20


def bench_clients(stack_path, name, n):
    """Like bench_client, with enough fresh clients for n issuances (PER_CLIENT each)."""
    stack, api, auth, first = bench_client(stack_path, name)
    clients = [first]
    while len(clients) * PER_CLIENT < n:
        clients.append(bench_client(stack_path, name)[3])
    return stack, api, auth, clients


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--stack", default=".local/dev/stack.json")
    args = ap.parse_args()
    stack, api, auth, clients = bench_clients(args.stack, "bench", args.requests)
    log_path = os.path.join(os.path.dirname(args.stack), "logs", "lambda.log")
    offset = os.path.getsize(log_path)

    body = CREDENTIAL
    latencies, slow = [], 0
    for i in range(args.requests):
        client = clients[i // PER_CLIENT]
        t0 = time.perf_counter()
        status, answer = call("POST", f"{api}/v1/clients/{client['client_id']}/credentials", auth, body,
                              {"idempotency-key": str(uuid.uuid4())})
        if status == 202:  # slower than the API's wait window: follow it to the end
            slow += 1
            while answer.get("status") not in ("completed", "failed"):
                time.sleep(0.05)
                status, answer = call("GET", f"{api}/v1/requests/{answer['request_id']}", auth)
        assert answer.get("status") == "completed", (status, answer)
        latencies.append((time.perf_counter() - t0) * 1000)
    time.sleep(2)  # let the outbox publisher log its last batch
    totals, by_source = aws_calls_since(log_path, offset)

    ddb = boto3.client("dynamodb", endpoint_url=stack["endpoint_url"], region_name=stack["region"],
                       aws_access_key_id="test", aws_secret_access_key="test")
    puts = []
    for i in range(args.requests):
        t0 = time.perf_counter()
        ddb.put_item(TableName=stack["table_name"],
                     Item={"pk": {"S": f"BENCH#{i}"}, "sk": {"S": "BENCH"}, "n": {"N": str(i)}})
        puts.append((time.perf_counter() - t0) * 1000)
    for i in range(args.requests):
        ddb.delete_item(TableName=stack["table_name"], Key={"pk": {"S": f"BENCH#{i}"}, "sk": {"S": "BENCH"}})

    n = args.requests
    print(f"issuance, end to end ({n} sequential requests, {slow} needed the 202 path):")
    print(f"  {summary(latencies)}")
    print(f"bare DynamoDB PutItem on the same emulator ({n}, boto3):")
    print(f"  {summary(puts)}")
    print(f"ratio of medians: {percentile(latencies, 0.5) / percentile(puts, 0.5):.0f}x")
    print(f"\nAWS calls per issuance, by operation (Clavis functions only; {n} issuances):")
    for name, count in sorted(totals.items()):
        print(f"  {name:40s} {count / n:6.2f}")
    print(f"  {'total':40s} {sum(totals.values()) / n:6.2f}")
    print("\n  by source:")
    for source, counts in sorted(by_source.items()):
        print(f"  {source:40s} {sum(counts.values()) / n:6.2f}")


if __name__ == "__main__":
    main()
