"""Measure hastack's deploy, no-op re-deploy, check and destroy against a fresh emulator.

Every AWS call passes through a counting proxy on 127.0.0.1, so each phase is timed and its
calls counted by service and operation. The same stack built and removed by plain boto3
(floor.py) runs through the same proxy: hastack's figures are reported as ratios to it.
The report is docs/BENCHMARKS.md. Run as ``bench/run`` (``bench/run --help``).

Exit code: 0 when every run succeeded, every no-op re-deploy changed nothing and every guard
holds, 1 otherwise. The guards are ratios to the boto3 floor measured in the same run (2 AZs),
so a slow machine slows both sides; the goals in seconds depend on the machine and are only
reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from bench.floor import Floor  # noqa: E402
from hastack import emulator as hastack_emulator  # noqa: E402

PHASES = ("cold", "noop", "check", "destroy")
PHASE_TITLES = {
    "cold": "cold deploy (site.yml)",
    "noop": "no-op re-deploy (site.yml)",
    "check": "check (check.yml)",
    "destroy": "destroy (destroy.yml)",
    "create": "floor create (boto3)",
    "delete": "floor delete (boto3)",
}
# Goals of the performance issue, on this machine, 2 AZs, emulator (seconds).
GOALS = {"cold": 25.0, "noop": 15.0, "check": 8.0, "destroy": 20.0}
GOAL_AZS = 2
GOAL_SLOPE = 2.0  # seconds per extra AZ on a cold deploy
# The performance guard (the collection issue): hastack's median over the floor's, 2 AZs.
GUARDS = {"cold": 14.0, "noop": 10.0, "destroy": 10.0}
# Which floor figure each hastack phase is divided by.
FLOOR_OF = {"cold": "create", "noop": "create", "check": "create", "destroy": "delete"}
COMMAND = "bench/run"


# -- the counting proxy ------------------------------------------------------------------


def operation(headers: Any, path: str, body: bytes) -> str:
    """``service:Operation`` of one botocore request, whatever its protocol."""
    auth = headers.get("Authorization", "")
    service = auth.split("Credential=")[1].split("/")[3] if "Credential=" in auth else "?"
    if target := headers.get("X-Amz-Target"):  # JSON protocol (SSM, ...)
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if "/operation/" in path:  # Smithy RPC v2 CBOR (CloudWatch in recent botocore)
        return f"{service}:{path.rsplit('/', 1)[-1]}"
    for pair in body.decode(errors="replace").split("&"):  # query protocol (EC2, ELBv2, IAM)
        if pair.startswith("Action="):
            return f"{service}:{pair[len('Action=') :]}"
    return f"{service}:{headers.get('X-HTTP-Method', '')}{path}"


class _Forwarder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server: CountingProxy = self.server  # type: ignore[assignment]
        with server.lock:
            server.calls.append(operation(self.headers, self.path, body))
        conn = http.client.HTTPConnection(*server.target, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        conn.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, *_: Any) -> None:
        pass


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to the emulator and records ``service:Operation`` in order."""

    daemon_threads = True

    def __init__(self, target: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forwarder)
        url = urlsplit(target)
        self.target = (url.hostname, url.port)
        self.calls: list[str] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @contextmanager
    def phase(self) -> Iterator[Counter[str]]:
        """Counts the calls made inside the block into the yielded Counter (filled on exit)."""
        counts: Counter[str] = Counter()
        start = len(self.calls)
        try:
            yield counts
        finally:
            with self.lock:
                counts.update(self.calls[start:])


@contextmanager
def counting_proxy(target: str) -> Iterator[CountingProxy]:
    proxy = CountingProxy(target)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


# -- one measurement ---------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    tool: str  # hastack | floor
    phase: str  # cold noop check destroy | create delete
    azs: int
    run: int
    seconds: float
    calls: dict[str, int]
    changed: int | None = None  # PLAY RECAP changed count (hastack only)
    slowest: tuple[tuple[str, float], ...] = ()  # the phase's slowest tasks (hastack only)

    @property
    def call_count(self) -> int:
        return sum(self.calls.values())


