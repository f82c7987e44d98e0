"""The Ollama, LM Studio, Xinference and LocalAI dialects and the server fingerprints: pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fakes.lmstudio import LOAD_KEYS
from homefire.errors import (
    DownloadError,
    GenerationError,
    InvalidParameterError,
    NotSupportedError,
    ProtocolError,
    StreamInterruptedError,
)
from homefire.options import parse_options
from homefire.protocols import lmstudio, localai, ollama, xinference
from homefire.protocols.fingerprint import PROBE_PATHS, Probe, ServerKind, identify
from homefire.types import ChatMessage, MessageRole, ToolCall, system, tool, user

pytestmark = pytest.mark.unit


# --- Ollama ---------------------------------------------------------------------------------


def test_ollama_options_go_into_the_options_object() -> None:
    options = parse_options(
        {
            "temperature": 0.2,
            "max_tokens": 64,
            "top_p": 0.9,
            "top_k": 20,
            "min_p": 0.05,
            "repeat_penalty": 1.1,
            "seed": 7,
            "stop": ["\n\n"],
            "json_schema": {"type": "object"},
        }
    )
    body = ollama.build_chat_body(
        [system("s"), user("u")],
        options,
        model="m",
        stream=True,
        runtime={"num_ctx": 8192, "num_gpu": 0},
        keep_alive="10m",
        think=False,
    )
    assert body["options"] == {
        "num_ctx": 8192,
        "num_gpu": 0,
        "temperature": 0.2,
        "num_predict": 64,
        "top_p": 0.9,
        "top_k": 20,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
        "seed": 7,
        "stop": ["\n\n"],
    }
    assert body["keep_alive"] == "10m"
    assert body["think"] is False
    assert body["format"] == {"type": "object"}
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
    ]


def test_ollama_extra_options_merge_and_other_extras_go_top_level() -> None:
    options = parse_options({"extra": {"options": {"mirostat": 2}, "raw": True}})
    body = ollama.build_generate_body("p", options, model="m", runtime={"num_ctx": 512})
    assert body["options"] == {"num_ctx": 512, "mirostat": 2}
    assert body["raw"] is True


def test_ollama_extra_options_by_name_go_where_ollama_reads_them() -> None:
    """`homefire serve` passes llama.cpp-style sampler fields along as `extra`; Ollama reads
    them only inside `options`, and ignores them without a word at the top level."""
    extra = {"typical_p": 0.9, "repeat_last_n": 32, "n_keep": 4, "keep_alive": "1m"}
    body = ollama.build_chat_body([user("u")], parse_options({"extra": extra}), model="m")
    assert body["options"] == {"typical_p": 0.9, "repeat_last_n": 32, "num_keep": 4}
    assert body["keep_alive"] == "1m"
    assert not {"typical_p", "repeat_last_n", "n_keep"} & body.keys()


@pytest.mark.parametrize("field", ["grammar", "ignore_eos", "dry_multiplier", "typcal_p"])
def test_ollama_refuses_an_extra_field_it_would_ignore(field: str) -> None:
    options = parse_options({"extra": {field: 1}})
    with pytest.raises(NotSupportedError, match=repr(field)):
        ollama.build_generate_body("p", options, model="m")


def test_ollama_extra_options_must_be_a_mapping() -> None:
    with pytest.raises(InvalidParameterError, match="mapping"):
        ollama.build_generate_body("p", parse_options({"extra": {"options": 3}}), model="m")


def test_ollama_tool_calls_travel_as_objects_and_results_by_name() -> None:
    call = ChatMessage(
        MessageRole.ASSISTANT, "", tool_calls=[ToolCall("c1", "get_weather", {"city": "Tokyo"})]
    )
    wire = ollama.message_to_wire(call)
    assert wire["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Tokyo"}}}
    ]
    assert ollama.message_to_wire(tool("sunny", "c1", name="get_weather"))["tool_name"] == (
        "get_weather"
    )


FINAL: dict[str, Any] = {
    "model": "llama3.2",
    "created_at": "2026-01-02T10:00:03Z",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "done_reason": "stop",
    "total_duration": 2650000000,
    "load_duration": 1900000,
    "prompt_eval_count": 31,
    "prompt_eval_duration": 210000000,
    "eval_count": 140,
    "eval_duration": 2400000000,
}


def test_ollama_nanoseconds_become_milliseconds() -> None:
    timings = ollama.parse_timings(FINAL)
    assert timings is not None
    assert timings.prompt_ms == pytest.approx(210.0)
    assert timings.generation_ms == pytest.approx(2400.0)
    assert timings.load_ms == pytest.approx(1.9)
    assert timings.tokens_per_second == pytest.approx(140 / 2.4)
    assert timings.prompt_tokens == 31 and timings.generated_tokens == 140


def test_ollama_chat_stream_assembles_thinking_tools_and_stats() -> None:
    assembler = ollama.ChatStreamAssembler()
    lines = [
        {"message": {"role": "assistant", "content": "", "thinking": "Hmm."}, "done": False},
        {"message": {"role": "assistant", "content": "It is"}, "done": False},
        {"message": {"role": "assistant", "content": " sunny."}, "done": False},
        {
            **FINAL,
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}],
            },
        },
    ]
    pieces = [p for line in lines if (p := assembler.feed(line)) is not None]
    assert [p.delta for p in pieces] == ["", "It is", " sunny."]
    assert pieces[0].reasoning_delta == "Hmm."
    final = assembler.finish()
    assert final.text == "It is sunny."
    assert final.message.reasoning == "Hmm."
    assert final.message.tool_calls == [ToolCall("call_0", "f", {"x": 1})]
    assert final.usage is not None and final.usage.completion_tokens == 140
    assert final.finish_reason == "stop"


def test_ollama_stream_without_done_line_is_interrupted() -> None:
    assembler = ollama.GenerateStreamAssembler()
    assembler.feed({"response": "Once", "done": False})
    with pytest.raises(StreamInterruptedError) as caught:
        assembler.finish()
    assert caught.value.partial_text == "Once"


def test_ollama_error_line_raises() -> None:
    with pytest.raises(GenerationError, match="out of memory"):
        ollama.ChatStreamAssembler().feed({"error": "out of memory"})


def test_ollama_truncation_signs() -> None:
    # the window filled up
    assert ollama.truncated({"prompt_eval_count": 60, "eval_count": 4}, 64, 30)
    # messages were dropped: more words sent than both num_ctx and what was evaluated
    assert ollama.truncated({"prompt_eval_count": 20, "eval_count": 4}, 64, 100)
    # a cached prefix makes the evaluated count small, but the prompt fits: no false alarm
    assert not ollama.truncated({"prompt_eval_count": 5, "eval_count": 4}, 64, 40)
    assert not ollama.truncated({"prompt_eval_count": 60, "eval_count": 4}, None, 500)
    assert ollama.prompt_words([user("one two"), system("three")]) == 3


def test_ollama_tags_ps_show_and_merge() -> None:
    entry = {
        "name": "llama3.2:latest",
        "size": 2000000000,
        "details": {"quantization_level": "Q4_K_M", "family": "llama"},
    }
    tags = ollama.parse_tags({"models": [entry, {**entry, "name": "qwen3:8b"}]})
    ps = ollama.parse_ps({"models": [{**entry, "context_length": 8192, "size_vram": 1}]})
    merged = ollama.merge_models(tags, ps)
    assert [(m.id, m.loaded, m.context_length) for m in merged] == [
        ("llama3.2:latest", True, 8192),
        ("qwen3:8b", False, None),
    ]
    assert merged[0].quantization == "Q4_K_M" and merged[0].size_bytes == 2000000000
    show = ollama.parse_show(
        {
            "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
            "capabilities": ["completion", "tools"],
            "details": {"quantization_level": "Q4_K_M"},
        },
        "llama3.2",
    )
    assert show.max_context_length == 131072
    assert show.capabilities == ["completion", "tools"]
    with pytest.raises(ProtocolError):
        ollama.parse_tags({"nope": []})


def test_ollama_pull_events() -> None:
    step = ollama.parse_pull_event({"status": "pulling abc", "total": 100, "completed": 25})
    assert step.fraction == 0.25 and not step.done
    assert ollama.parse_pull_event({"status": "success"}).done
    with pytest.raises(GenerationError, match="does not exist"):
        ollama.parse_pull_event({"error": "file does not exist"})


# --- LM Studio ------------------------------------------------------------------------------


def test_lmstudio_v1_models_report_runtime_context() -> None:
    body = {
        "models": [
            {
                "type": "llm",
                "key": "qwen/qwen3-8b",
                "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
                "size_bytes": 5027783488,
                "loaded_instances": [{"id": "qwen/qwen3-8b", "config": {"context_length": 8192}}],
                "max_context_length": 40960,
                "capabilities": {"vision": False, "trained_for_tool_use": True},
            },
            {"type": "llm", "key": "other", "loaded_instances": [], "max_context_length": 4096},
        ]
    }
    loaded, idle = lmstudio.parse_v1_models(body)
    assert (loaded.loaded, loaded.context_length, loaded.max_context_length) == (True, 8192, 40960)
    assert loaded.quantization == "Q4_K_M" and loaded.size_bytes == 5027783488
    assert loaded.capabilities == ["llm", "tools"]
    assert (idle.loaded, idle.context_length) == (False, 4096)


def test_lmstudio_v0_models_and_stats() -> None:
    [model] = lmstudio.parse_v0_models(
        {
            "data": [
                {
                    "id": "qwen2.5-7b-instruct",
                    "type": "llm",
                    "quantization": "Q4_K_M",
                    "state": "loaded",
                    "max_context_length": 32768,
                    "loaded_context_length": 8192,
                    "capabilities": ["tool_use"],
                }
            ]
        }
    )
    assert (model.loaded, model.context_length, model.max_context_length) == (True, 8192, 32768)
    timings = lmstudio.parse_v0_stats(
        {
            "stats": {
                "tokens_per_second": 38.2,
                "time_to_first_token": 0.24,
                "generation_time": 1.61,
            },
            "usage": {"prompt_tokens": 5, "completion_tokens": 60},
        }
    )
    assert timings is not None
    assert timings.time_to_first_token_ms == pytest.approx(240)
    assert timings.generation_ms == pytest.approx(1610)
    assert timings.generated_tokens == 60


def test_lmstudio_load_body_has_only_what_the_load_route_takes() -> None:
    body = lmstudio.build_load_body("m", context_length=16384, flash_attention=False)
    assert body == {
        "model": "m",
        "echo_load_config": True,
        "context_length": 16384,
        "flash_attention": False,
    }
    assert set(lmstudio.build_load_body("m")) == {"model", "echo_load_config"}
    assert not set(lmstudio.LOAD_SETTINGS) - LOAD_KEYS  # every setting the fake's route takes
    assert lmstudio.is_unknown_route({"error": "Unexpected endpoint or method. (POST /x)"})
    assert not lmstudio.is_unknown_route({"error": {"message": "Unexpected endpoint"}})


def test_lmstudio_download_failure_raises() -> None:
    with pytest.raises(DownloadError):
        lmstudio.parse_download_status({"status": "failed", "job_id": "j"})


# --- Xinference (recorded from a real server) -----------------------------------------------


def _sample(samples_dir: Path, name: str) -> Any:
    return json.loads((samples_dir / "xinference" / name).read_text())


def test_xinference_running_models(samples_dir: Path) -> None:
    [model] = xinference.parse_models(_sample(samples_dir, "models_running.body"))
    assert model.id == "smol" and model.loaded
    assert model.context_length == 2048 and model.quantization == "Q4_1"
    assert model.capabilities == ["generate", "chat"]
    described = xinference.parse_describe("smol", _sample(samples_dir, "describe.body"))
    assert described.context_length == 2048


def test_xinference_cluster_progress_and_launch(samples_dir: Path) -> None:
    nodes = xinference.parse_cluster_info(_sample(samples_dir, "cluster_info.body"))
    assert [n.node_type for n in nodes] == ["Supervisor", "Worker"]
    step = xinference.parse_progress(_sample(samples_dir, "during_launch_progress.body"))
    assert step.status == "loading" and step.fraction == pytest.approx(0.82)
    assert xinference.parse_launch(_sample(samples_dir, "launch.body")) == "smol"
    recorded = _sample(samples_dir, "launch.request.json")
    body = xinference.build_launch_body(
        "smollm2-custom",
        model_uid="smol",
        model_format="ggufv2",
        model_size_in_billions="0_135",
        quantization="Q4_1",
        n_gpu=None,
        n_ctx=2048,
        engine_options={"n_parallel": 1},
    )
    assert {k: v for k, v in body.items() if k != "replica"} == recorded


# recorded from a real cluster: a supervisor and two workers, one model on each
_CLUSTER_INFO = [
    {"node_type": "Supervisor", "ip_address": "127.0.0.1:43305", "gpu_count": 0,
     "gpu_vram_total": 0, "gpu_vram_available": 0, "cpu_count": 2, "mem_total": 25276510208,
     "mem_available": 20804546560},
    {"node_type": "Worker", "ip_address": "127.0.0.3:38847", "gpu_count": 0,
     "gpu_vram_total": 0, "cpu_count": 2, "mem_total": 25276510208,
     "mem_available": 21202288640, "gpu_vram_available": 0, "software_version": "4.1.0"},
]  # fmt: skip
_INSTANCES = [
    {"model_name": "smollm2-homefire", "model_uid": "any", "replica": 1, "status": "READY",
     "n_worker": 1, "replica_statuses": [
         {"replica_id": 0, "replica_model_uid": "any-rep0", "worker_address": "127.0.0.3:38847",
          "status": "READY", "model_state": "ready"}]},
    {"model_name": "smollm2-homefire", "model_uid": "on2", "replica": 1, "status": "READY",
     "n_worker": 1, "replica_statuses": [
         {"replica_id": 0, "replica_model_uid": "on2-rep0", "worker_address": "127.0.0.2:34123",
          "status": "READY", "model_state": "ready"}]},
]  # fmt: skip


def test_xinference_detailed_cluster_info() -> None:
    supervisor, worker = xinference.parse_cluster_info(_CLUSTER_INFO)
    assert not supervisor.is_worker and supervisor.address == "127.0.0.1:43305"
    assert worker.is_worker and worker.address == "127.0.0.3:38847"
    assert (worker.cpu_count, worker.memory_available) == (2, 21202288640)
    assert xinference.parse_cluster_info([{"node_type": "Worker"}])[0].memory_total is None


def test_xinference_placements_name_the_worker_not_the_model_process() -> None:
    placements = xinference.parse_placements(_INSTANCES)
    assert placements == {"any": ["127.0.0.3:38847"], "on2": ["127.0.0.2:34123"]}
    listing = {"data": [{"id": "on2", "address": "127.0.0.2:33911"}, {"id": "gone"}]}
    on2, gone = xinference.parse_models(listing, placements)
    assert on2.nodes == ["127.0.0.2:34123"] and gone.nodes == []
    assert xinference.parse_placements([{"model_uid": "x", "status": "CREATING"}]) == {"x": []}
    with pytest.raises(ProtocolError):
        xinference.parse_placements([{"status": "READY"}])


@pytest.mark.parametrize(
    ("message", "node"),
    [
        (
            "[address=127.0.0.1:35224, pid=6079] [Errno 111] Connect call failed "
            "('127.0.0.3', 38847)",
            "127.0.0.3:38847",
        ),
        ("Remote server 127.0.0.3:46213 closed", "127.0.0.3:46213"),
        ("[address=127.0.0.1:35224, pid=6079] Model not found in the model list, uid: x", None),
    ],
)
def test_xinference_unreachable_node(message: str, node: str | None) -> None:
    assert xinference.unreachable_node(message) == node


def test_xinference_register_body_carries_the_family_as_a_string() -> None:
    body = xinference.build_register_body({"model_name": "x"})
    assert json.loads(body["model"]) == {"model_name": "x"} and body["persist"] is False


def test_xinference_instance_status() -> None:
    assert xinference.parse_instance_status([{"status": "READY"}]) == "READY"
    assert xinference.parse_instance_status([]) is None
    two = [{"status": "READY"}, {"status": "CREATING"}]
    assert xinference.parse_instance_status(two) == "CREATING"  # every replica must be READY
    assert xinference.parse_instance_status([*two, {"status": "ERROR"}]) == "ERROR"


# --- LocalAI --------------------------------------------------------------------------------


def test_localai_models_marked_loaded_from_system() -> None:
    loaded = localai.parse_system({"backends": [], "loaded_models": [{"id": "a"}]})
    models = localai.parse_models({"data": [{"id": "a"}, {"id": "b"}]}, loaded)
    assert [(m.id, m.loaded) for m in models] == [("a", True), ("b", False)]


def test_localai_job_progress_and_failure() -> None:
    step = localai.parse_job({"processed": False, "progress": 42.5, "message": "downloading"}, "m")
    assert step.fraction == pytest.approx(0.425) and not step.done
    assert localai.parse_job({"processed": True, "progress": 100}, "m").done
    with pytest.raises(DownloadError, match="no space"):
        localai.parse_job({"error": "no space left", "processed": True}, "m")
    assert localai.parse_monitor({"state": 2}) == "ready"


# --- fingerprints ---------------------------------------------------------------------------


def test_fingerprint_order_rules_out_imitators() -> None:
    lmstudio_probes = {
        "/lmstudio-greeting": Probe(200, {}, {"lmstudio": True}),
        "/v1/cluster/auth": Probe(200, {}, {"error": "Unexpected endpoint or method."}),
    }
    assert identify(lmstudio_probes).kind is ServerKind.LMSTUDIO  # type: ignore[union-attr]
    localai_probes = {
        "/.well-known/localai.json": Probe(200, {}, {"version": "v3", "endpoints": {}}),
        "/api/version": Probe(200, {}, {"version": "0.9.0"}),
        "/": Probe(200, {}, "Ollama is running"),
    }
    assert identify(localai_probes).kind is ServerKind.LOCALAI  # type: ignore[union-attr]
    ollama_probes = {
        "/api/version": Probe(200, {}, {"version": "0.12.3"}),
        "/": Probe(200, {}, "Ollama is running"),
    }
    found = identify(ollama_probes)
    assert found is not None and found.kind is ServerKind.OLLAMA and found.version == "0.12.3"
    xinference_probes = {"/v1/cluster/auth": Probe(200, {}, {"auth": True})}
    found = identify(xinference_probes)
    assert found is not None and found.kind is ServerKind.XINFERENCE and found.needs_auth


def test_fingerprint_llamacpp_from_recorded_headers(samples_dir: Path) -> None:
    body = json.loads((samples_dir / "llama_server" / "models.body").read_text())
    props = json.loads((samples_dir / "llama_server" / "props.body").read_text())
    probes = {
        "/v1/models": Probe(200, {"server": "llama.cpp"}, body),
        "/props": Probe(200, {"server": "llama.cpp"}, props),
        "/api/tags": Probe(200, {"server": "llama.cpp"}, body),
    }
    found = identify(probes)
    assert found is not None and found.kind is ServerKind.LLAMACPP


def test_fingerprint_generic_and_nothing() -> None:
    generic = {"/v1/models": Probe(200, {}, {"object": "list", "data": [{"id": "m"}]})}
    assert identify(generic).kind is ServerKind.OPENAI  # type: ignore[union-attr]
    vllm = {"/v1/models": Probe(200, {}, {"data": [{"id": "m", "owned_by": "vllm"}]})}
    assert identify(vllm).kind is ServerKind.VLLM  # type: ignore[union-attr]
    assert identify({"/": Probe(200, {}, "<html>")}) is None
    assert set(PROBE_PATHS) >= {"/lmstudio-greeting", "/.well-known/localai.json"}


@pytest.mark.parametrize("kind", ["chat", "completion"])
def test_localai_in_band_stream_failure_raises_on_both_routes(kind: str) -> None:
    """LocalAI sends a backend failure during a stream as the answer's last piece."""
    failure = "Internal error: rpc error: the backend died"
    if kind == "chat":
        assembler: Any = localai.ChatStreamAssembler()
        piece: dict[str, Any] = {"delta": {"content": "Hello"}}
        last: dict[str, Any] = {"delta": {"content": failure}, "finish_reason": "stop"}
    else:
        assembler = localai.CompletionStreamAssembler()
        piece, last = {"text": "Hello"}, {"text": failure, "finish_reason": "stop"}
    assert assembler.feed({"choices": [{"index": 0, **piece}]}) is not None
    with pytest.raises(GenerationError, match="the backend died; see the LocalAI server's log"):
        assembler.feed({"choices": [{"index": 0, **last}]})
