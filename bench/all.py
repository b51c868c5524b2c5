"""Every benchmark under bench/, as `make bench` runs them: each bench measures what it measures alone and writes
its own reports/bench/*.json; this runner only saves the waiting between them.

Where the time goes otherwise: four benches each start a Rasa server (≈ 25 s of loading each), and the
fan-out's run at an enforced 30/s is 5 000 sends that mostly wait (≈ 167 s) while the scale and KPI benches'
data fills (INSERT … SELECT, data generation, not figures) each keep one PostgreSQL backend busy. So, in order:

  nlu                  a Rasa server started here (bench/nlu.py's `start`: its load timed as nlu.py times it),
                       then nlu.py's parses against it (`report`)
  chat, storm,         each with --rasa-url: the same server; it is stopped after scale-out
  scaleout
  fanout               the four runs other than capped-30, nothing else running
  capped-30 ∥ fills    fanout's capped-30 (--merge: added to the fanout.json just written) in the background,
                       beside `scale.py --fill-only` and `kpi.py --fill-only`, the two fills at the same time
  scale, kpi           --reuse: their measurements on the kept databases, one after the other, nothing else
                       running; each drops its database at the end; their reports carry the fill's times
  memory, sizing       as alone (memory's `gridtalk run` starts a Rasa of its own: its load is a figure)

Every step's output streams as it goes, under a header line (the background steps' lines prefixed with their
names). At the end: each step's seconds and the total, also written to reports/bench/all.json. A step that
fails does not stop the others; the runner exits 1 naming the failed steps. Ctrl-C (or SIGTERM) stops every
process it started, Rasa included.

Run: `make bench`, or `.venv/bin/python bench/all.py [--quick]` (--quick: every bench's own quick variant,
a few minutes: a check of the runner, not figures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import nlu  # noqa: E402
from nlu.project import current_model  # noqa: E402

OUT = ROOT / "reports" / "bench" / "all.json"
FANOUT_ALONE = "uncapped-1,bare-aiogram,capped-1000,uncapped-2"
QUICK_CONVERSATIONS = 20_000  # kpi.py has no --quick
QUICK_REQUESTS = 50  # nor has nlu.py
GRACE_S = 30.0  # after Ctrl-C, how long a bench may take to clean up before it is terminated


@dataclass
class Step:
    name: str
    seconds: float
    ok: bool
    beside: list[str] = field(default_factory=list)  # the steps that ran at the same time


class Child:
    """A bench as a child process in a process group of its own (so that stopping it reaches its children);
    its output on this terminal, or prefixed with its name line by line when `prefixed` (a background step)."""

    def __init__(self, name: str, script: str, args: list[str], *, prefixed: bool = False) -> None:
        self.name = name
        command = [sys.executable, str(ROOT / "bench" / script), *args]
        print(f"\n===== {name}: {' '.join([f'bench/{script}', *args])}", flush=True)
        piped: dict[str, Any] = {}
        if prefixed:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            piped = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "env": env}
        self.started = time.monotonic()
        self.ended: float | None = None
        self.proc = subprocess.Popen(command, cwd=ROOT, start_new_session=True, **piped)
        self.relay: threading.Thread | None = None
        if self.proc.stdout is not None:
            self.relay = threading.Thread(target=_relay, args=(self.proc.stdout, name), daemon=True)
            self.relay.start()

    def poll(self) -> bool:
        """True once the process has ended (its end time noted, its last lines relayed)."""
        if self.ended is None and self.proc.poll() is not None:
            self.ended = time.monotonic()
            if self.relay is not None:
                self.relay.join(5)
        return self.ended is not None

    def wait(self) -> Step:
        self.proc.wait()
        self.poll()
        return self.step()

    def step(self, beside: list[str] | None = None) -> Step:
        assert self.ended is not None
        return Step(self.name, round(self.ended - self.started, 1), self.proc.returncode == 0, beside or [])

    def signal(self, sig: int) -> None:
        """`sig` to its process group, if it still runs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)


