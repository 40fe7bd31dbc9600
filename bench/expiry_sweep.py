#!/usr/bin/env python3
"""Expiry sweep: how fast a sweep expires what is due, and what a sweep with nothing due costs.

Against a running local cloud (`make dev`): issues N credentials (8 at a time), moves their
expiry into the past as time would have (`expires_at` and its `expiry_bucket`), then invokes
`expiry-sweep` as the schedule would, timing the run and counting its AWS calls; then invokes
it again with nothing due, on the same (now larger) table.

    .local/venv/bin/python bench/expiry_sweep.py [--credentials 200] [--stack .local/dev/stack.json]
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import time
import uuid

import boto3

from issuance import CREDENTIAL, PER_CLIENT, aws_calls_since, bench_clients, call


def sweep(lam, function, payload):
    t0 = time.perf_counter()
    out = lam.invoke(FunctionName=function, Payload=json.dumps(payload).encode())
    elapsed = time.perf_counter() - t0
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return elapsed, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--credentials", type=int, default=200)
    ap.add_argument("--stack", default=".local/dev/stack.json")
    args = ap.parse_args()
    stack, api, auth, clients = bench_clients(args.stack, "bench-expiry", args.credentials)
    log_path = os.path.join(os.path.dirname(args.stack), "logs", "lambda.log")
    aws = dict(endpoint_url=stack["endpoint_url"], region_name=stack["region"],
               aws_access_key_id="test", aws_secret_access_key="test")
    db, lam = boto3.client("dynamodb", **aws), boto3.client("lambda", **aws)
    function = next(name for name, binary in stack["functions"].items() if binary == "expiry-sweep")

    def issue(i):
        client = clients[i // PER_CLIENT]
        status, answer = call("POST", f"{api}/v1/clients/{client['client_id']}/credentials", auth,
                              CREDENTIAL, {"idempotency-key": str(uuid.uuid4())})
        assert status == 201, (status, answer)
        return answer["credential_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        credentials = list(pool.map(issue, range(args.credentials)))
    # Settle earlier runs' leftovers, so the timed run sweeps exactly these.
    sweep(lam, function, {"max_expirations": 10000})

    now = datetime.datetime.now(datetime.timezone.utc)
    past = max(now - datetime.timedelta(seconds=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    for crd in credentials:
        db.update_item(
            TableName=stack["table_name"], Key={"pk": {"S": f"CREDENTIAL#{crd}"}, "sk": {"S": "CREDENTIAL"}},
            UpdateExpression="SET expires_at = :at, expiry_bucket = :bucket",
            ExpressionAttributeValues={":at": {"S": past.isoformat().replace("+00:00", "Z")},
                                       ":bucket": {"S": past.strftime("%Y-%m-%d")}})
    table_items = db.scan(TableName=stack["table_name"], Select="COUNT")["Count"]

    offset = os.path.getsize(log_path)
    elapsed, report = sweep(lam, function, {"max_expirations": 10000})
    calls = aws_calls_since(log_path, offset)
    assert report["expired"] == len(credentials), report
    print(f"sweep of {len(credentials)} due credentials (table: {table_items} items): "
          f"{elapsed * 1000:.0f} ms, {len(credentials) / elapsed:.0f} expirations/s; report {report}")
    print(f"  AWS calls: {calls}")

    offset = os.path.getsize(log_path)
    elapsed, report = sweep(lam, function, {})
    calls = aws_calls_since(log_path, offset)
    print(f"sweep with nothing due (same table): {elapsed * 1000:.0f} ms; report {report}")
    print(f"  AWS calls: {calls}")


if __name__ == "__main__":
    main()