class BenchError(RuntimeError):
    """A run failed or a no-op re-deploy changed something: the numbers mean nothing."""


def run_playbook(playbook: str, extra_vars: dict[str, Any], env: dict[str, str]) -> dict:
    """Run one playbook with the json callback; returns its document, raises on failure."""
    cmd = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        playbook,
        "-i",
        "inventories/local",
        "-e",
        json.dumps(extra_vars),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    start = proc.stdout.find("\n{\n")
    try:
        data, _ = json.JSONDecoder().raw_decode(proc.stdout[start + 1 if start >= 0 else 0 :])
    except ValueError:
        data = {}
    if proc.returncode != 0:
        failures = [
            f"{t['task']['name']}: {str(r.get('msg', r))[:500]}"
            for play in data.get("plays", [])
            for t in play["tasks"]
            for r in t["hosts"].values()
            if r.get("failed") and not r.get("ignore_errors")
        ]
        detail = "\n".join(failures) or (proc.stdout[-3000:] + proc.stderr[-2000:])
        raise BenchError(f"{playbook} {extra_vars} failed (rc {proc.returncode}):\n{detail}")
    if not data.get("stats"):  # without it a no-op's "0 changed" would prove nothing
        raise BenchError(
            f"{playbook}: no json callback result in its output:\n{proc.stdout[-2000:]}"
        )
    return data


def slowest_tasks(data: dict, count: int = 8) -> tuple[tuple[str, float], ...]:
    """The ``count`` slowest tasks of a json-callback document (a looped task: all items)."""
    times = []
    for play in data.get("plays", []):
        for task in play["tasks"]:
            span = task["task"].get("duration") or {}
            if "start" in span and "end" in span:
                start, end = (
                    dt.datetime.fromisoformat(span[k].rstrip("Z")) for k in ("start", "end")
                )
                times.append((task["task"]["name"], round((end - start).total_seconds(), 2)))
    return tuple(sorted(times, key=lambda t: -t[1])[:count])


def _changed(stats: dict) -> int:
    return sum(h.get("changed", 0) for h in stats.values())


def bench_hastack(proxy: CountingProxy, env: dict[str, str], azs: int, run: int) -> list[Sample]:
    """cold deploy, no-op re-deploy, check, destroy of one fresh stack."""
    stack = f"bench-a{azs}-r{run}"
    extra = {"stack_name": stack, "vpc_az_count": azs}
    samples = []
    for phase, playbook in (
        ("cold", "site.yml"),
        ("noop", "site.yml"),
        ("check", "check.yml"),
        ("destroy", "destroy.yml"),
    ):
        with proxy.phase() as calls:
            start = time.monotonic()
            data = run_playbook(playbook, extra, env)
            seconds = time.monotonic() - start
        stats = data.get("stats", {})
        changed = _changed(stats)
        slow = slowest_tasks(data)
        samples.append(Sample("hastack", phase, azs, run, seconds, dict(calls), changed, slow))
        _progress(f"  {azs} AZs run {run} {phase:8} {seconds:6.1f} s {sum(calls.values()):4} calls")
        if phase == "noop" and changed:
            raise BenchError(f"the no-op re-deploy of {stack} changed {changed} task(s): {stats}")
    return samples


def bench_floor(proxy: CountingProxy, azs: int, run: int) -> list[Sample]:
    floor = Floor(proxy.endpoint)
    samples = []
    with proxy.phase() as calls:
        start = time.monotonic()
        stack = floor.create(f"floor-a{azs}-r{run}", azs)
        seconds = time.monotonic() - start
    samples.append(Sample("floor", "create", azs, run, seconds, dict(calls)))
    with proxy.phase() as calls:
        start = time.monotonic()
        floor.delete(stack)
        seconds = time.monotonic() - start
    samples.append(Sample("floor", "delete", azs, run, seconds, dict(calls)))
    for s in samples:
        _progress(f"  {azs} AZs run {run} {s.phase:8} {s.seconds:6.2f} s {s.call_count:4} calls")
    return samples


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