def stop(children: list[Child]) -> None:
    """Ctrl-C to each child's process group, as a terminal sends it (each bench cleans up: its servers, its
    databases); SIGTERM, then SIGKILL, to those that take too long."""
    for sig, grace in ((signal.SIGINT, GRACE_S), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        alive = [child for child in children if child.proc.poll() is None]
        for child in alive:
            print(f"{signal.Signals(sig).name} to {child.name}", file=sys.stderr, flush=True)
            child.signal(sig)
        deadline = time.monotonic() + grace
        while any(child.proc.poll() is None for child in alive) and time.monotonic() < deadline:
            time.sleep(0.2)


def _relay(stream: IO[bytes], name: str) -> None:
    for line in stream:
        sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
        sys.stdout.flush()


class Runner:
    """The steps in order; every child started (to stop those still running on Ctrl-C); the shared Rasa."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.steps: list[Step] = []
        self.children: list[Child] = []
        self.rasa: nlu.Started | None = None

    def quick_args(self, script: str) -> list[str]:
        if not self.quick:
            return []
        if script == "kpi.py":
            return ["--conversations", str(QUICK_CONVERSATIONS)]
        return ["--quick"]

    def spawn(self, name: str, script: str, args: list[str], prefixed: bool = False) -> Child:
        child = Child(name, script, [*args, *self.quick_args(script)], prefixed=prefixed)
        self.children.append(child)
        return child

    def bench(self, name: str, script: str, *args: str) -> None:
        """One bench in the foreground, nothing else running."""
        self.steps.append(self.spawn(name, script, list(args)).wait())

    def side_by_side(self, *benches: tuple[str, str, list[str]]) -> None:
        """Benches at the same time (each line of their output prefixed with its name); waits for all."""
        began = time.monotonic()
        running = [self.spawn(name, script, args, prefixed=True) for name, script, args in benches]
        while not all([child.poll() for child in running]):  # a list: every child's end noted as it comes
            time.sleep(0.2)
        names = [child.name for child in running]
        for child in running:
            self.steps.append(child.step(beside=[n for n in names if n != child.name]))
        self.steps.append(Step(f"({' ∥ '.join(names)}: wall)", round(time.monotonic() - began, 1), True))

    def in_process(self, name: str, work: Callable[[], None]) -> None:
        """A step run here (the Rasa server's start and nlu.py's parses, its stop)."""
        print(f"\n===== {name}", flush=True)
        began, ok = time.monotonic(), True
        try:
            work()
        except Exception:
            traceback.print_exc()
            ok = False
        self.steps.append(Step(name, round(time.monotonic() - began, 1), ok))

    def nlu(self) -> None:
        model = current_model(ROOT / "nlu" / "models")
        if model is None:
            raise RuntimeError("no model trained from the current nlu/: run `make model`")
        self.rasa = nlu.start(model)
        nlu.report(self.rasa, QUICK_REQUESTS if self.quick else 400)

    def stop_rasa(self) -> None:
        if self.rasa is not None:
            self.rasa.server.stop()
            self.rasa = None

    def run(self) -> None:
        self.in_process("nlu", self.nlu)
        # Without a shared server (its start failed) each bench starts its own, as when run alone.
        rasa = ["--rasa-url", self.rasa.server.url] if self.rasa is not None else []
        self.bench("chat", "chat.py", *rasa)
        self.bench("storm", "storm.py", *rasa)
        self.bench("scaleout", "scaleout.py", *rasa)
        self.in_process("rasa stop", self.stop_rasa)
        self.bench("fanout", "fanout.py", "--only", FANOUT_ALONE)
        self.side_by_side(
            ("fanout capped-30", "fanout.py", ["--only", "capped-30", "--merge"]),
            ("scale fill", "scale.py", ["--fill-only"]),
            ("kpi fill", "kpi.py", ["--fill-only"]),
        )
        self.bench("scale", "scale.py", "--reuse")
        self.bench("kpi", "kpi.py", "--reuse")
        self.bench("memory", "memory.py")
        self.bench("sizing", "sizing.py")

    def stop_everything(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        stop(self.children)
        self.stop_rasa()


def interrupted(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def table(steps: list[Step], total: float) -> str:
    """Step → seconds (those side by side marked ∥ with the others), and the total."""
    lines = [f"{'step':<52}{'seconds':>9}"]
    for step in steps:
        mark = "" if step.ok else "  FAILED"
        beside = "  ∥ " + ", ".join(step.beside) if step.beside else ""
        lines.append(f"{step.name:<52}{step.seconds:>9.1f}{mark}{beside}")
    lines.append(f"{'total':<52}{total:>9.1f}")
    return "\n".join(lines)


def write_report(steps: list[Step], total: float, quick: bool) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "quick": quick,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "steps": [asdict(step) for step in steps],
        "total_seconds": total,
        "failed": [step.name for step in steps if not step.ok],
    }
    OUT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every bench's quick variant: a check of the runner")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    runner = Runner(args.quick)
    began = time.monotonic()
    try:
        runner.run()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping what was started", file=sys.stderr, flush=True)
        return 130
    finally:
        runner.stop_everything()
    total = round(time.monotonic() - began, 1)
    print(f"\n{table(runner.steps, total)}")
    write_report(runner.steps, total, args.quick)
    print(f"written to {OUT.relative_to(ROOT)}")
    failed = [step.name for step in runner.steps if not step.ok]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
