"""Progress: tqdm's bars on a terminal; in a log (output that is not a terminal) one line per stage.

A bar redrawn into a file leaves hundreds of `\\r`-separated copies of itself (a training's log held
1,700 of them for 30 lines of result). Where stderr is not a terminal, `progress_bar` gives a stand-in
with tqdm's interface that prints nothing while it runs and one line when its stage ends: when the
bar closes (an epoch of a training, a download), and each time its postfix names a new stage (the
attacks of an evaluation), with the same information the bar showed.
"""

from __future__ import annotations

import sys
import time


def interactive(stream=None) -> bool:
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class LineProgress:
    """tqdm's interface, as one line per finished stage (see the module's docstring)."""

    def __init__(self, iterable=None, total=None, desc: str = "", unit: str = "it", disable: bool = False, **_):
        self.iterable, self.total, self.desc, self.unit, self.disable = iterable, total, desc, unit, disable
        self.n = 0
        self.postfix: dict = {}
        self.stage: str | None = None
        self.t0 = self.t_stage = time.perf_counter()
        self.closed = False

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
            if self.stage is not None:
                self._line(f"{self.stage} done", time.perf_counter() - self.t_stage)
            self.stage, self.t_stage = text, time.perf_counter()

    def _line(self, what: str, seconds: float) -> None:
        if not self.disable:
            print(f"{self.desc}: {what} in {seconds:.1f}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.stage is not None:
            self._line(f"{self.stage} done", time.perf_counter() - self.t_stage)
            return
        count = f"{self.n}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        self._line(count + extra, time.perf_counter() - self.t0)


def progress_bar(iterable=None, **kwargs):
    """tqdm on a terminal, one line per stage in a log; `disable=True` prints nothing either way."""
    if interactive():
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return LineProgress(iterable, **kwargs)
