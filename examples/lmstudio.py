"""Use LM Studio: list its models, load one with the context you want, chat, unload.

Start LM Studio's server (http://localhost:1234) and download a model once:

    lms server start
    lms get qwen2.5-7b-instruct

then:

    python examples/lmstudio.py http://localhost:1234 qwen2.5-7b-instruct

With "Require Authentication" on, set LMSTUDIO_API_TOKEN to the token LM Studio shows.
"""

import sys

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:1234"
model = sys.argv[2] if len(sys.argv) > 2 else "qwen2.5-7b-instruct"

# context_window is a load setting: the model is loaded with it before the first request.
# ttl unloads a model LM Studio loaded on demand after that many idle seconds.
with hf.LMStudio(model, base_url=base_url, context_window=8192, ttl=600) as llm:
    for info in llm.models():
        state = f"loaded, context {info.context_length}" if info.loaded else "not loaded"
        print(f"{info.id}: {info.quantization}, up to {info.max_context_length} tokens, {state}")

    reply = llm.chat("What is the capital of France?", max_tokens=48)
    print("chat:", reply.message.content)
    print("timings:", reply.timings)

    loaded = next(m for m in llm.models() if m.id == model)
    print(f"{model} runs with a {loaded.context_length}-token context")
    llm.unload()
    print(f"{model} unloaded")
