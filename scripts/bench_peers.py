#!/usr/bin/env python3
"""Rampart (SQLite and PostgreSQL) against PocketBase on the reference workload, in one run.

Called by scripts/bench-peers, which installs wrk and PocketBase and builds Rampart. Every
system gets the same users, the same notes and the same access rule; every scenario runs at
each concurrency on each system in turn (A B C A B C ...), and the figures are medians of
the repetitions. Only the standard library is used.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PASSWORD = "velvet cactus orbit lantern"
RULE_READ_RAMPART = "owner = @user.id || is_published = true"
RULE_READ_PB = "owner = @request.auth.id || is_published = true"
BODY_TEXT = (
    "Some longer text that a person would write into a note, about two hundred bytes of it, "
    "to make the record look like a real one in a real table of a real project."
)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, expect=None):
    """One request; returns (status, parsed JSON or text, response headers)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            status, raw, hdrs = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, hdrs = e.code, e.read(), e.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    if expect is not None and status not in (expect if isinstance(expect, tuple) else (expect,)):
        raise RuntimeError(f"{method} {url}: {status} {str(parsed)[:500]}")
    return status, parsed, hdrs


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def dir_size_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total / 1024 / 1024


def note(i, n_users):
    return {
        "title": f"Note {i}",
        "body": BODY_TEXT,
        "team": f"team{i % 10}",
        # 1% of each owner's notes are published, so a user sees their own notes plus the
        # published notes of the 99 others (about 19,900 of 1,000,000).
        "is_published": (i // n_users) % 100 == 0,
        "n": i,
        "owner_index": i % n_users,
    }


class Server:
    """A process we start and must stop."""

    name = "?"

    def __init__(self, work):
        self.work = work
        self.proc = None
        self.base = None
        self.cold_start_ms = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def wait_ready(self, probe, started):
        for _ in range(3000):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.work}")
            try:
                status, _, _ = http("GET", self.base + probe)
                if status < 500:
                    self.cold_start_ms = (time.monotonic() - started) * 1000
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not start")


