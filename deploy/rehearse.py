"""Rehearse the deployment on this machine: the project's own hosts in network namespaces.

Run as root (``ip netns``). Creates ``<prefix>-front`` (nginx, the build host's snapshot directory),
``<prefix>-app1`` and ``<prefix>-app2`` (gunicorn, each its own snapshot copy), ``<prefix>-redis``
(Redis, AOF ``appendfsync always``) and ``<prefix>-client`` (the load), joined by veth pairs to a
bridge in ``<prefix>-lan`` on a private /24 (10.77.0.0/24 by default). Only loopback and these
namespaces are ever a target. Then, in order:

1. renders deploy/nginx and deploy/redis templates, a self-signed TLS certificate (made here, never
   committed), secrets as files (``RISKCARD_*_FILE``), one signing key shared by both hosts;
2. publishes a snapshot on the build host; each app host catches up (``riskcard snapshot-pull``,
   as its ``ExecStartPre`` does) and starts gunicorn;
3. throughput: look-ups answered by nginx's cache against nginx serving a static file (wrk, same run);
4. faults at a steady rate through nginx (uncached look-ups, which reach the app hosts) while known
   writes (codes, consents, opt-outs, proofs, revocations) go to the state store: app host 1 is
   killed (SIGKILL) and started again, Redis is killed (SIGKILL) and started again, a new snapshot
   is published and pulled by both hosts, the front's cache key follows (nginx reload);
5. checks every acknowledged write is present, limits (429, 413), a backup restored into a scratch
   Redis; cleans up processes and namespaces whatever happens.

The last stdout line is one JSON object (``benchmarks/cluster.py`` prints it). docs/deploy.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PY = sys.executable
SERVER_NAME = "riskcard.test"


def sh(*args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(list(args), check=False, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)[:200]} failed ({p.returncode}): {(p.stderr or p.stdout)[-800:]}")
    return p


def render(template: Path, values: dict) -> str:
    """The template with every ``${UPPER_NAME}`` filled (nginx's own ``$vars`` are left alone)."""
    text = "\n".join(line for line in template.read_text().splitlines() if not line.lstrip().startswith("#"))
    return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: str(values[m.group(1)]), text) + "\n"


class Net:
    """The namespaces, veth pairs and bridge; ``close`` removes them and ends every process in them."""

    def __init__(self, prefix: str, subnet: str, hosts: dict[str, list[str]]):
        self.prefix, self.subnet, self.hosts = prefix, subnet, hosts
        self.names = [f"{prefix}-{h}" for h in hosts] + [f"{prefix}-lan"]

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def up(self) -> None:
        self.close()
        lan = f"{self.prefix}-lan"
        for name in self.names:
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", lan, "link", "set", "br0", "up")
        for i, (host, addrs) in enumerate(self.hosts.items()):
            a, b = f"{self.prefix}h{i}", f"{self.prefix}b{i}"
            sh("ip", "link", "add", a, "type", "veth", "peer", "name", b)
            sh("ip", "link", "set", a, "netns", self.ns(host))
            sh("ip", "link", "set", b, "netns", lan)
            sh("ip", "-n", lan, "link", "set", b, "master", "br0", "up")
            for addr in addrs:
                sh("ip", "-n", self.ns(host), "addr", "add", f"{addr}/24", "dev", a)
            sh("ip", "-n", self.ns(host), "link", "set", a, "up")

    def pids(self, host: str) -> list[int]:
        out = sh("ip", "netns", "pids", self.ns(host), check=False).stdout.split()
        return [int(p) for p in out]

    def kill_all(self, host: str, sig: int = signal.SIGKILL) -> None:
        for pid in self.pids(host):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        # a veth pair created but not yet moved (a run killed in ``up``) stays in the root namespace
        links = sh("ip", "-br", "link", check=False).stdout.split("\n")
        ours = {line.split()[0].split("@")[0] for line in links if line.strip()}
        for i in range(len(self.hosts)):
            for end in (f"{self.prefix}h{i}", f"{self.prefix}b{i}"):
                if end in ours:
                    sh("ip", "link", "del", end, check=False)
        existing = sh("ip", "netns", "list", check=False).stdout.split()
        for name in self.names:
            if name in existing:
                for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                sh("ip", "netns", "del", name, check=False)


