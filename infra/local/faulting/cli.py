"""`clavis-local fault`: the command line of the fault endpoint (infra/local/moto_faults.py).

    fault add <service> <action> [--match S] [--error CODE] [--status N] [--count N] [--message M]
                                   prints the new fault's id
    fault list                     one line per fault: id, what it fails, how, hits, what is left
    fault clear [<id>]             removes one fault, or all

Talks to http://127.0.0.1:$MOTO_PORT (5050). Standard library only.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def call(method: str, path: str = "", payload: dict | None = None):
    port = os.environ.get("MOTO_PORT", "5050")
    url = f"http://127.0.0.1:{port}/_clavis/faults{path}"
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read()).get("message")
        except ValueError:
            message = None
        sys.exit(f"fault: HTTP {err.code}: {message or 'not a fault endpoint (is moto_server.py what listens?)'}")
    except (urllib.error.URLError, OSError) as err:
        sys.exit(f"fault: nothing answers on 127.0.0.1:{port} ({err}); is the local cloud up (MOTO_PORT)?")


def line(rule: dict) -> str:
    left = "unlimited" if rule["count"] is None else f"{rule['count']} left"
    only = f"  match {rule['match']!r}" if rule["match"] else ""
    return (f"{rule['id']}  {rule['service']} {rule['action']}{only}  -> {rule['status']} {rule['error']}"
            f"  ({left}, {rule['hits']} hit(s))")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="clavis-local fault",
                                     description="Make chosen AWS calls of the local cloud fail.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="fail matching calls; prints the fault's id")
    add.add_argument("service", help="signing name: events, states, kms, dynamodb, dynamodbstreams, sqs, ...")
    add.add_argument("action", help="operation name (PutEvents, StartExecution, ...) or '*' for all")
    add.add_argument("--match", help="only calls whose request body contains this text")
    add.add_argument("--error", help="error code (default ServiceUnavailable)")
    add.add_argument("--status", type=int, help="HTTP status (default 503)")
    add.add_argument("--count", type=int, help="fail only the next N matching calls (default: until cleared)")
    add.add_argument("--message", help="error message")
    commands.add_parser("list", help="the faults in force")
    clear = commands.add_parser("clear", help="remove one fault, or all")
    clear.add_argument("id", nargs="?")
    args = parser.parse_args(argv)

    if args.command == "add":
        spec = {key: value for key, value in vars(args).items() if key != "command" and value is not None}
        print(call("POST", payload=spec)["id"])
    elif args.command == "list":
        rules = call("GET")
        for rule in rules:
            print(line(rule))
        if not rules:
            print("no faults", file=sys.stderr)
    else:
        removed = call("DELETE", f"/{args.id}" if args.id else "")["removed"]
        print(f"{removed} fault(s) removed", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
