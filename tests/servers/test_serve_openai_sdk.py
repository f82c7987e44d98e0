"""The official `openai` SDK, sync and async, against `homefire serve` with the embedded model:
chat, streams, tools (required, named, streamed), JSON output, embeddings, models, errors.

The model's free text is never asserted: tools and schemas constrain what it may say, and
everything else is checked for shape.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import homefire as hf
from homefire.servers.launch import LaunchedServer

openai = pytest.importorskip("openai")

pytestmark = pytest.mark.integration

MODEL = "SmolLM2-135M-Instruct.Q4_1"
ASK = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The time in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def client(front_server: LaunchedServer) -> Any:
    return openai.OpenAI(
        base_url=f"{front_server.base_url}/v1",
        api_key=front_server.api_key,
        max_retries=0,
        timeout=120,
    )


@pytest.fixture
def aclient(front_server: LaunchedServer) -> Any:
    return openai.AsyncOpenAI(
        base_url=f"{front_server.base_url}/v1",
        api_key=front_server.api_key,
        max_retries=0,
        timeout=120,
    )


def test_chat_and_stream(client: Any) -> None:
    answer = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=8)
    assert answer.model == MODEL
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.completion_tokens > 0 and answer.usage.prompt_tokens > 0

    chunks = list(
        client.chat.completions.create(
            model="any name",
            messages=ASK,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    completion = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=4)
    assert completion.choices[0].text and completion.choices[0].finish_reason == "length"
    streamed = client.completions.create(
        model=MODEL, prompt="Once upon a time", max_tokens=4, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices)


async def test_async_chat_and_stream(aclient: Any) -> None:
    answer = await aclient.chat.completions.create(model=MODEL, messages=ASK, max_tokens=6)
    assert answer.choices[0].message.content
    stream = await aclient.chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=6, stream=True
    )
    pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(pieces)
    await aclient.close()


def test_required_tool_is_called(client: Any) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=64,
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


def test_named_tool_is_the_one_called(client: Any) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        max_tokens=64,
    )
    assert answer.choices[0].message.tool_calls[0].function.name == "get_time"


async def test_streamed_tool_call_arrives_whole(aclient: Any) -> None:
    stream = await aclient.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Rome?"}],
        tools=[WEATHER],
        tool_choice="required",
        max_tokens=64,
        stream=True,
    )
    names, arguments, finish = [], "", None
    async for chunk in stream:
        if not chunk.choices:
            continue
        for call in chunk.choices[0].delta.tool_calls or ():
            if call.function.name:
                names.append(call.function.name)
            arguments += call.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    await aclient.close()
    assert names == ["get_weather"] and finish == "tool_calls"
    assert isinstance(json.loads(arguments)["city"], str)


def test_tool_round_trip_with_null_content(client: Any) -> None:
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    answer = client.chat.completions.create(
        model=MODEL, messages=history, tools=[WEATHER], tool_choice="none", max_tokens=8
    )
    assert answer.choices[0].message.content


def test_json_schema_and_json_object(client: Any) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON, "strict": True},
        },
        max_tokens=64,
    )
    person = json.loads(answer.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)
    with_schema = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={"type": "json_object", "schema": PERSON},  # llama.cpp's extension
        max_tokens=64,
    )
    assert set(json.loads(with_schema.choices[0].message.content)) == {"name", "age"}
    loose = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Paris."}],
        response_format={"type": "json_object"},
        max_tokens=8,
    )
    assert loose.choices[0].message.content.lstrip().startswith("{")


def test_embeddings_in_both_encodings(client: Any) -> None:
    texts = ["The capital of France is Paris.", "hello"]
    as_base64 = client.embeddings.create(model=MODEL, input=texts)  # the SDK's default
    as_float = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
    assert [len(d.embedding) for d in as_float.data] == [576, 576]
    for packed, plain in zip(as_base64.data, as_float.data, strict=True):
        assert packed.embedding == pytest.approx(plain.embedding, rel=1e-6, abs=1e-7)
    assert as_float.usage.prompt_tokens > 0


def test_models_list_and_retrieve(client: Any) -> None:
    listed = client.models.list().data
    assert [m.id for m in listed] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("another-model")


def test_context_overflow_is_a_400_with_the_numbers(
    client: Any, front_server: LaunchedServer
) -> None:
    long = [{"role": "user", "content": "word " * 700}]
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=long, max_tokens=4)
    error = caught.value.body
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 512 and error["n_prompt_tokens"] > 512
    with pytest.raises(openai.BadRequestError):
        list(client.chat.completions.create(model=MODEL, messages=long, stream=True))
    with front_server.llm() as llm, pytest.raises(hf.ContextOverflowError) as typed:
        llm.chat(long[0]["content"], max_tokens=4)
    assert typed.value.context_window == 512 and (typed.value.prompt_tokens or 0) > 512


def test_unhonoured_fields_are_refused_not_dropped(client: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="n=2"):
        client.chat.completions.create(model=MODEL, messages=ASK, n=2, max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="made_up"):
        client.chat.completions.create(
            model=MODEL, messages=ASK, max_tokens=2, extra_body={"made_up": 1}
        )


def test_llamafile_client_gets_native_routes_and_homefire_prompts(
    front_server: LaunchedServer,
) -> None:
    with front_server.llm() as llm:
        props = llm.props()
        assert props.total_slots == 4 and props.n_ctx == 512
        assert "<|im_start|>" in (props.raw["chat_template"] or "")
        prompt = llm.apply_chat_template([hf.user("Hi")])
        assert prompt.endswith("<|im_start|>assistant\n")
        assert llm.detokenize(llm.tokenize("Hello world")) == "Hello world"
        answer = llm.chat("Weather in Paris?", tools=[WEATHER], tool_choice="required")
        assert answer.message.tool_calls[0].name == "get_weather"
        # the bundled model's greedy defaults reach native completions that set none
        native = llm.http.post_json("/completion", {"prompt": "Hi", "n_predict": 1})
        assert native["generation_settings"]["temperature"] == 0.0
        assert all(not slot.is_processing for slot in llm.slots())


def test_metrics_count_requests_tokens_and_slots(front_server: LaunchedServer) -> None:
    headers = {"Authorization": f"Bearer {front_server.api_key}"}
    with httpx.Client(base_url=front_server.base_url, headers=headers, timeout=60) as http:
        http.post("/v1/chat/completions", json={"messages": ASK, "max_tokens": 2})
        text = http.get("/metrics").text
    values = {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values['homefire_requests_total{route="/v1/chat/completions",code="200"}'] >= 1
    assert values["homefire_completion_tokens_total"] >= 2
    assert values["homefire_slots_total"] == 4
    assert values["homefire_queue_length"] == 0
    assert "llamacpp:tokens_predicted_total" in values


def test_llama_cpp_log_stays_quiet(front_server: LaunchedServer) -> None:
    log = front_server.log_path.read_text("utf-8", "replace")
    assert "serving at" in log
    assert "llama_model_loader" not in log and "load_tensors" not in log
