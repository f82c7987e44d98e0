"""Serve a GGUF model over HTTP, then call it three ways: homefire, the OpenAI SDK, plain HTTP.

    python examples/serve.py               # the embedded model
    python examples/serve.py model.gguf

`hf.launch` runs the server for the length of the `with` block, on 127.0.0.1 and a free port,
with a fresh API key. For a server that keeps running, use `homefire serve model.gguf`.
Needs `pip install 'homefire[xllamacpp,serve]'`.
"""

import sys

import httpx

import homefire as hf

model_path = sys.argv[1] if len(sys.argv) > 1 else None

with hf.launch(model_path, context_window=2048, parallel=2) as server:
    print("serving at", server.base_url)

    with server.llm() as llm:
        reply = llm.chat("What is the capital of France?", max_tokens=32)
        print("homefire:", reply.message.content)

    try:
        from openai import OpenAI
    except ImportError:
        print("OpenAI SDK: not installed (pip install openai)")
    else:
        client = OpenAI(base_url=f"{server.base_url}/v1", api_key=server.api_key)
        answer = client.chat.completions.create(
            model="any",  # a single-model llama.cpp server answers with its model
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=16,
        )
        print("OpenAI SDK:", answer.choices[0].message.content)

    response = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {server.api_key}"},
        json={"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
        timeout=120,
    )
    print("HTTP:", response.status_code, response.json()["choices"][0]["message"]["content"])