def wrk(net: Net, host: str, url: str, seconds: float, connections: int, script: Path | None) -> dict:
    cmd = ["ip", "netns", "exec", net.ns(host), "wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s",
           "--latency", "--timeout", "5s"]
    if script:
        cmd += ["-s", str(script)]
    out = sh(*cmd, url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "p99_ms": round(p99_ms, 2), "errors": errors}


# --------------------------------------------------------------------------- the orchestrator
class Rehearsal:
    def __init__(self, tmp: Path, prefix: str, subnet: str, quick: bool):
        self.tmp, self.quick, self.smoke = tmp, quick, False
        n = subnet.rsplit(".", 1)[0]
        self.ip = {"front": f"{n}.1", "client": f"{n}.9", "client_limited": f"{n}.10", "app1": f"{n}.11",
                   "app2": f"{n}.12", "redis": f"{n}.30"}
        self.net = Net(prefix, subnet, {"front": [self.ip["front"]], "app1": [self.ip["app1"]],
                                        "app2": [self.ip["app2"]], "redis": [self.ip["redis"]],
                                        "client": [self.ip["client"], self.ip["client_limited"]]})
        self.procs: dict[str, subprocess.Popen] = {}
        self.source = f"http://{self.ip['front']}:8081/snapshots/"
        # /readyz (snapshot readable, state reachable) where the app has it, else /healthz
        self.ready_path = "readyz" if "/readyz" in (ROOT / "miniapp" / "app.py").read_text() else "healthz"

    def spawn(self, name: str, host: str, cmd: list[str], env: dict | None = None, log: str | None = None):
        out = open(self.tmp / "logs" / f"{log or name}.log", "ab")
        self.procs[name] = subprocess.Popen(["ip", "netns", "exec", self.net.ns(host), *cmd], env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        return self.procs[name]

    def run_in(self, host: str, cmd: list[str], env: dict | None = None, timeout: float = 120) -> str:
        return sh("ip", "netns", "exec", self.net.ns(host), *cmd, env=env, timeout=timeout).stdout

    def worker(self, host: str, *args: str, timeout: float = 180) -> dict:
        out = self.run_in(host, [PY, str(DEPLOY / "netload.py"), *args], env=self.env_base(),
                          timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def curl(self, host: str, url: str) -> tuple[int, str]:
        p = sh("ip", "netns", "exec", self.net.ns(host), "curl", "-s", "-m", "2", "--cacert",
               str(self.tmp / "tls" / "cert.pem"), "-o", "-", "-w", "\n%{http_code}", url, check=False)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def env_base(self) -> dict:
        return {**{k: v for k, v in os.environ.items() if not k.startswith("RISKCARD_")}, "PYTHONPATH": str(ROOT)}

    # -- set-up --
    def prepare(self, communities: int) -> None:
        from miniapp.proofs import generate_key
        from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

        t = self.tmp
        for d in ("logs", "tls", "secrets", "run", "cache", "redis", "keys"):
            (t / d).mkdir(parents=True, exist_ok=True)
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
           "-subj", f"/CN={SERVER_NAME}", "-addext", f"subjectAltName=DNS:{SERVER_NAME},IP:{self.ip['front']}",
           "-keyout", str(t / "tls" / "key.pem"), "-out", str(t / "tls" / "cert.pem"))
        password = os.urandom(16).hex()
        secrets = {"pseudonym_key": TEST_KEY.hex(), "secret_key": os.urandom(32).hex(), "redis_password": password,
                   "state_url": f"redis://:{password}@{self.ip['redis']}:6379/0"}
        for name, value in secrets.items():
            p = t / "secrets" / name
            p.write_text(value + "\n")
            p.chmod(0o600)
        generate_key(t / "keys")
        self.community_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9] + [1000 + i for i in range(communities)]
        t0 = time.perf_counter()
        publish_fixture(t / "build" / "snapshots", extra_communities=communities)
        self.build_s = time.perf_counter() - t0
        (t / "redis" / "data").mkdir(exist_ok=True)
        (t / "redis" / "redis.conf").write_text(render(DEPLOY / "redis" / "redis.conf.template", {
            "REDIS_ADDR": self.ip["redis"], "DATA_DIR": t / "redis" / "data", "LOG_FILE": t / "logs" / "redis.log",
            "REDIS_PASSWORD": password}))
        self.write_front_key(None)
        for d in ("cache", "run"):
            shutil.chown(t / d, "www-data")
        upstreams = "\n".join(f"        server {self.ip[h]}:8000 max_fails=1 fail_timeout=3s;" for h in ("app1", "app2"))
        (t / "nginx.conf").write_text(render(DEPLOY / "nginx" / "riskcard.conf.template", {
            "WORKER_PROCESSES": "2", "NGINX_USER": "www-data", "RUN_DIR": t / "run", "LOG_DIR": t / "logs", "MIME_TYPES": "/etc/nginx/mime.types",
            "LIMIT_EXEMPT": f"        {self.ip['client']}/32 1;", "LOOKUP_RATE": "50r/s", "WRITE_RATE": "5r/s",
            "MAX_BODY": "64k", "SNAPSHOT_KEY_CONF": t / "snapshot_key.conf", "CACHE_DIR": t / "cache",
            "UPSTREAM_SERVERS": upstreams, "FRONT_ADDR": self.ip["front"], "SERVER_NAME": SERVER_NAME,
            "TLS_CERT": t / "tls" / "cert.pem", "TLS_KEY": t / "tls" / "key.pem", "REAL_IP": "",
            "STATIC_DIR": ROOT / "static", "INTERNAL_ADDR": self.ip["front"], "APP_SUBNET": self.net.subnet,
            "BUILD_SNAPSHOTS": t / "build" / "snapshots"}))

    def write_front_key(self, sha: str | None) -> None:
        (self.tmp / "snapshot_key.conf").write_text(render(DEPLOY / "nginx" / "snapshot_key.conf.template",
                                                           {"SNAPSHOT_SHA256": sha or "none"}))

    def app_env(self, host: str) -> dict:
        s = self.tmp / "secrets"
        return {**self.env_base(), "RISKCARD_SNAPSHOT_DIR": str(self.tmp / host / "snapshots"),
                "RISKCARD_SNAPSHOT_SOURCE": self.source, "RISKCARD_STATE_URL_FILE": str(s / "state_url"),
                "RISKCARD_PSEUDONYM_KEY_FILE": str(s / "pseudonym_key"), "RISKCARD_SECRET_KEY_FILE": str(s / "secret_key"),
                "RISKCARD_SIGNING_KEY_DIR": str(self.tmp / "keys"), "RISKCARD_PUBLIC_URL": f"https://{SERVER_NAME}",
                "RISKCARD_TRUST_PROXY_HOPS": "1", "RISKCARD_GUNICORN_BIND": f"{self.ip[host]}:8000",
                "RISKCARD_GUNICORN_WORKERS": "2", "RISKCARD_GUNICORN_THREADS": "4"}

    def start_redis(self) -> None:
        self.spawn("redis", "redis", ["redis-server", str(self.tmp / "redis" / "redis.conf")])

    def start_app(self, host: str) -> float:
        """What riskcard-app.service does: catch up (ExecStartPre), then gunicorn; seconds until /healthz answers."""
        t0 = time.perf_counter()
        env = self.app_env(host)
        self.run_in(host, [str(Path(PY).parent / "riskcard"), "snapshot-pull", "--json"], env=env)
        self.spawn(host, host, [PY, "-m", "gunicorn", "-c", "python:miniapp.gunicorn_conf", "--log-config-json",
                                str(DEPLOY / "app" / "logging.json"), "miniapp.wsgi:app"], env=env)
        self.wait_http(f"http://{self.ip[host]}:8000/{self.ready_path}", 60)
        return time.perf_counter() - t0

    def wait_http(self, url: str, timeout_s: float, host: str = "client") -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.curl(host, url)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{url} did not answer 200 within {timeout_s} s")

    def host_sha(self, host: str) -> str | None:
        code, body = self.curl("client", f"http://{self.ip[host]}:8000/api/v1/meta")
        return json.loads(body).get("sha256") if code == 200 else None

    def front_key(self) -> bool:
        """deploy/front_key.py on the front host: once every host serves one snapshot, key the cache on it, reload."""
        nginx = f"nginx -c {self.tmp / 'nginx.conf'} -e {self.tmp / 'logs' / 'nginx-error.log'} -s reload"
        cmd = [PY, str(DEPLOY / "front_key.py"), "--timeout-s", "10", "--include", str(self.tmp / "snapshot_key.conf"), "--reload", nginx]
        for h in ("app1", "app2"):
            cmd += ["--host", f"http://{self.ip[h]}:8000"]
        p = sh("ip", "netns", "exec", self.net.ns("front"), *cmd, check=False, env=self.env_base(), timeout=60)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"front_key.py failed: {p.stderr[-400:]}")
        self.front_key_last = f"{p.returncode} {p.stdout.strip()[-300:]} {p.stderr.strip()[-300:]}"
        print("front_key.py:", self.front_key_last, file=sys.stderr)
        return p.returncode == 0 and json.loads(p.stdout.strip().splitlines()[-1])["sha256"] is not None

    # -- phases --
    def throughput(self, seconds: float, rounds: int) -> dict:
        paths = [p for cid in self.community_ids[:1000] for p in (f"/api/v1/communities/{cid}", f"/community/{cid}")]
        lua = self.tmp / "lookups.lua"
        lua.write_text("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
                       "counter = 0\nrequest = function()\n  counter = counter + 1\n"
                       "  return wrk.format('GET', paths[(counter % #paths) + 1])\nend\n")
        front = f"https://{self.ip['front']}"
        warm = self.tmp / "warm_paths.json"
        warm.write_text(json.dumps(paths))
        rate = 400.0
        w = self.worker("client", "load", "--host", self.ip["front"], "--cafile", str(self.tmp / "tls" / "cert.pem"),
                        "--paths", str(warm), "--rate", str(rate), "--seconds", str(len(paths) / rate))
        self.warm_errors = w["errors"]  # every cacheable path fetched once: the cache holds them all
        looks, statics = [], []
        for _ in range(rounds):
            statics.append(wrk(self.net, "client", front + "/static/site.css", seconds, 32, None))
            looks.append(wrk(self.net, "client", front, seconds, 32, lua))
        cached = sh("ip", "netns", "exec", self.net.ns("client"), "curl", "-s", "-o", "/dev/null", "-D", "-", "--cacert",
                    str(self.tmp / "tls" / "cert.pem"), f"https://{SERVER_NAME}/api/v1/communities/1",
                    "--resolve", f"{SERVER_NAME}:443:{self.ip['front']}").stdout
        ratios = [a["rps"] / b["rps"] for a, b in zip(looks, statics)]
        return {"lookups_per_s": round(statistics.median(x["rps"] for x in looks)),
                "static_per_s": round(statistics.median(x["rps"] for x in statics)),
                "ratio_vs_static": round(statistics.median(ratios), 3),
                "lookup_p99_ms": statistics.median(x["p99_ms"] for x in looks),
                "static_p99_ms": statistics.median(x["p99_ms"] for x in statics),
                "throughput_errors": sum(x["errors"] for x in looks + statics),
                "x_cache": (re.search(r"(?i)x-cache: (\w+)", cached) or [None, None])[1]}

    def faults(self, seconds: float, rate: float) -> dict:
        from tests.miniapp.snapshot_fixture import publish_fixture

        paths = self.tmp / "fault_paths.json"
        ids = self.community_ids
        paths.write_text(json.dumps([p for cid in ids[:500] for p in
                                     (f"/api/v1/communities/{cid}?n={{i}}", "/api/v1/meta", "/api/v1/meta", "/api/v1/meta")]))
        cafile = str(self.tmp / "tls" / "cert.pem")
        results: dict = {}

        def bg(name, host, *args):
            try:
                results[name] = self.worker(host, *args, timeout=seconds + 120)
            except Exception as exc:  # noqa: BLE001 - reported below, with the worker's own message
                results[name + "_error"] = str(exc)

        load = threading.Thread(target=bg, args=("load", "client", "load", "--host", self.ip["front"], "--cafile", cafile,
                                                 "--paths", str(paths), "--rate", str(rate), "--seconds", str(seconds)))
        writer = threading.Thread(target=bg, args=("writer", "app2", "writer", "--state-url-file",
                                                   str(self.tmp / "secrets" / "state_url"), "--rate", "40",
                                                   "--seconds", str(seconds)))
        load.start()
        writer.start()
        t0 = time.monotonic()
        ev: dict = {}

        def at(frac):
            time.sleep(max(0.0, t0 + 0.5 + frac * seconds - time.monotonic()))

        at(0.08)
        self.net.kill_all("app1")  # the host's service dies: every process in it
        ev["app1_killed_at_s"] = round(time.monotonic() - t0, 2)
        at(0.15)

        def restart_app1():
            ev["app_restart_s"] = round(self.start_app("app1"), 2)
        restarter = threading.Thread(target=restart_app1)
        restarter.start()
        at(0.4)
        t_kill = time.monotonic()
        ev["redis_killed_at_s"] = round(t_kill - t0, 2)
        self.net.kill_all("redis")
        self.procs["redis"].wait(5)
        code, body = self.curl("client", f"http://{self.ip['app2']}:8000/{self.ready_path}")
        ev["ready_while_redis_down"] = {"path": self.ready_path, "status": code, "body": body[:120]}
        time.sleep(max(0.0, t_kill + 0.5 - time.monotonic()))  # systemd's RestartSec=500ms
        self.start_redis()
        while sh("ip", "netns", "exec", self.net.ns("redis"), "redis-cli", "-h", self.ip["redis"], "-a",
                 (self.tmp / "secrets" / "redis_password").read_text().strip(), "--no-auth-warning", "ping",
                 check=False).stdout.strip() != "PONG" and time.monotonic() - t_kill < 30:
            time.sleep(0.05)
        ev["redis_down_s"] = round(time.monotonic() - t_kill, 2)
        at(0.55)
        t_pub = time.monotonic()
        ev["published_at_s"] = round(t_pub - t0, 2)
        publish_fixture(self.tmp / "build" / "snapshots", as_of="2020-02-11", extra_communities=len(ids) - 9)
        new_sha = json.loads((self.tmp / "build" / "snapshots" / "CURRENT").read_text())["sha256"]
        for h in ("app2", "app1"):  # what riskcard-snapshot-pull.service does, started by the build or its timer
            self.run_in(h, [str(Path(PY).parent / "riskcard"), "snapshot-pull", "--json"], env=self.app_env(h))
        ev["snapshot_pulled_s"] = round(time.monotonic() - t_pub, 2)  # both hosts' CURRENT names it
        restarter.join()  # app1 (restarting) serves it once it is up
        while time.monotonic() - t_pub < 120 and not all(self.host_sha(h) == new_sha for h in ("app1", "app2")):
            time.sleep(0.05)
        ev["snapshot_on_hosts_s"] = round(time.monotonic() - t_pub, 2)
        tries = 0
        while tries < 20:  # as its timer would: "not yet" (exit 1) is tried again
            tries += 1
            if self.front_key():
                break
            time.sleep(1.0)
        ev["front_key_switched"] = tries < 20 or self.front_key()
        ev["front_key_tries"] = tries
        ev["front_key_last"] = self.front_key_last
        ev["snapshot_live_s"] = round(time.monotonic() - t_pub, 2)
        ev["load_ended_before_events"] = not load.is_alive()
        load.join()
        writer.join()
        if "load" not in results or "writer" not in results:
            raise RuntimeError(f"a load worker failed: {results}")
        w = results["writer"]
        acked = self.tmp / "acked.json"
        acked.write_text(json.dumps(w["acked"]))
        check = self.worker("app2", "check", "--state-url-file", str(self.tmp / "secrets" / "state_url"),
                            "--acked", str(acked))
        return {**results["load"], **ev, "writes_acked": len(w["acked"]), "writes_refused_while_down": w["refused"],
                "write_outages_s": w["outages_s"], "lost": check["missing"], "lost_samples": check["missing_samples"],
                "new_snapshot_sha_both_hosts": all(self.host_sha(h) == new_sha for h in ("app1", "app2"))}

    def backup_restore(self) -> dict:
        """docs/deploy.md's backup (redis-cli --rdb) and restore (a Redis started on the copy): every write there."""
        pw = (self.tmp / "secrets" / "redis_password").read_text().strip()
        bdir = self.tmp / "restore"
        bdir.mkdir()
        self.run_in("redis", ["redis-cli", "-h", self.ip["redis"], "-a", pw, "--no-auth-warning", "--rdb",
                              str(bdir / "dump.rdb")])
        self.spawn("redis-restore", "redis", ["redis-server", "--port", "6380", "--bind", self.ip["redis"], "--dir", str(bdir),
                                              "--dbfilename", "dump.rdb", "--appendonly", "no", "--requirepass", pw,
                                              "--save", ""])
        time.sleep(0.5)
        check = self.worker("app2", "check", "--state-url-file", str(self.tmp / "secrets" / "state_url"),
                            "--acked", str(self.tmp / "acked.json"), "--port", "6380")
        return {"backup_restore_checked": check["checked"], "backup_restore_lost": check["missing"]}

    def run(self, quick: bool) -> dict:
        self.net.up()
        self.prepare(communities=500 if quick else 5000)
        self.start_redis()
        self.spawn("nginx", "front", ["nginx", "-c", str(self.tmp / "nginx.conf"), "-e",
                                      str(self.tmp / "logs" / "nginx-error.log"), "-g", "daemon off;"])
        self.wait_http(f"http://{self.ip['front']}:8081/snapshots/CURRENT", 20, host="app1")
        for h in ("app1", "app2"):
            self.start_app(h)
        ok = self.front_key()
        self.wait_http(f"https://{self.ip['front']}/healthz", 30)
        self.wait_http(f"https://{self.ip['front']}/{self.ready_path}", 30)
        out: dict = {"hosts": {k: v for k, v in self.ip.items()}, "front_key_initial": ok}
        if not self.smoke:
            out.update(self.throughput(seconds=2.0 if quick else 6.0, rounds=2 if quick else 3))
        out.update(self.faults(seconds=15.0 if quick else 40.0, rate=100.0 if quick else 200.0))
        out.update(self.worker("client", "limits", "--host", self.ip["front"], "--cafile",
                               str(self.tmp / "tls" / "cert.pem"), "--source", self.ip["client_limited"]))
        out.update(self.backup_restore())
        return out

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.net.close()
        for p in self.procs.values():
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass


