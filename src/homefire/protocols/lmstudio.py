"""LM Studio's native REST dialect (`/api/v0`, `/api/v1`) next to its OpenAI-compatible `/v1`.

Pure functions, no I/O. v1 (0.4+) knows loaded instances and their runtime context; v0
(0.3.6+) knows state and quantization and adds `stats` to each answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homefire.errors import DownloadError, ProtocolError
from homefire.progress import Progress
from homefire.protocols import openai
from homefire.protocols.errors import error_from_event
from homefire.types import ChatResponse, CompletionResponse, ModelInfo, Timings


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _object(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ProtocolError(f"LM Studio's {what} answer is not a JSON object")
    if "error" in body:
        raise error_from_event(body)
    return body


def parse_v1_models(body: Any) -> list[ModelInfo]:
    """`GET /api/v1/models`: loaded = has instances; context = the first instance's, else max."""
    models = _object(body, "/api/v1/models").get("models")
    if not isinstance(models, list):
        raise ProtocolError("LM Studio's /api/v1/models answer has no `models` list")
    return [_v1_model(item) for item in models]


def _v1_model(item: Any) -> ModelInfo:
    if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
        raise ProtocolError(f"malformed model entry from LM Studio: {item!r}")
    instances = item.get("loaded_instances")
    instances = (
        [i for i in instances if isinstance(i, Mapping)] if isinstance(instances, list) else []
    )
    max_ctx = _count(item.get("max_context_length"))
    loaded_ctx = None
    for instance in instances:
        config = instance.get("config")
        if isinstance(config, Mapping) and (ctx := _count(config.get("context_length"))):
            loaded_ctx = ctx
            break
    quant = item.get("quantization")
    quant_name = quant.get("name") if isinstance(quant, Mapping) else quant
    return ModelInfo(
        id=item["key"],
        loaded=bool(instances),
        context_length=loaded_ctx or max_ctx,
        max_context_length=max_ctx,
        quantization=quant_name if isinstance(quant_name, str) else None,
        size_bytes=_count(item.get("size_bytes")),
        capabilities=_v1_capabilities(item),
        raw=item,
    )


def _v1_capabilities(item: Mapping[str, Any]) -> list[str]:
    caps = item.get("capabilities")
    out = [str(item["type"])] if isinstance(item.get("type"), str) else []
    if isinstance(caps, Mapping):
        if caps.get("trained_for_tool_use"):
            out.append("tools")
        if caps.get("vision"):
            out.append("vision")
        if caps.get("reasoning"):
            out.append("reasoning")
    return out


def parse_v0_models(body: Any) -> list[ModelInfo]:
    """`GET /api/v0/models`: state, quantization, max and (optional) loaded context."""
    data = _object(body, "/api/v0/models").get("data")
    if not isinstance(data, list):
        raise ProtocolError("LM Studio's /api/v0/models answer has no `data` list")
    return [_v0_model(item) for item in data]


def _v0_model(item: Any) -> ModelInfo:
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
        raise ProtocolError(f"malformed model entry from LM Studio: {item!r}")
    loaded = item.get("state") == "loaded"
    max_ctx = _count(item.get("max_context_length"))
    # `loaded_context_length` is undocumented and may be absent: then a loaded model's
    # context is unknown (not its maximum); an idle one would load with up to its maximum
    loaded_ctx = _count(item.get("loaded_context_length"))
    caps = item.get("capabilities")
    capabilities = [str(item["type"])] if isinstance(item.get("type"), str) else []
    if isinstance(caps, list):
        capabilities += ["tools" if c == "tool_use" else str(c) for c in caps]
    quant = item.get("quantization")
    return ModelInfo(
        id=item["id"],
        loaded=loaded,
        context_length=loaded_ctx if loaded else max_ctx,
        max_context_length=max_ctx,
        quantization=quant if isinstance(quant, str) else None,
        capabilities=capabilities,
        raw=item,
    )


LOAD_SETTINGS = (
    "context_length",
    "eval_batch_size",
    "flash_attention",
    "num_experts",
    "offload_kv_cache_to_gpu",
)
"""What `POST /api/v1/models/load` takes besides `model` and `echo_load_config`. It refuses any
other key (400 `unrecognized_keys`): GPU offload and a TTL are set with `lms load` only."""


