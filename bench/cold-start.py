#!/usr/bin/env python3
"""Cold start of a function binary: process start → first `GET /runtime/invocation/next`.

That request is the moment the Lambda runtime is ready for its first event: settings read, SDK
configured, clients built, the warm-up read done. A tiny Lambda Runtime API stand-in records it
and ends the process; this repeats N times and prints min / p50 / p90 / max in milliseconds.

    bench/cold-start.py [--runs N] [--env-file .local/dev/lambda.env] target/release/api

The env file (written by the local cloud) supplies the table names and AWS_ENDPOINT_URL, so the
warm-up read really goes to the local cloud, as it would go to DynamoDB in AWS.
"""
import argparse
import os
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def read_env(path):
    env = {}
    if path and os.path.exists(path):
        for line in open(path):
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--env-file", default=".local/dev/lambda.env")
    args = ap.parse_args()

    ready = threading.Event()

    class RuntimeApi(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server naming)
            if self.path.endswith("/runtime/invocation/next"):
                ready.set()
            # Never answer: the process is killed once it has asked.
            time.sleep(5)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(read_env(args.env_file))
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": os.path.basename(args.binary),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RUST_LOG": "warn",
    })
    samples = []
    for _ in range(args.runs):
        ready.clear()
        t0 = time.perf_counter()
        proc = subprocess.Popen([args.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = ready.wait(timeout=30)
        t1 = time.perf_counter()
        proc.kill()
        _, err = proc.communicate()
        if not ok:
            raise SystemExit(f"{args.binary} never became ready:\n{err.decode(errors='replace')[-2000:]}")
        samples.append((t1 - t0) * 1000)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{args.binary}: {len(samples)} cold starts, ms: min {samples[0]:.1f}  p50 {pick(0.5):.1f}  "
          f"p90 {pick(0.9):.1f}  max {samples[-1]:.1f}")


if __name__ == "__main__":
    main()