def can_rehearse() -> str | None:
    """None when this machine can run the rehearsal, else why not (root, ip netns, nginx, redis, wrk, curl)."""
    if os.geteuid() != 0:
        return "the rehearsal needs root (ip netns)"
    for tool in ("ip", "nginx", "redis-server", "redis-cli", "wrk", "curl", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-deps)"
    if sh("ip", "netns", "list", check=False).returncode != 0:
        return "ip netns is not available here"
    return None


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds of each phase (under a minute)")
    ap.add_argument("--prefix", default="rc", help="namespace name prefix (rc-front, rc-app1, ...)")
    ap.add_argument("--subnet", default="10.77.0.0/24", help="the private /24 of the rehearsal hosts")
    ap.add_argument("--smoke", action="store_true", help="with --quick: skip the throughput phase (the test's mode)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, rendered configs)")
    args = ap.parse_args(argv)
    why = can_rehearse()
    if why:
        raise SystemExit(f"cannot rehearse: {why}")
    sys.path.insert(0, str(ROOT))
    with prefix_lock(args.prefix):
        return _rehearse(args)


@contextlib.contextmanager
def prefix_lock(prefix: str, wait_s: float = 600.0):
    """One rehearsal per prefix at a time on this machine: a second one would tear down the first's
    namespaces (``Net.up`` clears leftovers of its own names). It waits, bounded, then says why."""
    path = Path(tempfile.gettempdir()) / f"riskcard-rehearsal-{re.sub(r'[^A-Za-z0-9_-]', '_', prefix)}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        end = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    raise SystemExit(f"cannot rehearse: another rehearsal with prefix {prefix!r} holds {path}")
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)


def _rehearse(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="riskcard-rehearsal-"))
    tmp.chmod(0o755)
    r = Rehearsal(tmp, args.prefix, args.subnet, args.quick or args.smoke)
    r.smoke = args.smoke
    t0 = time.perf_counter()
    try:
        out = r.run(r.quick)
    finally:
        r.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out["recover_s"] = max(out["redis_down_s"], *(out["write_outages_s"] or [0]))  # writes refused until then
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    out["snapshot_build_s"] = round(r.build_s, 1)
    out["work_dir"] = str(tmp) if args.keep else None
    print(json.dumps(out, ensure_ascii=False))
    return out


if __name__ == "__main__":
    main()