def build_load_body(
    model: str,
    *,
    context_length: int | None = None,
    eval_batch_size: int | None = None,
    flash_attention: bool | None = None,
    num_experts: int | None = None,
    offload_kv_cache_to_gpu: bool | None = None,
) -> dict[str, Any]:
    """`POST /api/v1/models/load`, asking for the configuration in effect back."""
    settings = {
        "context_length": context_length,
        "eval_batch_size": eval_batch_size,
        "flash_attention": flash_attention,
        "num_experts": num_experts,
        "offload_kv_cache_to_gpu": offload_kv_cache_to_gpu,
    }
    body: dict[str, Any] = {"model": model, "echo_load_config": True}
    body.update({k: v for k, v in settings.items() if v is not None})
    return body


def is_unknown_route(body: Any) -> bool:
    """LM Studio answers a route it lacks (REST v1 before 0.4) with 200 and a string error."""
    error = body.get("error") if isinstance(body, Mapping) else None
    return isinstance(error, str) and error.startswith("Unexpected endpoint or method")


def parse_load(body: Any) -> tuple[str, int | None]:
    """(instance id, context length in effect) from a load answer."""
    answer = _object(body, "load")
    instance = answer.get("instance_id")
    if not isinstance(instance, str):
        raise ProtocolError(f"LM Studio's load answer has no instance_id: {answer!r}")
    config = answer.get("load_config")
    ctx = _count(config.get("context_length")) if isinstance(config, Mapping) else None
    return instance, ctx


def build_unload_body(instance_id: str) -> dict[str, Any]:
    return {"instance_id": instance_id}


def build_download_body(model: str, quantization: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if quantization is not None:
        body["quantization"] = quantization
    return body


def parse_download_status(body: Any) -> tuple[str | None, Progress]:
    """(job id, progress) from a download answer or its status poll; failure raises."""
    answer = _object(body, "download")
    status = answer.get("status")
    if not isinstance(status, str):
        raise ProtocolError(f"LM Studio's download answer has no status: {answer!r}")
    if status == "failed":
        raise DownloadError(
            str(answer.get("model", "LM Studio model")), "LM Studio reported failure"
        )
    job = answer.get("job_id")
    return (job if isinstance(job, str) else None), Progress(
        status=status,
        completed=_count(answer.get("downloaded_bytes")),
        total=_count(answer.get("total_size_bytes")),
        done=status in ("completed", "already_downloaded"),
    )


def parse_v0_stats(body: Mapping[str, Any]) -> Timings | None:
    """v0 answers' `stats` (seconds) as Timings (milliseconds)."""
    stats = body.get("stats")
    if not isinstance(stats, Mapping):
        return None
    ttft = _number(stats.get("time_to_first_token"))
    generation = _number(stats.get("generation_time"))
    usage = body.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    return Timings(
        prompt_tokens=_count(usage.get("prompt_tokens")),
        generated_tokens=_count(usage.get("completion_tokens")),
        generation_ms=generation * 1000 if generation is not None else None,
        tokens_per_second=_number(stats.get("tokens_per_second")),
        time_to_first_token_ms=ttft * 1000 if ttft is not None else None,
    )


def is_greeting(body: Any) -> bool:
    """`GET /lmstudio-greeting` answers `{"lmstudio": true}`."""
    return isinstance(body, Mapping) and body.get("lmstudio") is True


def parse_chat(body: Any) -> ChatResponse:
    """A `/api/v0/chat/completions` answer: the OpenAI shape, timed by its `stats`."""
    response = openai.parse_chat(body)
    if response.timings is None and isinstance(body, Mapping):
        response.timings = parse_v0_stats(body)
    return response


def parse_completion(body: Any) -> CompletionResponse:
    """A `/api/v0/completions` answer: the OpenAI shape, timed by its `stats`."""
    response = openai.parse_completion(body)
    if response.timings is None and isinstance(body, Mapping):
        response.timings = parse_v0_stats(body)
    return response
