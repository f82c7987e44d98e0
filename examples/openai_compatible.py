"""Use any OpenAI-compatible server: vLLM, SGLang, TGI, llama.cpp's /v1, a proxy.

Start one, for instance vLLM (http://127.0.0.1:8000/v1):

    vllm serve Qwen/Qwen2.5-1.5B-Instruct --api-key "$OPENAI_API_KEY"

then (the key comes from $OPENAI_API_KEY; leave it unset for a server without one):

    python examples/openai_compatible.py http://127.0.0.1:8000/v1
"""

import os
import sys

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/v1"
model = sys.argv[2] if len(sys.argv) > 2 else None  # None: the server's first model

with hf.OpenAILike(model, base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY")) as llm:
    print("models:", [info.id for info in llm.models()])
    meta = llm.metadata
    print(f"using {meta.model_name}, context {meta.context_window}")

    reply = llm.chat("What is the capital of France?", max_tokens=48)
    print("chat:", reply.message.content)

    answer = llm.structured(
        "Give the capital of France.",
        {"type": "object", "properties": {"capital": {"type": "string"}}, "required": ["capital"]},
        max_tokens=48,
    )
    print("structured:", answer)
