"""The Python peers of scripts/perf-report: requests-futures and sseclient-py.

Run by perf-report with the interpreter of its venv (target/perf-venv), where these packages
are installed; each command prints one JSON object per measurement on stdout.

    perf_peers.py fanout --url URL --path /small --requests 20000 --workers 8
    perf_peers.py sse --file CORPUS --reps 3
    perf_peers.py streams --url URL --streams 1000 --counters FILE

fanout: FuturesSession(max_workers=8), one .get() per request, then .result() on each future in
order (what benches/peers.rs does with ureq-futures), after an untimed warm-up that opens the
connections.

sse: sseclient-py's SSEClient over the corpus in 8 KiB pieces (what benches/sse_parse.rs feeds
the Rust parsers); every event's data is touched, as the Rust benches do.

streams: the Python client of benches/streams.rs: FuturesSession(max_workers=N), N GETs with
stream=True, each consumed on its worker thread by a response hook that feeds the body's chunks
as they arrive (iter_content(None)) to sseclient-py (the hooks wait until every stream is
connected before they read). It measures nothing itself: with 1,000 threads wanting the GIL, a
measuring thread of its own would get it too seldom. It keeps its counts (events, bytes, streams
ended) in FILE, which the bench reads, prints one JSON line with its resident memory before the
first stream and how long opening took once every stream has had an event, and then reads
events until it is killed. The bench takes memory and CPU time from /proc/PID from outside.
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


def _status():
    """(VmRSS in bytes, thread count) of this process."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            fields[name] = value.split()[0] if value.split() else ""
    return int(fields["VmRSS"]) * 1024, int(fields["Threads"])


def streams(args):
    import mmap
    import resource
    import struct
    import threading

    from requests.adapters import HTTPAdapter
    from requests_futures.sessions import FuturesSession
    from sseclient import SSEClient

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.streams + 256:
        if hard != resource.RLIM_INFINITY and hard < args.streams + 256:
            raise SystemExit(f"{args.streams + 256} open files needed, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # Three little-endian u64 (events, bytes, streams ended) that the bench reads without
    # waiting for this process.
    with open(args.counters, "wb") as f:
        f.write(bytes(24))
    with open(args.counters, "r+b") as f:
        shared = mmap.mmap(f.fileno(), 24)
    lock = threading.Lock()
    counts = {"events": 0, "bytes": 0, "connected": 0, "open": 0, "ended": 0, "error": None}
    go = threading.Event()

    def publish():
        struct.pack_into("<QQQ", shared, 0, counts["events"], counts["bytes"], counts["ended"])

    def consume(response, *_args, **_kwargs):
        # Every thread waits here until all are connected: with hundreds of threads taking
        # events, the one that submits the rest would hardly get the GIL to start them.
        with lock:
            counts["connected"] += 1
        go.wait()
        first = True
        try:
            for event in SSEClient(response.iter_content(chunk_size=None)).events():
                size = len(event.data)
                with lock:
                    counts["events"] += 1
                    counts["bytes"] += size
                    if first:
                        counts["open"] += 1
                        first = False
                    publish()
        except Exception as e:  # the bench says what ended the stream
            with lock:
                counts["error"] = counts["error"] or repr(e)
        finally:
            response.close()
            with lock:
                counts["ended"] += 1
                publish()
            sys.stderr.write(f"python: a stream ended: {counts['error']}\n")
        return response

    session = FuturesSession(max_workers=args.streams)
    session.mount("http://", HTTPAdapter(pool_maxsize=args.streams))
    baseline, _ = _status()
    futures = [
        session.get(args.url, stream=True, hooks={"response": consume})
        for _ in range(args.streams)
    ]
    opening = time.monotonic()
    while counts["connected"] < args.streams:
        if time.monotonic() - opening > 90:
            raise SystemExit(f"{counts['connected']} of {args.streams} streams connected after 90 s")
        time.sleep(0.02)
    go.set()
    while counts["open"] < args.streams:
        if counts["error"] or counts["ended"]:
            raise SystemExit(f"a stream failed while opening: {counts['error']}")
        if time.monotonic() - opening > 90:
            raise SystemExit(f"{counts['open']} of {args.streams} streams open after 90 s")
        time.sleep(0.02)
    open_seconds = time.monotonic() - opening
    print(json.dumps({"open_seconds": open_seconds, "baseline_rss": baseline}), flush=True)
    # The bench measures from here and kills this process when done.
    while True:
        time.sleep(60)
    del futures


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
    t = commands.add_parser("streams")
    t.add_argument("--url", required=True)
    t.add_argument("--streams", type=int, default=1000)
    t.add_argument("--counters", required=True)
    args = parser.parse_args()
    {"fanout": fanout, "sse": sse, "streams": streams}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
