#!/usr/bin/env python3
"""Token endpoint latency: `POST /oauth2/token` (client credentials, client_secret_basic),
sequential, against a running local cloud (`make dev`). One credential is issued, then N
tokens are requested with it; each answer is a KMS-signed ES256 JWT (one consistent GetItem,
one KMS Sign per token).

    .local/venv/bin/python bench/token_endpoint.py [--tokens 300] [--stack .local/dev/stack.json]
"""
import argparse
import base64
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from issuance import CREDENTIAL, bench_client, call, summary


def token(api, client_id, secret):
    body = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
    req = urllib.request.Request(f"{api}/oauth2/token", data=body, method="POST")
    req.add_header("authorization", "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode())
    req.add_header("content-type", "application/x-www-form-urlencoded")
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 200, resp.status
        resp.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=300)
    ap.add_argument("--stack", default=".local/dev/stack.json")
    args = ap.parse_args()
    _, api, auth, client = bench_client(args.stack, "bench-token")
    status, issued = call("POST", f"{api}/v1/clients/{client['client_id']}/credentials", auth,
                          CREDENTIAL, {"idempotency-key": str(uuid.uuid4())})
    assert status == 201, (status, issued)
    for _ in range(5):  # warm the api's container (JWKS read, connections)
        token(api, client["client_id"], issued["client_secret"])
    latencies = []
    for _ in range(args.tokens):
        t0 = time.perf_counter()
        token(api, client["client_id"], issued["client_secret"])
        latencies.append((time.perf_counter() - t0) * 1000)
    print(f"token endpoint, {args.tokens} sequential requests: {summary(latencies)}")


if __name__ == "__main__":
    main()
