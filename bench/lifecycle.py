#!/usr/bin/env python3
"""Lifecycle: rotation end to end, the sweep's cost per renewal, and inventory listing latency.

Against a running local cloud (`make dev`):

- rotation: issues N credentials, then rotates each (`POST /v1/credentials/{id}/rotate`, 60 s
  overlap) and times the call until its 201 with the successor's secret, and the retirement of
  a few predecessors after a short overlap (activation to `superseded`);
- renewal: opens the renewal window of M credentials as time would have (`renew_after` and its
  bucket), half of them of clients that rotate automatically, then times one sweep and counts
  its AWS calls per announced renewal;
- listing: writes K credential items for one client straight into the table (as issuance would
  leave them, without running K issuances) and times `GET /v1/clients/{id}/credentials` pages
  (first page, every page, a status filter), and a page of `GET /v1/clients`.

    .local/venv/bin/python bench/lifecycle.py [--rotations 40] [--renewals 40] [--listing 10000]
"""
import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import time
import uuid

import boto3

from issuance import CREDENTIAL, aws_calls_since, bench_client, call, summary

#: Issuances plus rotations per client stay under the anomaly floor (20 in 5 minutes).
PER_CLIENT = 10


def utc(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def issue_many(api, auth, clients, n):
    def issue(i):
        client = clients[i // PER_CLIENT]
        status, answer = call("POST", f"{api}/v1/clients/{client['client_id']}/credentials", auth,
                              CREDENTIAL, {"idempotency-key": str(uuid.uuid4())})
        while status == 202 and answer.get("status") == "pending":  # slower than the API's wait
            time.sleep(0.2)
            status, answer = call("GET", f"{api}/v1/requests/{answer['request_id']}", auth)
        assert answer.get("credential_id"), (status, answer)
        return client["client_id"], answer["credential_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(issue, range(n)))


def new_clients(stack_path, name, n, auto_rotate=False):
    stack, api, auth, first = bench_client(stack_path, name)
    clients = []
    for _ in range((n + PER_CLIENT - 1) // PER_CLIENT):
        status, client = call("POST", f"{api}/v1/clients", auth, {
            "name": name, "environment": "dev", "tier": "standard", "auto_rotate": auto_rotate,
            "allowed_scopes": CREDENTIAL["scopes"], "allowed_audiences": CREDENTIAL["audiences"]})
        assert status == 201, (status, client)
        clients.append(client)
    return stack, api, auth, clients


def bench_rotation(args):
    stack, api, auth, clients = new_clients(args.stack, "bench-rotate", args.rotations)
    issued = issue_many(api, auth, clients, args.rotations)
    latencies = []
    for _, crd in issued:
        t0 = time.perf_counter()
        status, answer = call("POST", f"{api}/v1/credentials/{crd}/rotate", auth, {"overlap_seconds": 60},
                              {"idempotency-key": str(uuid.uuid4())})
        latencies.append((time.perf_counter() - t0) * 1000)
        assert status == 201 and answer.get("client_secret"), (status, answer)
    print(f"rotation: {args.rotations} rotations (POST …/rotate until 201 with the successor's secret)")
    print("  latency ms: " + summary(latencies))

    # Activation to retirement, with a 5 s overlap.
    _, _, _, fresh = new_clients(args.stack, "bench-rotate-retire", 3)
    few = issue_many(api, auth, fresh, 3)
    spans = []
    for _, crd in few:
        status, answer = call("POST", f"{api}/v1/credentials/{crd}/rotate", auth, {"overlap_seconds": 5},
                              {"idempotency-key": str(uuid.uuid4())})
        assert status == 201, (status, answer)
        t0 = time.perf_counter()
        while call("GET", f"{api}/v1/credentials/{crd}", auth)[1]["status"] != "revoked":
            time.sleep(0.1)
        spans.append(time.perf_counter() - t0)
    print("  answered to predecessor revoked (5 s overlap), s: "
          + ", ".join(f"{s:.1f}" for s in spans))


def bench_renewal(args):
    stack = json.load(open(args.stack))
    aws = dict(endpoint_url=stack["endpoint_url"], region_name=stack["region"],
               aws_access_key_id="test", aws_secret_access_key="test")
    db, lam = boto3.client("dynamodb", **aws), boto3.client("lambda", **aws)
    function = next(name for name, binary in stack["functions"].items() if binary == "expiry-sweep")
    half = args.renewals // 2
    _, api, auth, plain = new_clients(args.stack, "bench-renew", half)
    _, _, _, auto = new_clients(args.stack, "bench-renew-auto", args.renewals - half, auto_rotate=True)
    issued = issue_many(api, auth, plain, half) + issue_many(api, auth, auto, args.renewals - half)
    lam.invoke(FunctionName=function, Payload=b"{}")  # settle leftovers of earlier runs
    now = datetime.datetime.now(datetime.timezone.utc)
    past = max(now - datetime.timedelta(seconds=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    for _, crd in issued:
        db.update_item(
            TableName=stack["table_name"], Key={"pk": {"S": f"CREDENTIAL#{crd}"}, "sk": {"S": "CREDENTIAL"}},
            UpdateExpression="SET renew_after = :at, renewal_bucket = :day",
            ExpressionAttributeValues={":at": {"S": utc(past)}, ":day": {"S": past.strftime("%Y-%m-%d")}})
    log_path = os.path.join(os.path.dirname(args.stack), "logs", "lambda.log")
    offset = os.path.getsize(log_path)
    t0 = time.perf_counter()
    out = lam.invoke(FunctionName=function, Payload=b"{}")
    elapsed = time.perf_counter() - t0
    report = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, report
    time.sleep(1)
    calls, _ = aws_calls_since(log_path, offset)
    sweep_calls = sum(calls.values())
    print(f"renewal: one sweep announced {report['renewals']} renewals and asked for "
          f"{report['rotations']} automatic rotations in {elapsed:.2f} s "
          f"({report['renewals'] / elapsed:.1f} per second)")
    print(f"  AWS calls of everything that ran meanwhile: {sweep_calls} "
          f"({sweep_calls / max(report['renewals'], 1):.1f} per renewal): "
          + " ".join(f"{k}={v}" for k, v in sorted(calls.items())))


def bench_listing(args):
    stack, api, auth, client = bench_client(args.stack, "bench-list")
    aws = dict(endpoint_url=stack["endpoint_url"], region_name=stack["region"],
               aws_access_key_id="test", aws_secret_access_key="test")
    db = boto3.client("dynamodb", **aws)
    now = datetime.datetime.now(datetime.timezone.utc)
    requests = []
    for i in range(args.listing):
        # A well-formed ULID: 26 Crockford digits whose first is at most 7 (128 bits).
        digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
        crd = "crd_" + digits[os.urandom(1)[0] % 8] + "".join(digits[b % 32] for b in os.urandom(25))
        status = "active" if i % 4 else "expired"
        requests.append({"PutRequest": {"Item": {
            "pk": {"S": f"CREDENTIAL#{crd}"}, "sk": {"S": "CREDENTIAL"}, "entity": {"S": "credential"},
            "version": {"N": "2"}, "credential_id": {"S": crd}, "client_id": {"S": client["client_id"]},
            "status": {"S": status}, "scopes": {"L": [{"S": "bench:read"}]},
            "audiences": {"L": [{"S": "https://bench.example"}]}, "issued_at": {"S": utc(now)},
            "expires_at": {"S": utc(now + datetime.timedelta(days=30))},
            "renew_after": {"S": utc(now + datetime.timedelta(days=20))}, "policy_version": {"S": "bench"},
            "request_id": {"NULL": True}, "rotated_from": {"NULL": True}, "rotated_to": {"NULL": True},
            "secret_hash": {"S": hashlib.sha256(crd.encode()).hexdigest()}, "revocation": {"NULL": True},
            "last_used_at": {"NULL": True}}}})
    t0 = time.perf_counter()
    for i in range(0, len(requests), 25):
        batch = {stack["table_name"]: requests[i:i + 25]}
        while batch:
            batch = db.batch_write_item(RequestItems=batch).get("UnprocessedItems") or None
    print(f"listing: {args.listing} credentials of one client written in {time.perf_counter() - t0:.0f} s "
          f"(3 of 4 active)")
    base = f"{api}/v1/clients/{client['client_id']}/credentials"

    def walk(query):
        pages, cursor, count = [], None, 0
        while True:
            url = f"{base}?{query}" + (f"&cursor={cursor}" if cursor else "")
            t = time.perf_counter()
            status, page = call("GET", url, auth)
            if status >= 500:  # the local Lambda bridge drops an invocation now and then
                print(f"  (retried a {status} of the local bridge)")
                t = time.perf_counter()
                status, page = call("GET", url, auth)
            pages.append((time.perf_counter() - t) * 1000)
            assert status == 200, (status, page)
            count += len(page["items"])
            cursor = page["next"]
            if not cursor:
                return pages, count

    pages, count = walk("limit=100")
    print(f"  every credential, pages of 100: {count} in {len(pages)} pages, {sum(pages) / 1000:.1f} s; "
          "page ms: " + summary(pages))
    pages, count = walk("limit=100&status=active")
    print(f"  status=active: {count} in {len(pages)} pages; page ms: " + summary(pages))
    firsts = []
    for _ in range(20):
        t = time.perf_counter()
        status, _ = call("GET", f"{base}?limit=50", auth)
        firsts.append((time.perf_counter() - t) * 1000)
    print("  first page of 50, ms: " + summary(firsts))
    clients_pages = []
    for _ in range(20):
        t = time.perf_counter()
        status, page = call("GET", f"{api}/v1/clients?limit=100", auth)
        clients_pages.append((time.perf_counter() - t) * 1000)
        assert status == 200
    print("  GET /v1/clients?limit=100, ms: " + summary(clients_pages))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rotations", type=int, default=40)
    ap.add_argument("--renewals", type=int, default=40)
    ap.add_argument("--listing", type=int, default=10000)
    ap.add_argument("--stack", default=".local/dev/stack.json")
    args = ap.parse_args()
    if args.rotations:
        bench_rotation(args)
    if args.renewals:
        bench_renewal(args)
    if args.listing:
        bench_listing(args)


if __name__ == "__main__":
    main()
