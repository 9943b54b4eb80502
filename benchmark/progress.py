"""Progress: tqdm's bars on a terminal; in a log (output that is not a terminal) one line per stage.

A bar redrawn into a file leaves hundreds of `\\r`-separated copies of itself (a training's log held
1,700 of them for 30 lines of result). Where stderr is not a terminal, `progress_bar` gives a stand-in
with tqdm's interface that prints nothing while it runs and one line when its stage ends: when the
bar closes (an epoch of a training, a download), and each time its postfix names a new stage (the
attacks of an evaluation), with the same information the bar showed. A stage that runs long also gets a
line about every `HEARTBEAT` seconds while it runs: how far it got and an estimate of what is left.
"""

from __future__ import annotations

import sys
import threading
import time

HEARTBEAT = 30.0   # seconds between a long stage's progress lines in a log


def interactive(stream=None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class LineProgress:
    """tqdm's interface, as one line per finished stage (see the module's docstring)."""

    def __init__(self, iterable=None, total=None, desc: str = "", unit: str = "it", disable: bool = False,
                 heartbeat: float | None = None, **_):
        self.iterable, self.total, self.desc, self.unit, self.disable = iterable, total, desc, unit, disable
        self.n = 0
        self.postfix: dict = {}
        self.stage: str | None = None
        self.t0 = self.t_stage = time.perf_counter()
        self.closed = False
        self.stage_done, self.stage_total, self.stage_unit = 0, None, "examples"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = None
        if not disable and (heartbeat or HEARTBEAT) > 0:
            self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat or HEARTBEAT,), daemon=True)
            self._beat.start()

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            with self._lock:
                if self.stage is None or self.closed:
                    continue
                elapsed = time.perf_counter() - self.t_stage
                done, total = self.stage_done, self.stage_total
                if total is None and not done:  # a stage that reports no progress: that it still runs
                    print(f"{self.desc}: {self.stage} running for {_duration(elapsed)}", file=sys.stderr, flush=True)
                    continue
                where = f"{done}/{total} {self.stage_unit}" if total else f"{done} {self.stage_unit}"
                if total and 0 < done < total:
                    left = f"about {_duration(elapsed / done * (total - done))} left"
                elif total and done >= total:
                    left = "finishing"
                else:
                    left = "no estimate before its first batch ends"
                print(f"{self.desc}: {self.stage} running for {_duration(elapsed)}, {where} done, {left}",
                      file=sys.stderr, flush=True)

    def advance(self, k: int, total: int | None = None, unit: str | None = None) -> None:
        """Progress inside the current stage: k more of its `total` (examples attacked, say)."""
        with self._lock:
            self.stage_done += k
            if total is not None:
                self.stage_total = total
            if unit:
                self.stage_unit = unit

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.n += 1
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values) -> None:
        self.postfix = values

    def set_postfix_str(self, text: str) -> None:
        """A new stage begins (the previous one is reported)."""
        if text != self.stage:
            with self._lock:
                if self.stage is not None:
                    self._line(f"{self.stage} done", time.perf_counter() - self.t_stage)
                self.stage, self.t_stage = text, time.perf_counter()
                self.stage_done, self.stage_total = 0, None

    def _line(self, what: str, seconds: float) -> None:
        if not self.disable:
            print(f"{self.desc}: {what} in {seconds:.1f}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self.closed = True
        if self.stage is not None:
            self._line(f"{self.stage} done", time.perf_counter() - self.t_stage)
            return
        count = f"{self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        self._line(count + extra, time.perf_counter() - self.t0)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_bar(iterable=None, **kwargs):
    """tqdm on a terminal, one line per stage in a log; `disable=True` prints nothing either way."""
    if interactive():
        from tqdm.auto import tqdm

        kwargs.pop("heartbeat", None)
        bar = tqdm(iterable, **kwargs)
        bar.advance = lambda k, total=None, unit=None: None  # the bar redraws itself: nothing more to say
        return bar
    return LineProgress(iterable, **kwargs)