class Rampart(Server):
    def __init__(self, work, binary, backend, pg_url):
        super().__init__(work)
        self.binary = binary
        self.backend = backend
        self.pg_url = pg_url
        self.name = f"Rampart ({'SQLite' if backend == 'sqlite' else 'PostgreSQL'})"
        self.prefix = f"rt_peers{random.randrange(10**6)}_"
        self.port = free_port()

    def start(self):
        env = dict(os.environ)
        env.update(
            RAMPART_LOG__LEVEL="error",
            # One client address sends everything here; PocketBase's own limiter is off by
            # default too.
            RAMPART_RATE_LIMITS__ENABLED="false",
            RAMPART_DATABASE__POSTGRES_PREFIX=self.prefix,
        )
        args = [self.binary, "serve", "--data-dir", os.path.join(self.work, "data"),
                "--listen", f"127.0.0.1:{self.port}", "--internal-listen", "127.0.0.1:0"]
        if self.backend == "postgres":
            args += ["--database-url", self.pg_url]
        self.out = open(os.path.join(self.work, "out"), "a")
        started = time.monotonic()
        self.proc = subprocess.Popen(args, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        # The app's page: a 200 through every layer of the stack, as cheap as PocketBase's
        # /api/health (the OpenAPI document, probed before, is built on first use).
        self.wait_ready("/", started)

    def setup_token(self):
        for _ in range(100):
            with open(os.path.join(self.work, "out")) as f:
                m = re.search(r"rps_[A-Za-z0-9]+", f.read())
            if m:
                return m.group(0)
            time.sleep(0.05)
        raise RuntimeError("no setup token")

    def session_token(self, email):
        _, _, hdrs = http("POST", self.base + "/api/v1/auth/login",
                          {"email": email, "password": PASSWORD}, expect=200)
        cookie = re.search(r"__Host-rampart_session=rss_[A-Za-z0-9]+", hdrs.get("set-cookie", "")).group(0)
        _, body, _ = http("POST", self.base + "/api/v1/tokens", {"name": "bench"},
                          {"cookie": cookie, "sec-fetch-site": "same-origin"}, expect=201)
        return cookie, body["secret"]

    def prepare(self, n_users):
        http("POST", self.base + "/api/v1/setup",
             {"token": self.setup_token(), "email": "admin@example.com", "password": PASSWORD}, expect=201)
        self.admin_cookie, self.admin_token = self.session_token("admin@example.com")
        h = {"authorization": f"Bearer {self.admin_token}"}
        _, project, _ = http("POST", self.base + "/api/v1/projects", {"name": "bench"}, h, expect=201)
        _, table, _ = http("POST", self.base + f"/api/v1/projects/{project['id']}/tables", {
            "name": "notes", "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "long_text"},
                {"name": "team", "type": "text"},
                {"name": "is_published", "type": "boolean", "indexed": True},
                {"name": "n", "type": "integer"},
            ]}, h, expect=201)
        self.table = table["id"]
        _, group, _ = http("POST", self.base + "/api/v1/groups", {"name": "everyone"}, h, expect=201)
        _, pset, _ = http("POST", self.base + f"/api/v1/projects/{project['id']}/permission-sets", {
            "name": "notes", "tables": {self.table: {
                "create": True, "read": True, "update": True, "delete": True,
                "rules": {"read": RULE_READ_RAMPART, "update": "owner = @user.id",
                          "delete": "owner = @user.id"}}}}, h, expect=201)
        http("PUT", self.base + f"/api/v1/permission-sets/{pset['id']}/groups/{group['id']}", {}, h,
             expect=204)

        def make_user(i):
            _, u, _ = http("POST", self.base + "/api/v1/users", {
                "email": f"user{i}@example.com", "display_name": f"User {i}",
                "password": PASSWORD, "role": "member"}, h, expect=201)
            http("PUT", self.base + f"/api/v1/groups/{group['id']}/members/{u['id']}", {}, h,
                 expect=(200, 204))
            return u["id"]

        with ThreadPoolExecutor(4) as pool:
            self.users = list(pool.map(make_user, range(n_users)))
        self.user_cookie, self.user_token = self.session_token("user0@example.com")

    def seed(self, n_notes):
        h = {"authorization": f"Bearer {self.admin_token}"}
        url = self.base + f"/api/v1/tables/{self.table}/records/batch"
        n_users = len(self.users)

        def batch(start):
            creates = []
            for i in range(start, min(start + 1000, n_notes)):
                v = note(i, n_users)
                owner = self.users[v.pop("owner_index")]
                creates.append({"fields": v, "owner": owner})
            http("POST", url, {"create": creates}, h, expect=200)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(batch, range(0, n_notes, 1000)))

    def auth(self, who):
        return f"Bearer {self.admin_token if who == 'admin' else self.user_token}"

    def records_url(self):
        return f"/api/v1/tables/{self.table}/records"

    def cursor_at(self, who, offset):
        """The cursor that starts a page after `offset` records."""
        h = {"authorization": self.auth(who)}
        cursor, seen = None, 0
        while seen < offset:
            step = min(1000, offset - seen)
            q = f"?limit={step}" + (f"&cursor={cursor}" if cursor else "")
            _, page, _ = http("GET", self.base + self.records_url() + q, None, h, expect=200)
            seen += len(page["records"])
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        return cursor


    def record_ids(self, who, kind, count):
        """Ids of records user0 owns (`own`) or may not see (`hidden`), with versions."""
        user0 = self.users[0]
        h = {"authorization": f"Bearer {self.admin_token}"}
        flt = f'owner = "{user0}"' if kind == "own" else f'owner != "{user0}" && is_published = false'
        _, page, _ = http("GET", self.base + self.records_url() + "?limit=" + str(count) + "&filter="
                          + urllib.request.quote(flt), None, h, expect=200)
        return [(r["id"], r["version"]) for r in page["records"]]

    def db_size_mib(self):
        if self.backend == "sqlite":
            return dir_size_mib(os.path.join(self.work, "data"))
        sql = ("select coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) "
               f"from pg_tables where schemaname like '{self.prefix}%'")
        out = subprocess.run(["psql", self.pg_url, "-Atc", sql], capture_output=True, text=True)
        return int(out.stdout.strip() or 0) / 1024 / 1024

    def cleanup(self):
        if self.backend == "postgres":
            sql = (f"select string_agg(format('drop schema %I cascade', nspname), ';') "
                   f"from pg_namespace where nspname like '{self.prefix}%'")
            drops = subprocess.run(["psql", self.pg_url, "-Atc", sql], capture_output=True, text=True)
            if drops.stdout.strip():
                subprocess.run(["psql", self.pg_url, "-qc", drops.stdout.strip()], capture_output=True)

    # wrk request descriptions: (method, path, body or None, auth)
    def scenario(self, name, ctx):
        rec = self.records_url()
        user, admin = self.auth("user"), self.auth("admin")
        if name == "list_first":
            return ("GET", f"{rec}?limit=50", None, user)
        if name == "list_last":
            return ("GET", f"{rec}?limit=50&cursor={ctx['user_last_cursor']}", None, user)
        if name == "list_deep_admin":
            return ("GET", f"{rec}?limit=50&cursor={ctx['admin_deep_cursor']}", None, admin)
        if name == "get_own":
            return ("GET", f"{rec}/{ctx['own'][0][0]}", None, user)
        if name == "get_hidden":
            return ("GET", f"{rec}/{ctx['hidden'][0][0]}", None, user)
        if name == "get_own_cookie":
            return ("GET", f"{rec}/{ctx['own'][0][0]}", None, "Cookie: " + self.user_cookie)
        if name == "create":
            return ("POST", rec, {"fields": {"title": "New", "body": BODY_TEXT, "team": "team1",
                                             "is_published": False, "n": 1}}, user)
        if name == "update":
            return ("PATCH", rec + "/{id}", {"version": "{version}", "fields": {"n": 2}}, user)
        if name == "login":
            return ("POST", "/api/v1/auth/login", {"email": "user1@example.com", "password": PASSWORD}, None)
        return None


