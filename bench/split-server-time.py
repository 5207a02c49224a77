#!/usr/bin/env python3
"""Splits each PostgreSQL op of the catalog benchmark into the server's time and the rest.

    bench/private-postgres.sh [--server-cpu N] [--client-cpu N] [--tmpfs] -- \\
        bench/split-server-time.py [--save FILE] [-v] -- CATALOG-BINARY ARGS..

Run inside bench/private-postgres.sh only: it turns on the private cluster's statement
log (`log_min_duration_statement = 0`, parameters not logged) with ALTER SYSTEM, which
must never touch a shared server. It runs the catalog benchmark (its own binary, with
`--json-only`), stamps each JSON line with the time it arrived, then reads the server's
log and, for every op of every stack's run, adds up the durations the server logged for
that stack's statements (parse, bind, execute, simple queries) between the op's start
and its line: the server's time. The rest of the op's time is the client's work, the
wire and the scheduling between the two. It prints, per op and stack, the medians of the
op's time, the server's time and the rest, in milliseconds.

A once-run op (a bulk load, the eager load) is one call whose time on this VM varies by
a third from run to run on every stack, almost all of it in the server; the rest is
what a client library can change, and it varies far less.

How an op's statements are found: an op starts when the previous op's line arrives
(the check of an op's results happens before its line is printed, and reads run no SQL
for their checks); the connection that checks writes (the one that sends
`SELECT count(*)`) is left out. The first op of a run starts after the stack's set-up,
so for it only the author insert itself is counted: its parse and bind, and the BEGIN
and COMMIT around it.
"""

import bisect
import json
import os
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[(\d+)\] LOG:  duration: ([\d.]+) ms  "
    r"(parse|bind|execute|statement)( [^:]*)?: (.*)$"
)


def usage(message):
    sys.exit(f"split-server-time.py: {message}\n\n{__doc__}")


def parse_args(argv):
    save, verbose = None, False
    while argv and argv[0] != "--":
        arg = argv.pop(0)
        if arg == "--save" and argv:
            save = argv.pop(0)
        elif arg == "-v":
            verbose = True
        else:
            usage(f"unknown argument {arg!r}")
    if len(argv) < 2:
        usage("no benchmark command after --")
    return save, verbose, argv[1:]


def psql(url, sql):
    subprocess.run(["psql", "-q", "-X", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)


def log_statements(url):
    for setting in (
        "log_min_duration_statement = 0",
        "log_parameter_max_length = 0",
        "log_line_prefix = '%m [%p] '",
        "log_timezone = 'UTC'",
    ):
        psql(url, f"ALTER SYSTEM SET {setting}")
    psql(url, "SELECT pg_reload_conf()")
    time.sleep(1)


def run_stamped(command):
    """Runs the benchmark; its JSON lines with the UTC time each arrived."""
    stamped = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            arrived = datetime.now(timezone.utc).replace(tzinfo=None)
            line = line.strip()
            if line.startswith("{"):
                stamped.append((arrived, json.loads(line)))
    if child.returncode != 0:
        sys.exit(f"split-server-time.py: the benchmark exited with {child.returncode}")
    return stamped


def read_log(path):
    events, checker = [], set()
    with open(path, errors="replace") as log:
        for line in log:
            found = LOG_LINE.match(line)
            if not found:
                continue
            at, pid, ms, kind, name, text = found.groups()
            pid = int(pid)
            # The start of a statement is all that is looked at.
            text = text[:120]
            events.append((datetime.fromisoformat(at), pid, float(ms), kind, (name or "").strip(), text))
            if text.startswith("SELECT count(*)"):
                checker.add(pid)
    events = [event for event in events if event[1] not in checker]
    # The log is in time order to the millisecond, which is all `split` needs.
    events.sort(key=lambda event: event[0])
    return events


def is_author_insert(text):
    return (text.startswith("WITH sequence AS") and "'authors'" in text) or text.startswith(
        'INSERT INTO "authors"'
    )


def first_op_events(window):
    """The author insert's own events in `window`: parse, bind, execute, BEGIN, COMMIT."""
    inserts = [i for i, e in enumerate(window) if e[3] in ("execute", "statement") and is_author_insert(e[5])]
    if not inserts:
        return None
    insert = window[inserts[-1]]
    same = [e for e in window if e[1] == insert[1]]
    at = same.index(insert)
    low, high = at, at
    while low > 0 and same[low - 1][3] in ("parse", "bind") and same[low - 1][4] == insert[4]:
        low -= 1
    if low > 0 and same[low - 1][5].startswith(("BEGIN", "START")):
        low -= 1
    if high + 1 < len(same) and same[high + 1][5].startswith("COMMIT"):
        high += 1
    return same[low : high + 1]


def split(stamped, events):
    """(op, stack) -> [(op seconds, server seconds)] in run order. Exits when an op's
    statements are not in the log (a log not written as `log_statements` sets it)."""
    rows, unfound = {}, []
    times = [event[0] for event in events]
    start = datetime.min
    for arrived, m in stamped:
        window = events[bisect.bisect_right(times, start) : bisect.bisect_right(times, arrived)]
        start = arrived
        if m["op"] == "insert_authors_bulk":
            window = first_op_events(window)
        if not window:
            unfound.append(f"{m['stack']} {m['op']}")
            continue
        server = sum(e[2] for e in window) / 1000.0
        rows.setdefault((m["op"], m["stack"]), []).append((m["seconds"], server))
    if unfound or not rows:
        sys.exit(
            "split-server-time.py: no statements in the server's log for "
            + (", ".join(unfound) if unfound else "any op")
        )
    return rows


def report(rows, verbose):
    ops, stacks = [], []
    for op, stack in rows:
        ops += [op] if op not in ops else []
        stacks += [stack] if stack not in stacks else []
    print("medians in ms: op time / the server's time / the rest")
    print(f"{'op':26}" + "".join(f"{stack:>26}" for stack in stacks))
    for op in ops:
        cells = []
        for stack in stacks:
            runs = rows.get((op, stack))
            if not runs:
                cells.append(f"{'-':>26}")
                continue
            total = statistics.median(t for t, _ in runs) * 1000
            server = statistics.median(s for _, s in runs) * 1000
            rest = statistics.median(t - s for t, s in runs) * 1000
            cells.append(f"{total:10.2f} /{server:7.2f} /{rest:6.2f}")
        print(f"{op:26}" + "".join(cells))
    if verbose:
        for (op, stack), runs in rows.items():
            print(op, stack, " ".join(f"{t * 1000:.2f}/{s * 1000:.2f}" for t, s in runs))


def main():
    save, verbose, command = parse_args(sys.argv[1:])
    url = os.environ.get("BOOKSHELF_TEST_POSTGRES_URL")
    cluster = os.environ.get("PRIVATE_POSTGRES_DIR")
    if not url or not cluster:
        usage("run it inside bench/private-postgres.sh (it changes the server's settings)")
    log_statements(url)
    stamped = run_stamped(command)
    if save:
        with open(save, "w") as out:
            for arrived, m in stamped:
                out.write(f"{arrived.isoformat()} {json.dumps(m)}\n")
    rows = split(stamped, read_log(os.path.join(cluster, "server.log")))
    report(rows, verbose)


if __name__ == "__main__":
    main()
