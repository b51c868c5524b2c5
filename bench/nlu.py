"""NLU benchmark: Rasa load time, parse latency (p50/p99) and throughput at concurrency 1 and 8,
bare HTTP and through gridtalk's client (normalisation, threshold, breaker).

Run: `make bench` (or `.venv/bin/python bench/nlu.py [--requests 400]`). Figures are printed and written to
reports/bench/nlu.json. Everything targets 127.0.0.1 and stops by itself. `make bench` (bench/all.py) starts
the server with `start`, measures with `report` and then keeps the server for the chat, storm and scale-out
benches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import measure  # noqa: E402
from nlu.client import RasaNluClient  # noqa: E402
from nlu.project import RasaServer, current_model, free_port  # noqa: E402

OUT = ROOT / "reports" / "bench" / "nlu.json"
UTTERANCES = [
    "我家上个月电费多少",
    "为什么这个月电费这么高",
    "现在停电了吗",
    "我的户号是3301234567，帮我绑定",
    "峰谷电谷时段几点开始",
    "门口电线掉地上了",
    "下个月有检修停电吗",
    "已收到，已安排备用电源",
    "what's my balance",
    "is there a power cut now",
    "转人工",
    "明天下雨吗",
]


async def bench(url: str, requests: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:

        async def bare(text: str) -> object:
            response = await http.post("/model/parse", json={"text": text})
            response.raise_for_status()
            return response.json()

        client = RasaNluClient(url, timeout=30)
        for concurrency in (1, 8):
            for name, parse in (("bare", bare), ("client", client.parse)):

                async def call(n: int, parse: Callable[[str], Awaitable[object]] = parse) -> object:
                    return await parse(UTTERANCES[n % len(UTTERANCES)])

                await measure(call, 20, concurrency)  # warm-up
                rows.append({"path": name, **await measure(call, requests, concurrency)})
        await client.aclose()
    return rows


@dataclass(frozen=True)
class Started:
    """A Rasa server once ready, with the figures of its start."""

    server: RasaServer
    model: Path
    load_s: float  # wait_ready's own time: the model loaded and a first parse answered
    start_to_ready_s: float  # from the process's start to ready
    rss_mb: float | None  # Rasa's resident memory (its children included) once ready


def start(model: Path) -> Started:
    """A Rasa server of `model` on a free loopback port, timed from its start until it is ready; the caller stops
    it (`.server.stop()`). bench/all.py starts it this way and shares it with the benches after this one."""
    server = RasaServer(model, free_port(), ROOT / ".venv-rasa")
    started = time.monotonic()
    server.start()
    try:
        load_s = server.wait_ready(progress=lambda line: print(line, file=sys.stderr))
        return Started(server, model, load_s, time.monotonic() - started, _rss_mb(server))
    except BaseException:
        server.stop()
        raise


def report(rasa: Started, requests: int) -> dict[str, object]:
    """The parses measured against a started server; printed and written to reports/bench/nlu.json."""
    rows = asyncio.run(bench(rasa.server.url, requests))
    result = {
        "model": rasa.model.name,
        "model_mb": round(rasa.model.stat().st_size / 2**20, 1),
        "load_s": round(rasa.load_s, 1),
        "start_to_ready_s": round(rasa.start_to_ready_s, 1),
        "rasa_rss_mb": rasa.rss_mb,
        "runs": rows,
    }
    print(
        f"model {result['model']} ({result['model_mb']} MB); Rasa ready after {result['load_s']} s "
        f"(incl. warm-up parse), RSS {rasa.rss_mb} MB"
    )
    print(f"{'path':<8}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for row in rows:
        print(f"{row['path']:<8}{row['concurrency']:>5}{row['p50_ms']:>9}{row['p99_ms']:>9}{row['throughput_rps']:>9}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(f"written to {OUT.relative_to(ROOT)}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="parses per measurement")
    args = parser.parse_args()
    model = current_model(ROOT / "nlu" / "models")
    if model is None:
        print("no model trained from the current nlu/: run `make model`", file=sys.stderr)
        return 2
    rasa = start(model)
    try:
        report(rasa, args.requests)
    finally:
        rasa.server.stop()
    return 0


def _rss_mb(server: RasaServer) -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    assert server.proc is not None
    proc = psutil.Process(server.proc.pid)
    total = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    return round(total / 2**20)


if __name__ == "__main__":
    raise SystemExit(main())
