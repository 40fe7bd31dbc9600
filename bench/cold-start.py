#!/usr/bin/env python3
"""Cold start of a function binary: process start → first `GET /runtime/invocation/next`.

That request is the moment the Lambda runtime is ready for its first event: settings read, SDK
configured, clients built, the warm-up read done. A tiny Lambda Runtime API stand-in records it
and ends the process; this repeats N times and prints min / p50 / p90 / max in milliseconds.

    bench/cold-start.py [--runs N] [--env-file .local/dev/lambda.env] target/release/api
    bench/cold-start.py --stub-aws --baseline target/release/hello-lambda target/release/api

A binary starts with what Lambda gives a function's process (a few runtime variables and the env
file), not this shell's environment (`--inherit-env` passes that on instead). The env file
(written by the local cloud) supplies the table names and AWS_ENDPOINT_URL, so the warm-up read
really goes to the local cloud, as it would go to DynamoDB in AWS. With
`--stub-aws` every AWS call made during init goes to the stand-in instead, which answers at once
(`{}`), so the emulator's speed does not count. With `--baseline`, the baseline binary and the
measured one start in turns, and the ratio of their medians is printed. With `--laps`, the
binaries' own `deps ready` / `init done` log lines (clavis_lambda::init_clock) are read and the
median of each lap is printed: where init goes.
"""
import argparse
import json
import os
import selectors
import socket
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


def start_runtime_api(ready):
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
    return server.server_address[1]


AWS_ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n"
              b"content-length: 2\r\n\r\n{}")


def start_aws_stub():
    """Answers every AWS call made during init at once with `{}` (--stub-aws): one thread, one
    event loop, a canned answer, so the stand-in's own speed counts as little as it can."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ, None)

    def answer_whole_requests(conn, pending):
        """Answers every complete request in `pending`; returns what is left of it."""
        while b"\r\n\r\n" in pending:
            head, _, rest = pending.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                break
            pending = rest[length:]
            conn.sendall(AWS_ANSWER)
        return pending

    def serve():
        buffers = {}
        while True:
            for key, _ in events.select():
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buffers[conn] = b""
                    events.register(conn, selectors.EVENT_READ, None)
                    continue
                conn = key.fileobj
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    events.unregister(conn)
                    buffers.pop(conn, None)
                    conn.close()
                    continue
                buffers[conn] = answer_whole_requests(conn, buffers[conn] + chunk)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def cold_start(binary, env, ready, laps):
    ready.clear()
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ok = ready.wait(timeout=30)
    t1 = time.perf_counter()
    proc.kill()
    out, err = proc.communicate()
    if not ok:
        raise SystemExit(f"{binary} never became ready:\n{err.decode(errors='replace')[-2000:]}")
    if laps is not None:
        for line in (out + err).decode(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("message") in ("deps ready", "init done"):
                for pair in doc.get("laps", "").split():
                    name, _, us = pair.partition("=")
                    laps.setdefault(name, []).append(int(us) / 1000)
    return (t1 - t0) * 1000


def describe(name, samples):
    samples = sorted(samples)
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{name}: {len(samples)} cold starts, ms: min {samples[0]:.1f}  p50 {pick(0.5):.1f}  "
          f"p90 {pick(0.9):.1f}  max {samples[-1]:.1f}")
    return pick(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--env-file", default=".local/dev/lambda.env")
    ap.add_argument("--stub-aws", action="store_true", help="answer init's AWS calls at once")
    ap.add_argument("--baseline", help="a binary to start in turns with BINARY (hello-lambda)")
    ap.add_argument("--laps", action="store_true", help="print the median of each init lap")
    ap.add_argument("--inherit-env", action="store_true",
                    help="start the binaries with this shell's environment, not a Lambda-like one")
    args = ap.parse_args()

    ready = threading.Event()
    port = start_runtime_api(ready)
    # What Lambda gives a function's process: its configured variables and the runtime's own,
    # nothing of this shell (whose SSL_CERT_* or AWS_PROFILE would change what init does).
    env = dict(os.environ) if args.inherit_env else {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": "/var/task",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    env.update(read_env(args.env_file))
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "RUST_LOG": "info" if args.laps else "warn",
    })
    if args.stub_aws:
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{start_aws_stub()}"
        env.setdefault("AWS_ACCESS_KEY_ID", "stub")
        env.setdefault("AWS_SECRET_ACCESS_KEY", "stub")
        env.setdefault("AWS_REGION", "us-east-1")
    binaries = [args.binary] + ([args.baseline] if args.baseline else [])
    samples = {b: [] for b in binaries}
    laps = {} if args.laps else None
    for _ in range(args.runs):
        for binary in binaries:
            env["AWS_LAMBDA_FUNCTION_NAME"] = os.path.basename(binary)
            samples[binary].append(cold_start(binary, env, ready, laps if binary == args.binary else None))
    medians = {b: describe(b, samples[b]) for b in binaries}
    if args.baseline:
        print(f"ratio of medians, {os.path.basename(args.binary)} / {os.path.basename(args.baseline)}: "
              f"{medians[args.binary] / medians[args.baseline]:.2f}")
    if laps:
        print("init laps of " + args.binary + " (median ms): " + "  ".join(
            f"{name} {sorted(v)[len(v) // 2]:.2f}" for name, v in laps.items()))


if __name__ == "__main__":
    main()