# -- summary -----------------------------------------------------------------------------


def summarise(samples: list[Sample]) -> dict[str, Any]:
    """Medians per phase and AZ count, ratios to the floor, the AZ slope and the goals."""
    table: dict[int, dict[str, dict[str, Any]]] = {}
    for azs in sorted({s.azs for s in samples}):
        rows: dict[str, dict[str, Any]] = {}
        for phase in (*PHASES, "create", "delete"):
            mine = [s for s in samples if s.azs == azs and s.phase == phase]
            if not mine:
                continue
            secs = [s.seconds for s in mine]
            rows[phase] = {
                "median": statistics.median(secs),
                "min": min(secs),
                "max": max(secs),
                "runs": len(mine),
                "calls": round(statistics.median(s.call_count for s in mine)),
                "changed": (
                    max(s.changed or 0 for s in mine) if mine[0].tool == "hastack" else None
                ),
            }
        for phase, row in rows.items():
            floor = rows.get(FLOOR_OF.get(phase, ""))
            row["ratio"] = row["median"] / floor["median"] if floor and floor["median"] else None
            row["floor_calls"] = floor["calls"] if floor else None
        table[azs] = rows
    colds = [(azs, rows["cold"]["median"]) for azs, rows in table.items() if "cold" in rows]
    slope = _slope(colds) if len(colds) >= 2 else None
    two = table.get(GOAL_AZS, {})
    goals = _limits(two, GOALS, "median")
    goals.append(
        {
            "phase": "slope",
            "limit": GOAL_SLOPE,
            "value": slope,
            "met": None if slope is None else slope <= GOAL_SLOPE,
        }
    )
    guards = _limits(two, GUARDS, "ratio")
    return {"table": table, "slope": slope, "goals": goals, "guards": guards}


def _limits(rows: dict[str, dict[str, Any]], limits: dict[str, float], key: str) -> list[dict]:
    """Each phase's ``key`` (median or ratio) against its limit; a no-op must change nothing."""
    out = []
    for phase, limit in limits.items():
        value = rows.get(phase, {}).get(key)
        ok = None if value is None else value <= limit
        if phase == "noop" and ok is not None:
            ok = ok and rows[phase]["changed"] == 0
        out.append({"phase": phase, "limit": limit, "value": value, "met": ok})
    return out


