"""The Rasa project in nlu/: fingerprint, training and a served Rasa process.

Rasa lives in its own virtual environment (.venv-rasa) and is only ever run as a subprocess.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from nlu.metrics import Decision

ROOT = Path(__file__).resolve().parent.parent
NLU_DIR = ROOT / "nlu"
PROJECT_FILES = ("config.yml", "domain.yml")
PROJECT_DIRS = ("data", "dictionary")
RASA_LOCK = NLU_DIR / "requirements-rasa.lock"

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class NluError(Exception):
    """Training or serving failed; the message says what to do."""


def fingerprint() -> str:
    """A hash of everything the trained model depends on: config, domain, data, dictionary, Rasa's versions."""
    digest = hashlib.sha256()
    paths = [NLU_DIR / name for name in PROJECT_FILES]
    for folder in PROJECT_DIRS:
        # notes beside the data (data/SOURCES.md) do not change the model
        paths.extend(sorted(p for p in (NLU_DIR / folder).rglob("*") if p.is_file() and p.suffix != ".md"))
    paths.append(RASA_LOCK)
    for path in paths:
        if path.exists():
            digest.update(str(path.relative_to(NLU_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_name(fp: str) -> str:
    return f"nlu-{fp}.tar.gz"


def current_model(model_dir: Path) -> Path | None:
    """The model trained from nlu/ as it is now, if there is one."""
    path = model_dir / model_name(fingerprint())
    return path if path.exists() else None


def latest_model(model_dir: Path) -> Path | None:
    models = sorted(model_dir.glob("nlu-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONWARNINGS="ignore",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        GIT_DIR=os.devnull,  # Rasa asks git for a version; it must not read (or trip over) our repository
        RASA_CACHE_DIRECTORY=str(ROOT / "var" / "rasa-cache"),  # not nlu/.rasa: keep the tree clean
    )
    return env


def rasa_executable(venv: Path) -> Path:
    exe = (venv if venv.is_absolute() else ROOT / venv) / "bin" / "rasa"
    if not exe.exists():
        raise NluError(f"Rasa is not installed at {exe}: run `make install` (scripts/install-rasa.sh)")
    return exe


def train(model_dir: Path, venv: Path, *, force: bool = False, progress: Progress = _stderr) -> tuple[Path, bool]:
    """Train the NLU model unless one for the current nlu/ exists. Returns (model, trained_now)."""
    model_dir = model_dir if model_dir.is_absolute() else ROOT / model_dir
    fp = fingerprint()
    target = model_dir / model_name(fp)
    if target.exists() and not force:
        progress(f"[nlu] model up to date ({target.name}); nothing to train")
        return target, False
    model_dir.mkdir(parents=True, exist_ok=True)
    progress("[nlu] training the NLU model (nlu/ changed since the last model); this takes a few minutes")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gridtalk-train-") as out:
        produced = rasa_train(venv, NLU_DIR / "config.yml", NLU_DIR / "data", Path(out), f"nlu-{fp}", progress)
        tmp_target = target.with_suffix(".partial")
        shutil.move(produced, tmp_target)
        tmp_target.replace(target)
    for old in model_dir.glob("nlu-*.tar.gz"):
        if old != target:
            old.unlink()
    progress(f"[nlu] trained {target.name} in {time.monotonic() - started:.0f} s")
    return target, True


def rasa_train(venv: Path, config: Path, data: Path, out: Path, name: str, progress: Progress = _stderr) -> Path:
    """`rasa train nlu` of `data` with `config` into out/<name>.tar.gz, progress every 15 s; returns the model."""
    exe = rasa_executable(venv)
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as log:
        cmd = [str(exe), "train", "nlu", "--config", str(config), "--nlu", str(data), "--domain", "domain.yml"]
        cmd += ["--out", str(out), "--fixed-model-name", name]
        proc = subprocess.Popen(cmd, cwd=NLU_DIR, env=rasa_env(), stdout=log, stderr=subprocess.STDOUT)
        shown = 0
        while proc.poll() is None:
            time.sleep(1)
            elapsed = time.monotonic() - started
            if elapsed >= shown + 15:
                shown = int(elapsed // 15) * 15
                progress(f"[nlu] training {name}… {shown} s")
        if proc.returncode != 0:
            log.seek(0)
            tail = "".join(log.readlines()[-25:])
            raise NluError(f"rasa train failed (exit {proc.returncode}):\n{tail}")
    return out / f"{name}.tar.gz"


class RasaServer:
    """A Rasa server started from a trained model, bound to 127.0.0.1; stop() ends it and its children."""

    def __init__(self, model: Path, port: int, venv: Path, *, log_path: Path | None = None) -> None:
        self.model = model
        self.port = port
        self.venv = venv
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = rasa_executable(self.venv)
        cmd = [
            str(exe),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.model),
        ]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd, cwd=NLU_DIR, env=rasa_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 180.0, progress: Progress = _stderr) -> float:
        """Wait until the model is loaded, then warm it up with one parse (jieba loads its dictionary)."""
        assert self.proc is not None
        started = time.monotonic()
        last_report = started
        with httpx.Client(base_url=self.url, timeout=5.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise NluError(f"Rasa exited with code {self.proc.returncode} while loading {self.model.name}")
                try:
                    status = http.get("/status")
                    if status.status_code == 200 and status.json().get("model_file"):
                        http.post("/model/parse", json={"text": "你好"}).raise_for_status()
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                now = time.monotonic()
                if now - started > timeout:
                    self.stop()
                    raise NluError(f"Rasa did not load {self.model.name} within {timeout:.0f} s")
                if now - last_report >= 10:
                    progress(f"[nlu] Rasa is loading the model… {now - started:.0f} s")
                    last_report = now
                time.sleep(0.5)

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def write_decision(config: Path, decision: Decision) -> None:
    """Set the FallbackClassifier's threshold and ambiguity_threshold in a pipeline file, comments kept."""
    lines = config.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() == "- name: FallbackClassifier"), None)
    if start is None:
        raise NluError(f"{config} has no FallbackClassifier to calibrate")
    values = {"threshold": decision.threshold, "ambiguity_threshold": decision.ambiguity}
    found = set()
    for i in range(start + 1, len(lines)):
        match = re.match(r"(\s+)(threshold|ambiguity_threshold):\s*[0-9.]+\s*$", lines[i])
        if lines[i].lstrip().startswith("- ") or not lines[i].startswith(" "):
            break
        if match:
            lines[i] = f"{match.group(1)}{match.group(2)}: {values[match.group(2)]:g}\n"
            found.add(match.group(2))
    if found != set(values):
        raise NluError(f"{config}: the FallbackClassifier must set threshold and ambiguity_threshold")
    config.write_text("".join(lines), encoding="utf-8")
