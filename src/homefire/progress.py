"""Model lifecycle data shared by the server providers: progress of pulls, loads and launches.

Pure data, so dialects can build it from wire events and the CLI can draw bars from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a long operation; `completed`/`total` are bytes (or percent) when known."""

    status: str
    completed: float | None = None
    total: float | None = None
    done: bool = False

    @property
    def fraction(self) -> float | None:
        """0..1 when both counts are known, else None (draw an indeterminate bar)."""
        if self.completed is None or not self.total:
            return None
        return max(0.0, min(1.0, self.completed / self.total))


ProgressCallback = Callable[[Progress], None]
"""Called with each `Progress` step while a pull, download or load runs."""
