#!/usr/bin/env python3
"""Import and export speed against the database's own bulk tools, in one run.

Called by scripts/bench-transfer. One CSV of N rows and 6 columns; on SQLite, Rampart's
import (validation and the audit chain on, all or nothing) against `sqlite3 .import` of the
same file into a plain table, and Rampart's export against `sqlite3 -csv` of the same query;
on PostgreSQL, against `COPY ... FROM STDIN` and `COPY ... TO STDOUT` through psql. Prints
rates and ratios, and the server's peak RSS during the import. Only the standard library.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peers import Rampart, http, log  # noqa: E402

COLUMNS = [
    ("name", "text"), ("n", "integer"), ("price", "decimal"),
    ("ok", "boolean"), ("day", "date"), ("note", "text"),
]


def write_csv(path, rows):
    rnd = random.Random(7)
    with open(path, "w", newline="") as f:
        f.write(",".join(c for c, _ in COLUMNS) + "\n")
        for i in range(rows):
            f.write(f"name {i},{rnd.randrange(-10**6, 10**6)},{rnd.randrange(10**6) / 100:.2f},"
                    f"{'true' if i % 2 else 'false'},2026-{1 + i % 12:02d}-{1 + i % 28:02d},"
                    f"a note of some forty characters; row {i}\n")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def timed(fn):
    start = time.monotonic()
    out = fn()
    return time.monotonic() - start, out


def sqlite_baseline(work, csv):
    db = os.path.join(work, "plain.db")
    schema = "CREATE TABLE t (name TEXT, n INTEGER, price NUMERIC, ok INTEGER, day TEXT, note TEXT);"
    subprocess.run(["sqlite3", db, schema], check=True)
    imp, _ = timed(lambda: subprocess.run(
        ["sqlite3", db, "-cmd", ".mode csv", f".import --skip 1 {csv} t"], check=True))
    exp, _ = timed(lambda: subprocess.run(
        ["sqlite3", "-csv", "-header", db, "SELECT * FROM t"], check=True,
        stdout=subprocess.DEVNULL))
    return imp, exp


def postgres_baseline(url, csv):
    table = f"bench_copy_{random.randrange(10**6)}"
    psql = ["psql", url, "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run(psql + ["-c", f"CREATE TABLE {table} (name text, n bigint, price numeric(20,2), "
                          "ok boolean, day date, note text)"], check=True)
    try:
        with open(csv) as f:
            imp, _ = timed(lambda: subprocess.run(
                psql + ["-c", f"COPY {table} FROM STDIN WITH (FORMAT csv, HEADER true)"],
                stdin=f, check=True))
        exp, _ = timed(lambda: subprocess.run(
            psql + ["-c", f"COPY {table} TO STDOUT WITH (FORMAT csv, HEADER true)"],
            stdout=subprocess.DEVNULL, check=True))
    finally:
        subprocess.run(psql + ["-c", f"DROP TABLE {table}"], check=True)
    return imp, exp


def rampart_run(work, binary, backend, pg_url, csv):
    server = Rampart(work, binary, backend, pg_url)
    server.start()
    try:
        http("POST", server.base + "/api/v1/setup",
             {"token": server.setup_token(), "email": "admin@example.com",
              "password": "velvet cactus orbit lantern"}, expect=201)
        _, token = server.session_token("admin@example.com")
        h = {"authorization": f"Bearer {token}"}
        _, project, _ = http("POST", server.base + "/api/v1/projects", {"name": "bench"}, h, expect=201)
        fields = [{"name": c, "type": t} for c, t in COLUMNS]
        fields[2]["options"] = {"scale": 2}
        _, table, _ = http("POST", server.base + f"/api/v1/projects/{project['id']}/tables",
                           {"name": "imported", "fields": fields}, h, expect=201)
        rss_before = peak_rss_mib(server.proc.pid)

        def run_import():
            with open(csv, "rb") as f:
                req = urllib.request.Request(
                    server.base + f"/api/v1/tables/{table['id']}/imports", data=f, method="POST")
                req.add_header("authorization", f"Bearer {token}")
                req.add_header("content-length", str(os.path.getsize(csv)))
                with urllib.request.urlopen(req, timeout=3600) as r:
                    import json
                    job = json.loads(r.read())
            while True:
                _, job, _ = http("GET", server.base + f"/api/v1/imports/{job['id']}", None, h, expect=200)
                if job["state"] != "running":
                    return job
                time.sleep(0.05)

        imp, job = timed(run_import)
        if job["state"] != "done":
            raise RuntimeError(f"the import ended {job}")
        rss_peak = peak_rss_mib(server.proc.pid)

        def run_export():
            req = urllib.request.Request(server.base + f"/api/v1/tables/{table['id']}/export")
            req.add_header("authorization", f"Bearer {token}")
            n = 0
            with urllib.request.urlopen(req, timeout=3600) as r:
                while chunk := r.read(1 << 20):
                    n += len(chunk)
            return n

        exp, _ = timed(run_export)
        return imp, exp, rss_before, rss_peak, job
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rampart", required=True)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--postgres-url", default=os.environ.get(
        "RAMPART_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="rampart-bench-transfer-")
    csv = os.path.join(work, "data.csv")
    write_csv(csv, args.rows)
    log(f"bench-transfer: {args.rows} rows, {os.path.getsize(csv) / 2**20:.1f} MiB")
    print(f"| backend | import, Rampart | import, baseline | ratio | export, Rampart | export, baseline | ratio | peak RSS |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        if backend == "sqlite":
            base_imp, base_exp = sqlite_baseline(work, csv)
            names = ("`sqlite3 .import`", "`sqlite3 -csv`")
        else:
            base_imp, base_exp = postgres_baseline(args.postgres_url, csv)
            names = ("`COPY FROM`", "`COPY TO`")
        server_dir = os.path.join(work, backend)
        os.makedirs(server_dir, exist_ok=True)
        imp, exp, rss_before, rss_peak, _ = rampart_run(
            server_dir, args.rampart, backend, args.postgres_url, csv)
        rate = lambda s: f"{args.rows / s / 1000:,.0f} k rows/s"  # noqa: E731
        print(f"| {backend} | {rate(imp)} | {rate(base_imp)} ({names[0]}) | {base_imp / imp:.2f} "
              f"| {rate(exp)} | {rate(base_exp)} ({names[1]}) | {base_exp / exp:.2f} "
              f"| {rss_peak:.0f} MiB (idle {rss_before:.0f}) |", flush=True)


if __name__ == "__main__":
    main()
