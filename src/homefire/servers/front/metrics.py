"""The front end's own counters, in Prometheus' text format for `/metrics`.

Requests by route and status, tokens read and written, and how busy the model is: answers in
flight, and for a backend with known slots how many of them are busy and how many requests
wait for one (the engine takes requests in order, so past the slot count they queue).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from homefire.types import Usage

# Route labels are this fixed set, so that requests to made-up paths cannot grow the output.
ROUTES = frozenset(
    {
        "/health",
        "/v1/health",
        "/metrics",
        "/props",
        "/slots",
        "/v1/models",
        "/models",
        "/v1/models/{id}",
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/completions",
        "/completion",
        "/completions",
        "/infill",
        "/v1/embeddings",
        "/tokenize",
        "/detokenize",
        "/apply-template",
    }
)
OTHER = "other"


@dataclass
class Metrics:
    """Mutated on the event loop only, so it needs no lock."""

    slots: int | None = None
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0

    def answered(self, route: str, status: int) -> None:
        self.requests[(route if route in ROUTES else OTHER, status)] += 1

    def used(self, usage: Usage | None) -> None:
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens

    def render(self) -> str:
        lines = [
            "# HELP homefire_requests_total HTTP requests answered, by route and status code.",
            "# TYPE homefire_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'homefire_requests_total{{route="{route}",code="{status}"}} {count}')
        lines += _metric(
            "prompt_tokens_total", "counter", "Prompt tokens read.", self.prompt_tokens
        )
        lines += _metric(
            "completion_tokens_total", "counter", "Tokens generated.", self.completion_tokens
        )
        lines += _metric(
            "requests_in_flight",
            "gauge",
            "Generation requests being answered or waiting for a slot.",
            self.in_flight,
        )
        if self.slots is not None:
            busy = min(self.in_flight, self.slots)
            lines += _metric("slots_total", "gauge", "Requests answered at once.", self.slots)
            lines += _metric("slots_busy", "gauge", "Slots answering a request.", busy)
            lines += _metric(
                "queue_length", "gauge", "Requests waiting for a free slot.", self.in_flight - busy
            )
        return "\n".join(lines) + "\n"


def _metric(name: str, kind: str, text: str, value: int) -> list[str]:
    return [
        f"# HELP homefire_{name} {text}",
        f"# TYPE homefire_{name} {kind}",
        f"homefire_{name} {value}",
    ]
