"""The Python peers of scripts/perf-report: requests-futures and sseclient-py.

Run by perf-report with the interpreter of its venv (target/perf-venv), where these packages
are installed; each command prints one JSON object per measurement on stdout.

    perf_peers.py fanout --url URL --path /small --requests 20000 --workers 8
    perf_peers.py sse --file CORPUS --reps 3

fanout: FuturesSession(max_workers=8), one .get() per request, then .result() on each future in
order (what benches/peers.rs does with ureq-futures), after an untimed warm-up that opens the
connections.

sse: sseclient-py's SSEClient over the corpus in 8 KiB pieces (what benches/sse_parse.rs feeds
the Rust parsers); every event's data is touched, as the Rust benches do.
"""

import argparse
import json
import sys
import time

PIECE = 8 * 1024
BODY = b"hello"


def fanout(args):
    from requests_futures.sessions import FuturesSession

    url = args.url.rstrip("/") + args.path
    session = FuturesSession(max_workers=args.workers)

    def run(n):
        futures = [session.get(url) for _ in range(n)]
        for future in futures:
            resp = future.result()
            if resp.status_code != 200 or resp.content != BODY:
                raise SystemExit(
                    f"unexpected answer: status {resp.status_code}, {len(resp.content)} bytes"
                )

    run(args.workers * 8)
    start = time.perf_counter()
    run(args.requests)
    seconds = time.perf_counter() - start
    session.close()
    print(
        json.dumps(
            {
                "bench": "fanout",
                "peer": "requests_futures",
                "path": args.path,
                "requests": args.requests,
                "workers": args.workers,
                "seconds": seconds,
            }
        ),
        flush=True,
    )


def sse(args):
    from sseclient import SSEClient

    with open(args.file, "rb") as f:
        corpus = f.read()
    pieces = [corpus[i : i + PIECE] for i in range(0, len(corpus), PIECE)]
    for _ in range(args.reps):
        events = 0
        chars = 0
        start = time.perf_counter()
        for event in SSEClient(iter(pieces)).events():
            events += 1
            chars += len(event.data) + len(event.event)
        seconds = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "bench": "sse_parse",
                    "peer": "sseclient_py",
                    "file": args.file,
                    "bytes": len(corpus),
                    "events": events,
                    "seconds": seconds,
                }
            ),
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    f = commands.add_parser("fanout")
    f.add_argument("--url", required=True)
    f.add_argument("--path", default="/small")
    f.add_argument("--requests", type=int, default=20000)
    f.add_argument("--workers", type=int, default=8)
    s = commands.add_parser("sse")
    s.add_argument("--file", required=True)
    s.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    {"fanout": fanout, "sse": sse}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
