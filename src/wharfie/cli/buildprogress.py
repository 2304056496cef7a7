"""Build progress renderers: BuildKit's plain lines, or a live BuildKit-style view on a TTY."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO


class PlainProgress:
    """``#N title``, output lines, ``#N DONE 1.2s`` / ``#N CACHED``, as ``--progress=plain``."""

    def __init__(self, stream: TextIO, *, quiet: bool = False, explain: bool = True) -> None:
        self.stream = stream
        self.quiet = quiet
        self.explain = explain
        self.started = time.monotonic()

    def __call__(self, event) -> None:
        if self.quiet or (event.kind == "explain" and not self.explain):
            return
        n = event.step
        line = {
            "step": lambda: f"#{n} {event.text}",
            "cached": lambda: f"#{n} CACHED",
            "done": lambda: f"#{n} DONE {event.seconds:.1f}s",
            "output": lambda: f"#{n} {time.monotonic() - self.started:.3f} {event.text}",
            "explain": lambda: f"#{n} {event.text}",
        }.get(event.kind, lambda: f"WARNING: {event.text}")()
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


@dataclass
class _Step:
    title: str
    started: float
    ended: float | None = None
    cached: bool = False
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
            elif step and event.kind == "output":
                step.tail.append(event.text)
            elif event.kind == "explain" and self.explain:
                self.notes.append(f"#{event.step} {event.text}")
            elif event.kind == "warning":
                self.notes.append(f"WARNING: {event.text}")

    def _render(self):
        from rich.text import Text

        now = time.monotonic()
        done = sum(1 for s in self.steps.values() if s.ended is not None)
        out = Text(f"[+] Building {now - self.started:.1f}s ({done}/{len(self.steps)})\n",
                   style="bold")
        width = max(40, self.console.width - 12)
        for _, s in sorted(self.steps.items()):
            took = (s.ended or now) - s.started
            title = (("CACHED " if s.cached else "") + s.title.replace("\n", " "))[:width]
            style = "blue" if s.ended is not None else "yellow"
            out.append(f" => {title:<{width}} {took:5.1f}s\n", style=style)
            for line in s.tail:
                out.append(f" => => {line[:width]}\n", style="dim")
        for note in self.notes:
            out.append(note + "\n", style="magenta")
        return out

    def close(self) -> None:
        self.live.stop()