def _slope(points: list[tuple[int, float]]) -> float:
    """Least-squares seconds per extra AZ through the median cold deploys."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


# -- the machine -------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))} ({platform.release()})"
    except OSError:
        pass
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "OS": os_name,
        "Python": platform.python_version(),
        "ansible-core": _version("ansible-core"),
        "amazon.aws": _collection_version("amazon", "aws"),
        "community.aws": _collection_version("community", "aws"),
        "boto3": _version("boto3"),
        "moto": _version("moto"),
        "git commit": _commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _collection_version(namespace: str, name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec("ansible_collections")
    for base in spec.submodule_search_locations if spec and spec.submodule_search_locations else []:
        manifest = Path(base) / namespace / name / "MANIFEST.json"
        if manifest.is_file():
            return json.loads(manifest.read_text())["collection_info"]["version"]
    return "not installed"


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def _commit() -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (with uncommitted changes)" if _git("status", "--porcelain") else "")


# -- the report --------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def _cell(text: str) -> str:
    """Task names hold "|" (``present | Create ...``): escaped, or they split the table."""
    return text.replace("|", "\\|")


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "**not met**")


def render(result: dict[str, Any]) -> str:
    """docs/BENCHMARKS.md from a result: {command, machine, runs, summary, operations}."""
    summary = result["summary"]
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/run: do not edit by hand, run the command again. -->",
        f"Generated by `{result['command']}` (see [PERFORMANCE.md](PERFORMANCE.md) for where "
        "the time goes and the critical path on real AWS).",
        "",
    ]
    if result.get("note"):
        out += [f"> {result['note']}", ""]
    out += ["## Machine", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in result["machine"].items()]
    out += ["", "## Goals (2 AZs, emulator, medians)", ""]
    out += ["| goal | limit | measured | |", "|---|---|---|---|"]
    for g in summary["goals"]:
        if g["phase"] == "slope":
            name, unit = "each extra AZ adds to a cold deploy", " s/AZ"
        else:
            name, unit = PHASE_TITLES[g["phase"]], " s"
        if g["phase"] == "noop":
            name += ", zero changes"
        value = _fmt(g["value"], ".1f", unit)
        out.append(f"| {name} | <= {g['limit']:g}{unit} | {value} | {_met(g['met'])} |")
    if summary.get("guards"):
        out += ["", "## Guard (2 AZs, hastack's median over the boto3 floor's, same run)", ""]
        out += ["| phase | limit | measured | |", "|---|---|---|---|"]
        for g in summary["guards"]:
            name = PHASE_TITLES[g["phase"]] + (", zero changes" if g["phase"] == "noop" else "")
            value = _fmt(g["value"], ".1f", "x")
            out.append(f"| {name} | <= {g['limit']:g}x | {value} | {_met(g['met'])} |")
    for azs, rows in summary["table"].items():
        out += ["", f"## {azs} availability zones", ""]
        out += [
            "| phase | runs | median s | min s | max s | API calls | floor calls | x floor "
            "| changed |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for phase, row in rows.items():
            changed = "-" if row["changed"] is None else str(row["changed"])
            out.append(
                f"| {PHASE_TITLES[phase]} | {row['runs']} | {row['median']:.2f} | {row['min']:.2f} "
                f"| {row['max']:.2f} | {row['calls']} | {_fmt(row['floor_calls'], 'd')} "
                f"| {_fmt(row['ratio'], '.0f', 'x')} | {changed} |"
            )
    out += ["", f"Cold deploy slope: {_fmt(summary['slope'], '.2f', ' s')} per extra AZ.", ""]
    ops = result.get("operations") or {}
    if ops:
        out += [
            "## API calls by operation",
            "",
            f"One run with {ops['azs']} AZs; hastack's phases beside the floor's.",
            "",
            "| operation | " + " | ".join(ops["phases"]) + " |",
            "|---|" + "---|" * len(ops["phases"]),
        ]
        for name in sorted(ops["counts"]):
            cells = " | ".join(str(ops["counts"][name].get(p, "")) for p in ops["phases"])
            out.append(f"| {name} | {cells} |")
        out.append("")
    if ops.get("slowest"):
        out += ["## Slowest tasks", "", f"One run with {ops['azs']} AZs (a loop counts once).", ""]
        out += ["| phase | task | s |", "|---|---|---|"]
        for phase, tasks in ops["slowest"].items():
            out += [f"| {phase} | {_cell(name)} | {secs:.1f} |" for name, secs in tasks]
        out.append("")
    out += [
        "## How to read this",
        "",
        "- Every phase runs against a fresh embedded emulator (moto) through a counting proxy;",
        "  seconds are wall time of `ansible-playbook` (or of the boto3 floor), medians over runs.",
        "- *floor* is `bench/floor.py`: the same stack made and removed by plain boto3 with the",
        "  fewest API calls. *x floor* divides a hastack phase by the floor's create (deploys,",
        "  check) or delete (destroy). On the emulator an AWS call costs milliseconds, so the",
        "  ratio is mostly Ansible's own cost (a Python process per module call), not AWS.",
        "- *API calls* are every request that reached the emulator in that phase, reads included;",
        "  *changed* is the PLAY RECAP count (a no-op re-deploy must show 0).",
        "- On real AWS the emulator's instant NAT gateways and load balancers take minutes and",
        "  dominate: see PERFORMANCE.md for the critical path there.",
        "",
    ]
    return "\n".join(out)


def operations_table(samples: list[Sample]) -> dict[str, Any]:
    """Calls by operation in the first run of the smallest AZ count, per phase."""
    azs = min(s.azs for s in samples)
    first = [s for s in samples if s.azs == azs and s.run == 1]
    phases = [s.phase for s in first]
    counts: dict[str, dict[str, int]] = {}
    for s in first:
        for op, n in s.calls.items():
            counts.setdefault(op, {})[s.phase] = n
    slowest = {s.phase: [list(t) for t in s.slowest] for s in first if s.slowest}
    return {"azs": azs, "phases": phases, "counts": counts, "slowest": slowest}


# -- the command -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per AZ count (default 3)")
    parser.add_argument("--azs", default="2,3,6", help="AZ counts, comma-separated (default 2,3,6)")
    parser.add_argument("--quick", action="store_true", help="1 run of 2 AZs")
    parser.add_argument("--output", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--json", help="also write the raw samples and summary here")
    parser.add_argument("--note", default="", help="a line quoted at the top of the report")
    parser.add_argument(
        "--from-json", metavar="FILE", help="measure nothing: render a --json file's results again"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.azs = 1, "2"
    args.az_counts = [int(x) for x in str(args.azs).split(",") if x.strip()]
    if args.runs < 1 or not args.az_counts or min(args.az_counts) < 2:
        parser.error("--runs must be >= 1 and every --azs count >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        saved.pop("samples", None)
        Path(args.output).write_text(render(saved))
        _progress(f"bench: wrote {args.output} from {args.from_json}")
        return 0
    command = shlex.join([COMMAND, *(argv if argv is not None else sys.argv[1:])])
    info = machine()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="hastack-bench-") as tmp:
        state = Path(tmp)
        emu = hastack_emulator.ensure(state)
        _progress(f"bench: emulator {emu.endpoint} (state {state})")
        try:
            with counting_proxy(emu.endpoint) as proxy:
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE")
                }
                env |= hastack_emulator.DUMMY_CREDENTIALS | {
                    "AWS_ENDPOINT_URL": proxy.endpoint,
                    "AWS_REGION": "us-east-1",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "HASTACK_STATE_DIR": str(state),
                    "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
                    "ANSIBLE_NOCOLOR": "1",
                }
                os.environ.update(hastack_emulator.DUMMY_CREDENTIALS)  # the floor's boto3
                Floor(emu.endpoint).warm_up()  # not through the proxy: not counted
                for azs in args.az_counts:
                    for run in range(1, args.runs + 1):
                        samples += bench_floor(proxy, azs, run)
                        samples += bench_hastack(proxy, env, azs, run)
        except BenchError as exc:
            _progress(f"bench: FAILED: {exc}")
            return 1
        finally:
            hastack_emulator.stop(state)
    info["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    result = {
        "command": command,
        "note": args.note,
        "machine": info,
        "summary": summarise(samples),
        "operations": operations_table(samples),
    }
    Path(args.output).write_text(render(result))
    _progress(f"bench: wrote {args.output}")
    if args.json:
        raw = [s.__dict__ for s in samples]
        Path(args.json).write_text(json.dumps({**result, "samples": raw}, indent=2, default=str))
    for g in result["summary"]["goals"]:
        met = _met(g["met"]).strip("*")
        _progress(f"  goal {g['phase']:8} <= {g['limit']:g}: {_fmt(g['value'])} {met}")
    broken = [g for g in result["summary"]["guards"] if g["met"] is False]
    for g in result["summary"]["guards"]:
        met = _met(g["met"]).strip("*")
        _progress(f"  guard {g['phase']:7} <= {g['limit']:g}x: {_fmt(g['value'])}x {met}")
    if broken:
        _progress(f"bench: FAILED: guard broken: {', '.join(g['phase'] for g in broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
