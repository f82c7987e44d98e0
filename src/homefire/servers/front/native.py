"""llama.cpp's native routes that render no chat template, answered by the engine itself.

`/completion` (with every native sampler, `n_probs`, `grammar`, `id_slot`, ...), `/infill`,
`/tokenize`, `/detokenize`, `/slots` and `/props` behave exactly as llama.cpp's own, because
llama.cpp answers them: they are forwarded to the in-process engine's private listener (which
takes only homefire's key). Routes that render a template (chat, `/apply-template`) never go
there: homefire renders those itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from homefire.options import GenerationOptions

GENERATING = frozenset({"/completion", "/completions", "/infill"})
FORWARDED = {
    "/props": "GET",
    "/slots": "GET",
    "/completion": "POST",
    "/completions": "POST",
    "/infill": "POST",
    "/tokenize": "POST",
    "/detokenize": "POST",
}
# homefire's option names as `/completion` spells them.
_NATIVE = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
}
# A gap this long in an answer the engine is generating means the engine is stuck.
_READ_SECONDS = 600.0


def with_defaults(body: dict[str, Any], defaults: GenerationOptions) -> dict[str, Any]:
    """The body with the served model's sampling defaults where it sets nothing itself."""
    out = dict(body)
    for name, wire in _NATIVE.items():
        value = getattr(defaults, name)
        if value is not None:
            out.setdefault(wire, value)
    if defaults.max_tokens is not None and "n_predict" not in out and "max_tokens" not in out:
        out["n_predict"] = defaults.max_tokens
    return out


class NativeRoutes:
    """A client of the engine's private listener; one per served model."""

    def __init__(
        self,
        address: str,
        key: str,
        *,
        connections: int,
        props: Mapping[str, Any],
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=address,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(10.0, read=_READ_SECONDS, pool=_READ_SECONDS),
            limits=httpx.Limits(max_connections=connections),
        )
        self._props = dict(props)

    async def send(self, method: str, path: str, query: str, body: bytes | None) -> httpx.Response:
        """The engine's answer, headers read and body still streaming (close it when done)."""
        request = self._client.build_request(
            method,
            path,
            params=httpx.QueryParams(query),
            content=body,
            headers={"content-type": "application/json"} if body is not None else None,
        )
        return await self._client.send(request, stream=True)

    async def props(self, query: str) -> tuple[int, Any]:
        """`/props` as the engine says, but with the chat template homefire renders and the
        tool support homefire's own tool calling gives."""
        response = await self._client.get("/props", params=httpx.QueryParams(query))
        body = response.json()
        if response.status_code == 200 and isinstance(body, dict):
            body.update(self._props)
        return response.status_code, body

    async def metrics(self) -> str:
        """The engine's own Prometheus lines (`llamacpp:*`), or none if it cannot say."""
        try:
            response = await self._client.get("/metrics")
        except httpx.HTTPError:
            return ""
        return response.text if response.status_code == 200 else ""

    async def aclose(self) -> None:
        await self._client.aclose()
