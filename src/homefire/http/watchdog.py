"""One daemon thread that runs an action when a deadline passes: how a blocking read is cut off.

httpx's read timeout starts again with every byte, so a server that trickles its answer holds
a blocking call for as long as it likes. `Timeouts.total` is kept by arming an alarm for the
call's deadline whose action shuts the connection's socket down, which makes the blocked read
return at once. One thread serves every client and sleeps while nothing is armed; a call
without a total deadline arms nothing, so the fast path pays nothing.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable

# Disarmed alarms stay in the heap until they come up; past this many, it is rebuilt.
_COMPACT_AFTER = 256


class Alarm:
    """An armed deadline; `fired` tells whether its action ran."""

    __slots__ = ("action", "cancelled", "fired", "when")

    def __init__(self, when: float, action: Callable[[], None]) -> None:
        self.when = when
        self.action = action
        self.cancelled = False
        self.fired = False


class Watchdog:
    """Runs each armed action once its time (`time.monotonic()`) has come, unless disarmed.

    An action runs under the watchdog's lock, so once `disarm` returns it will not run: a
    caller may then reuse what the action would have touched. Actions must be quick.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def arm(self, when: float, action: Callable[[], None]) -> Alarm:
        alarm = Alarm(when, action)
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="homefire-watchdog", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is alarm:
                self._cond.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        with self._cond:
            if alarm.cancelled or alarm.fired:
                return
            alarm.cancelled = True
            self._cancelled += 1
            if self._cancelled > _COMPACT_AFTER and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _watch(self) -> None:
        with self._cond:
            while True:
                if not self._heap:
                    self._cond.wait()
                    continue
                when, _, alarm = self._heap[0]
                if alarm.cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                    continue
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                alarm.fired = True
                with contextlib.suppress(Exception):  # a failing action must not stop the watch
                    alarm.action()


watchdog = Watchdog()
"""The process's one watchdog."""
