"""Use LocalAI: see its models, start a model's backend, chat.

Start LocalAI (http://localhost:8080) with a model from its gallery:

    local-ai run llama-3.2-1b-instruct

then:

    python examples/localai.py http://localhost:8080 llama-3.2-1b-instruct

With API keys configured, set LOCALAI_API_KEY.
"""

import sys

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8080"
model = sys.argv[2] if len(sys.argv) > 2 else "llama-3.2-1b-instruct"

with hf.LocalAI(model, base_url=base_url) as llm:
    llm.wait_until_ready(timeout=120)  # /readyz: LocalAI preloads models at start-up
    for info in llm.models():
        print(f"{info.id}: {'running' if info.loaded else 'configured'}")

    llm.load()  # start the model's backend now, instead of on the first request
    print("backend:", llm.backend_status())

    reply = llm.chat("What is the capital of France?", max_tokens=48)
    print("chat:", reply.message.content)
    print("usage:", reply.usage)