class PocketBase(Server):
    name = "PocketBase"

    def __init__(self, work, binary):
        super().__init__(work)
        self.binary = binary
        self.port = free_port()
        self.dir = os.path.join(work, "pb_data")

    def start(self):
        self.out = open(os.path.join(self.work, "pb.log"), "a")
        started = time.monotonic()
        self.proc = subprocess.Popen([self.binary, "serve", "--http", f"127.0.0.1:{self.port}", "--dir", self.dir],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.wait_ready("/api/health", started)

    def prepare(self, n_users):
        subprocess.run([self.binary, "superuser", "upsert", "admin@example.com", PASSWORD, "--dir", self.dir],
                       check=True, capture_output=True)
        self.start()
        _, body, _ = http("POST", self.base + "/api/collections/_superusers/auth-with-password",
                          {"identity": "admin@example.com", "password": PASSWORD}, expect=200)
        self.admin_token = body["token"]
        h = {"authorization": self.admin_token}
        http("POST", self.base + "/api/collections", {
            "name": "notes", "type": "base",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "text"},
                {"name": "team", "type": "text"},
                {"name": "is_published", "type": "bool"},
                {"name": "n", "type": "number", "onlyInt": True},
                {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
                {"name": "created", "type": "autodate", "onCreate": True},
                {"name": "updated", "type": "autodate", "onCreate": True, "onUpdate": True},
            ],
            "listRule": RULE_READ_PB, "viewRule": RULE_READ_PB,
            "createRule": '@request.auth.id != ""',
            "updateRule": "owner = @request.auth.id", "deleteRule": "owner = @request.auth.id",
            # The same indexes Rampart keeps: owner (Rampart: owner, id) and is_published.
            "indexes": ["CREATE INDEX idx_notes_owner ON notes (owner)",
                        "CREATE INDEX idx_notes_published ON notes (is_published)"],
        }, h, expect=200)

        def make_user(i):
            _, u, _ = http("POST", self.base + "/api/collections/users/records", {
                "email": f"user{i}@example.com", "password": PASSWORD, "passwordConfirm": PASSWORD,
                "name": f"User {i}"}, h, expect=200)
            return u["id"]

        with ThreadPoolExecutor(4) as pool:
            self.users = list(pool.map(make_user, range(n_users)))
        self.user_token = self.login("user0@example.com")

    def login(self, email):
        _, body, _ = http("POST", self.base + "/api/collections/users/auth-with-password",
                          {"identity": email, "password": PASSWORD}, expect=200)
        return body["token"]

    def seed(self, n_notes):
        """As the issue describes: stop, insert with sqlite3, ANALYZE, start again."""
        self.stop()
        db = sqlite3.connect(os.path.join(self.dir, "data.db"))
        alphabet = string.ascii_lowercase + string.digits
        rng = random.Random(7)
        stamp = "2026-11-26 00:00:00.000Z"
        n_users = len(self.users)

        def rows():
            for i in range(n_notes):
                v = note(i, n_users)
                yield ("".join(rng.choices(alphabet, k=15)), v["title"], v["body"], v["team"],
                       1 if v["is_published"] else 0, v["n"], self.users[v["owner_index"]], stamp, stamp)

        db.executemany("insert into notes (id, title, body, team, is_published, n, owner, created, updated) "
                       "values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
        db.commit()
        db.execute("analyze")
        db.commit()
        db.close()

    def auth(self, who):
        return self.admin_token if who == "admin" else self.user_token

    def record_ids(self, who, kind, count):
        db = sqlite3.connect(os.path.join(self.dir, "data.db"))
        user0 = self.users[0]
        if kind == "own":
            rows = db.execute("select id from notes where owner = ? limit ?", (user0, count)).fetchall()
        else:
            rows = db.execute("select id from notes where owner != ? and is_published = 0 limit ?",
                              (user0, count)).fetchall()
        db.close()
        return [(r[0], None) for r in rows]


    def db_size_mib(self):
        return dir_size_mib(self.dir)

    def cleanup(self):
        pass

    def scenario(self, name, ctx):
        rec = "/api/collections/notes/records"
        user, admin = self.auth("user"), self.auth("admin")
        if name == "list_first":
            return ("GET", f"{rec}?perPage=50&skipTotal=1", None, user)
        if name == "list_first_sorted":
            return ("GET", f"{rec}?perPage=50&skipTotal=1&sort=id", None, user)
        if name == "list_first_counted":
            return ("GET", f"{rec}?perPage=50", None, user)
        if name == "list_last":
            return ("GET", f"{rec}?perPage=50&skipTotal=1&sort=id&page={ctx['user_last_page']}", None, user)
        if name == "list_deep_admin":
            return ("GET", f"{rec}?perPage=50&skipTotal=1&sort=id&page={ctx['deep_page']}", None, admin)
        if name in ("get_own", "get_own_cookie"):
            return ("GET", f"{rec}/{ctx['own'][0][0]}", None, user)
        if name == "get_hidden":
            return ("GET", f"{rec}/{ctx['hidden'][0][0]}", None, user)
        if name == "create":
            return ("POST", rec, {"title": "New", "body": BODY_TEXT, "team": "team1", "is_published": False,
                                  "n": 1, "owner": self.users[0]}, user)
        if name == "update":
            return ("PATCH", rec + "/{id}", {"n": 2}, user)
        if name == "login":
            return ("POST", "/api/collections/users/auth-with-password",
                    {"identity": "user1@example.com", "password": PASSWORD}, None)
        return None


LUA = r"""
local method, path, body, auth = %(method)s, %(path)s, %(body)s, %(auth)s
local threads = %(threads)d
local pool = {%(pool)s}
local next_index = 1
local versions = {}
local busy = {}
local counter = 0
-- runs in the main state: numbers the threads
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
-- runs in each thread: it takes every threads-th record, so no two threads update one record
function init(args)
  local mine = {}
  for i, r in ipairs(pool) do
    if (i - 1) %% threads == id then table.insert(mine, r) end
  end
  pool = mine
  for _, r in ipairs(pool) do versions[r[1]] = r[2] end
end
function request()
  local headers = {["Content-Type"] = "application/json"}
  if string.sub(auth, 1, 8) == "Cookie: " then headers["Cookie"] = string.sub(auth, 9)
  elseif auth ~= "" then headers["Authorization"] = auth end
  local p, b = path, body
  if #pool > 0 then
    -- The next note whose previous update has been answered: sending it again before that
    -- would carry a version the server has already moved past.
    local r
    for _ = 1, #pool do
      r = pool[next_index]
      next_index = next_index %% #pool + 1
      if not busy[r[1]] then break end
    end
    busy[r[1]] = true
    p = string.gsub(p, "{id}", r[1])
    if b ~= nil then b = string.gsub(b, '"{version}"', tostring(versions[r[1]] or 1)) end
  end
  return wrk.format(method, p, headers, b)
end
-- the answer to an update carries the record's new version; a note whose answer does not
-- name it (an error) stays busy, out of the rotation
function response(status, headers, resp)
  if #pool > 0 and status == 200 then
    local rid = string.match(resp, '"id":"([^"]+)"')
    local v = string.match(resp, '"version":(%%d+)')
    if rid then busy[rid] = nil end
    if rid and v then versions[rid] = tonumber(v) end
  end
end
"""


def lua_string(s):
    return "nil" if s is None else json.dumps(s)


def run_wrk(server, spec, conc, duration, work, pool, sample_rss=False):
    method, path, body, auth = spec
    threads = min(2, conc)
    script = os.path.join(work, f"s{random.randrange(10**9)}.lua")
    pool_lua = ",".join(f'{{"{i}", {v or 1}}}' for i, v in pool) if "{id}" in path else ""
    with open(script, "w") as f:
        f.write(LUA % {"method": lua_string(method), "path": lua_string(path),
                       "body": lua_string(None if body is None else json.dumps(body)),
                       "auth": lua_string(auth or ""), "pool": pool_lua, "threads": threads})
    peak = [0.0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(server.proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=sampler)
    if sample_rss:
        t.start()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conc}", f"-d{duration}s", "--latency", "-s", script,
                          server.base], capture_output=True, text=True).stdout
    stop.set()
    if sample_rss:
        t.join()
    os.remove(script)

    def latency_ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50": latency_ms("50%"),
        "p99": latency_ms("99%"),
        "total": int(total.group(1)) if total else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
        "peak_rss": peak[0],
    }


