"""Build progress renderers: BuildKit's plain lines, or a live BuildKit-style view on a TTY."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

FRAME_LINES = 10  # a failed step's last output lines, framed after its ERROR line


class PlainProgress:
    """``--progress=plain`` as BuildKit prints it: ``#N title``, output lines timed from the
    step's own start, ``#N DONE 1.2s`` / ``#N CACHED``, sub-steps (``#N writing image ...
    done``), and for a failed step ``#N ERROR: why`` with its last lines framed."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, explain: bool = True) -> None:
        self.stream = stream
        self.quiet = quiet
        self.explain = explain
        self.titles: dict[int, str] = {}
        self.started: dict[int, float] = {}
        self.tails: dict[int, deque] = {}

    def __call__(self, event) -> None:
        if self.quiet or (event.kind == "explain" and not self.explain):
            return
        n = event.step
        if event.kind == "step":
            self.titles[n], self.started[n] = event.text, time.monotonic()
            self.tails[n] = deque(maxlen=FRAME_LINES)
        lines = {
            "step": lambda: [f"#{n} {event.text}"],
            "cached": lambda: [f"#{n} CACHED"],
            "done": lambda: [f"#{n} DONE {event.seconds:.1f}s"],
            "output": lambda: [self._output(n, event.text)],
            "detail": lambda: [f"#{n} {event.text}"],
            "explain": lambda: [f"#{n} {event.text}"],
            "error": lambda: self._error(n, event.text),
        }.get(event.kind, lambda: [f"WARNING: {event.text}"])()
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()

    def _output(self, n: int, text: str) -> str:
        line = f"#{n} {time.monotonic() - self.started.get(n, time.monotonic()):.3f} {text}"
        self.tails.setdefault(n, deque(maxlen=FRAME_LINES)).append(line)
        return line

    def _error(self, n: int, why: str) -> list[str]:
        return [f"#{n} ERROR: {why}", "------", f" > {self.titles.get(n, '')}:",
                *self.tails.get(n, ()), "------"]

    def close(self) -> None:
        pass


class RawJsonProgress:
    """``--progress=rawjson``: each event as one line of BuildKit's SolveStatus JSON
    (vertexes with digest, name, started, completed, cached, error; logs in base64)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.vertex: dict[int, dict] = {}

    def __call__(self, event) -> None:
        now = _rfc3339(time.time())
        n = event.step
        if event.kind == "step":
            digest = "sha256:" + hashlib.sha256(f"{n}:{event.text}".encode()).hexdigest()
            self.vertex[n] = {"digest": digest, "name": event.text, "started": now}
            status: dict = {"vertexes": [self.vertex[n]]}
        elif n in self.vertex and event.kind in ("done", "cached", "error"):
            v = self.vertex[n]
            v["completed"] = now
            if event.kind == "cached":
                v["cached"] = True
            if event.kind == "error":
                v["error"] = event.text
            status = {"vertexes": [v]}
        elif n in self.vertex and event.kind in ("output", "detail"):
            data = base64.b64encode((event.text + "\n").encode()).decode()
            status = {"logs": [{"vertex": self.vertex[n]["digest"], "stream": 1,
                                "data": data, "timestamp": now}]}
        else:
            data = base64.b64encode(event.text.encode()).decode()
            status = {"warnings": [{"level": 1, "short": data}]}
        self.stream.write(json.dumps(status) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Step:
    """One step as the plain progress shows it."""

    title: str
    started: float
    ended: float | None = None
    cached: bool = False
    error: str = ""
    tail: deque = field(default_factory=lambda: deque(maxlen=6))


class TtyProgress:
    """A live view: one line per step with its time, CACHED marks, the running step's output."""

    def __init__(self, stream: TextIO, *, explain: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=stream)
        self.steps: dict[int, _Step] = {}
        self.notes: list[str] = []
        self.explain = explain
        self.started = time.monotonic()
        self.finished = 0.0
        self._lock = threading.Lock()
        self.live = Live(self._render(), console=self.console, refresh_per_second=8,
                         transient=False, get_renderable=self._render)
        self.live.start()

    def __call__(self, event) -> None:
        with self._lock:
            now = time.monotonic()
            step = self.steps.get(event.step)
            if event.kind == "step":
                self.steps[event.step] = _Step(event.text, now)
            elif step and event.kind in ("done", "cached"):
                step.ended, step.cached = now, event.kind == "cached"
                step.tail.clear()
            elif step and event.kind == "error":
                step.ended, step.error = now, event.text
            elif step and event.kind in ("output", "detail"):
                step.tail.append(event.text)
            elif event.kind == "explain" and self.explain:
                self.notes.append(f"#{event.step} {event.text}")
            elif event.kind == "warning":
                self.notes.append(f"WARNING: {event.text}")

    def _render(self):
        from rich.text import Text

        now = self.finished or time.monotonic()
        done = sum(1 for s in self.steps.values() if s.ended is not None)
        end = " FINISHED" if self.finished else ""
        out = Text(f"[+] Building {now - self.started:.1f}s ({done}/{len(self.steps)}){end}\n",
                   style="bold")
        width = max(40, self.console.width - 12)
        for _, s in sorted(self.steps.items()):
            took = (s.ended or now) - s.started
            mark = "ERROR " if s.error else "CACHED " if s.cached else ""
            title = (mark + s.title.replace("\n", " "))[:width]
            style = "red" if s.error else "blue" if s.ended is not None else "yellow"
            out.append(f" => {title:<{width}} {took:5.1f}s\n", style=style)
            for line in s.tail:
                out.append(f" => => {line[:width]}\n", style="dim")
        for s in self.steps.values():  # a failed step: its last lines framed, as BuildKit
            if s.error:
                out.append(f"------\n > {s.title}:\n" + "".join(f"{t}\n" for t in s.tail)
                           + "------\n", style="red")
        for note in self.notes:
            out.append(note + "\n", style="magenta")
        return out

    def close(self) -> None:
        with self._lock:
            self.finished = time.monotonic()
        self.live.stop()


def progress_renderer(stream: TextIO, *, quiet: bool, progress: str, explain: bool):
    """The renderer ``--progress`` and ``-q`` ask for: ``auto`` is the live view on a
    terminal and plain lines elsewhere; quiet shows nothing."""
    show = not quiet and progress != "quiet"
    if show and progress == "rawjson":
        return RawJsonProgress(stream)
    if show and (progress == "tty" or (progress == "auto" and stream.isatty())):
        return TtyProgress(stream, explain=explain)
    return PlainProgress(stream, quiet=not show, explain=explain)