SCENARIOS = [
    ("list_first", "first page of 50, as a user, default order"),
    ("list_first_sorted", "first page of 50, as a user, `sort=id` on PocketBase"),
    ("list_first_counted", "first page of 50, as a user, PocketBase counting (its default)"),
    ("list_last", "the user's last page (cursor / `page` + `sort=id`)"),
    ("list_deep_admin", "page 10,000 as an admin without a rule"),
    ("get_own", "get a record the user owns"),
    ("get_own_cookie", "get a record the user owns, Rampart signed in by session cookie"),
    ("get_hidden", "get a record the user may not see (404 expected)"),
    ("create", "create a note"),
    ("update", "update a note the user owns"),
    ("login", "password login"),
    ("get_own_flood", "get a record the user owns, during a login flood (16 more clients)"),
]
# The data request measured while others flood the login endpoint, and how many flood.
FLOODED = "get_own_flood"
FLOOD_CLIENTS = 16


def fmt_rps(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rampart", required=True)
    ap.add_argument("--pocketbase", required=True)
    ap.add_argument("--pg-url", default=os.environ.get("RAMPART_TEST_POSTGRES_URL",
                                                       "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--notes", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--output", help="a Markdown file to write the report to")
    args = ap.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    top = tempfile.mkdtemp(prefix="bench-peers-")
    systems = []
    try:
        pb = PocketBase(os.path.join(top, "pb"), args.pocketbase)
        os.makedirs(pb.work)
        systems.append(pb)
        for backend in args.backends.split(","):
            r = Rampart(os.path.join(top, backend), args.rampart, backend, args.pg_url)
            os.makedirs(r.work)
            systems.append(r)
        facts = {}
        for s in systems:
            log(f"{s.name}: preparing {args.users} users")
            if isinstance(s, Rampart):
                s.start()
            t0 = time.monotonic()
            s.prepare(args.users)
            log(f"{s.name}: seeding {args.notes:,} notes")
            t0 = time.monotonic()
            s.seed(args.notes)
            facts[s.name] = {"seed_s": time.monotonic() - t0}
            log(f"{s.name}: seeded in {facts[s.name]['seed_s']:.1f} s")
            # Cold start of the seeded instance, then idle memory.
            s.stop()
            time.sleep(0.5)
            s.start()
            facts[s.name]["cold_start_ms"] = s.cold_start_ms
            time.sleep(2)
            facts[s.name]["idle_rss"] = rss_mib(s.proc.pid)
            facts[s.name]["db_mib"] = s.db_size_mib()
            if isinstance(s, PocketBase):
                s.user_token = s.login("user0@example.com")
                _, body, _ = http("POST", s.base + "/api/collections/_superusers/auth-with-password",
                                  {"identity": "admin@example.com", "password": PASSWORD}, expect=200)
                s.admin_token = body["token"]
        # Where the deep pages are: the user's last page, and page 10,000 (or the middle of a
        # small seed) for the admin.
        ctx = {}
        # user0 owns every note i with i % users == 0 and sees every published one
        visible = sum(1 for i in range(args.notes) if i % args.users == 0 or note(i, args.users)["is_published"])
        last_page = max(1, math.ceil(visible / 50))
        deep_page = min(10_000, max(1, args.notes // 100))
        for s in systems:
            c = {"user_last_page": last_page, "deep_page": deep_page}
            if isinstance(s, Rampart):
                c["user_last_cursor"] = s.cursor_at("user", (last_page - 1) * 50)
                c["admin_deep_cursor"] = s.cursor_at("admin", (deep_page - 1) * 50)
            c["own"] = s.record_ids("user", "own", 1000)
            c["hidden"] = s.record_ids("user", "hidden", 1)
            ctx[s.name] = c
        log(f"user sees {visible:,} notes: last page {last_page}; admin deep page {deep_page}")

        results = {}
        for name, _ in SCENARIOS:
            for conc in concurrencies:
                for rep in range(args.reps):
                    order = systems if rep % 2 == 0 else list(reversed(systems))
                    for s in order:
                        flooded = name == FLOODED
                        spec = s.scenario("get_own" if flooded else name, ctx[s.name])
                        if spec is None:
                            continue
                        # Updates name the version they change: each run starts from the
                        # versions the records have now.
                        def fresh():
                            if name != "update":
                                return []
                            # Updates wrk left in flight when it stopped still commit after
                            # it exits; reading versions before they land would make 409s.
                            time.sleep(1)
                            return s.record_ids("user", "own", 1000)
                        if args.warmup and rep == 0 and not flooded:
                            run_wrk(s, spec, conc, args.warmup, top, fresh())
                        pool = fresh()
                        flood = None
                        if flooded:
                            # Logins keep every hashing thread busy from before the
                            # measurement until after it.
                            flood = threading.Thread(target=run_wrk, args=(
                                s, s.scenario("login", ctx[s.name]), FLOOD_CLIENTS,
                                args.duration + 2, top, []))
                            flood.start()
                            time.sleep(1)
                        r = run_wrk(s, spec, conc, args.duration, top, pool,
                                     sample_rss=(name == "list_first" and conc == 64))
                        if flood:
                            flood.join()
                        results.setdefault((name, conc, s.name), []).append(r)
                        log(f"{name} c={conc} {s.name}: {r['rps']:.0f} req/s p50 {r['p50']:.2f} ms "
                            f"p99 {r['p99']:.2f} ms non-2xx {r['non2xx']}")
        for s in systems:
            runs = results.get(("list_first", 64, s.name), [])
            facts[s.name]["load_rss"] = max((r["peak_rss"] for r in runs), default=0.0)
            facts[s.name]["after_rss"] = rss_mib(s.proc.pid)
        report = render(args, systems, results, facts, visible, last_page, deep_page)
        print(report)
        if args.output:
            with open(args.output, "w") as f:
                f.write(report)
    finally:
        for s in systems:
            s.stop()
            s.cleanup()
        shutil.rmtree(top, ignore_errors=True)


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def errors_of(name, runs):
    """Requests that did not get the expected answer (404 for the hidden record)."""
    if name == "get_hidden":
        return sum(r["total"] - r["non2xx"] + r["socket_errors"] for r in runs)
    return sum(r["non2xx"] + r["socket_errors"] for r in runs)


def render(args, systems, results, facts, visible, last_page, deep_page):
    pb = systems[0]
    ours = systems[1:]
    cores = os.cpu_count()
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    lines = [
        f"{args.notes:,} notes, {args.users} users; the user sees {visible:,} notes (last page {last_page}), "
        f"the admin's deep page is {deep_page}. wrk on the same {cores} cores ({mem_gib:.0f} GiB), "
        f"{args.warmup} s warm-up, {args.duration} s per run, medians of {args.reps} runs taken in "
        f"alternating order. req/s, p50 / p99 in ms, errors summed over the runs; ratio = Rampart / PocketBase req/s.",
        "",
    ]
    head = "| scenario | c | PocketBase |"
    rule = "|---|---|---|"
    for s in ours:
        head += f" {s.name} | ratio |"
        rule += "---|---|"
    lines += [head, rule]
    for name, label in SCENARIOS:
        for conc in args_concurrency(args):
            pb_runs = results.get((name, conc, pb.name))
            ref_name = "list_first" if name in ("list_first_sorted", "list_first_counted") else name
            row = f"| {label} | {conc} |"
            if pb_runs:
                row += (f" {fmt_rps(median_of(pb_runs, 'rps'))} ({median_of(pb_runs, 'p50'):.1f} / "
                        f"{median_of(pb_runs, 'p99'):.1f}, {errors_of(name, pb_runs)}) |")
            else:
                row += " — |"
            for s in ours:
                runs = results.get((ref_name, conc, s.name))
                if not runs:
                    row += " — | — |"
                    continue
                rps = median_of(runs, "rps")
                if name != ref_name:
                    row += " (same as the first page) |"
                else:
                    row += (f" {fmt_rps(rps)} ({median_of(runs, 'p50'):.1f} / {median_of(runs, 'p99'):.1f}, "
                            f"{errors_of(name, runs)}) |")
                pb_rps = median_of(pb_runs, "rps") if pb_runs else 0.0
                if pb_rps:
                    row += f" **{rps / pb_rps:.1f}x** |"
                elif pb_runs:
                    row += " PocketBase did not answer |"
                else:
                    row += " — |"
            lines.append(row)
    lines += ["", "| | PocketBase | " + " | ".join(s.name for s in ours) + " |",
              "|---|---|" + "---|" * len(ours)]
    for key, label, fmt in [
        ("seed_s", "seeding time", "{:.1f} s"),
        ("cold_start_ms", "cold start to first answer (seeded)", "{:.0f} ms"),
        ("idle_rss", "idle RSS", "{:.0f} MiB"),
        ("load_rss", "peak RSS, first page at c=64", "{:.0f} MiB"),
        ("after_rss", "RSS after the run", "{:.0f} MiB"),
        ("db_mib", "database on disk", "{:.0f} MiB"),
    ]:
        lines.append(f"| {label} | " + " | ".join(fmt.format(facts[s.name].get(key) or 0) for s in systems) + " |")
    for conc in args_concurrency(args):
        cells = []
        for s in systems:
            alone, flooded = results.get(("get_own", conc, s.name)), results.get((FLOODED, conc, s.name))
            cells.append(f"{median_of(flooded, 'rps') / median_of(alone, 'rps'):.2f}"
                         if alone and flooded and median_of(alone, "rps") else "—")
        lines.append(f"| get during a login flood / get alone, c={conc} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def args_concurrency(args):
    return [int(c) for c in args.concurrency.split(",")]


if __name__ == "__main__":
    main()
