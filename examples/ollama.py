"""Use Ollama through its native API: models, context size, chat, streaming.

Start Ollama (http://127.0.0.1:11434) and pull a model once:

    ollama serve
    ollama pull llama3.2

then:

    python examples/ollama.py http://127.0.0.1:11434 llama3.2
"""

import sys

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:11434"
model = sys.argv[2] if len(sys.argv) > 2 else "llama3.2"

# context_window goes to Ollama as num_ctx on every request: without it Ollama uses its own
# default (4096 on most machines) and silently drops what does not fit.
with hf.Ollama(model, base_url=base_url, context_window=8192, keep_alive="10m") as llm:
    for info in llm.models():
        print(f"{info.id}: {info.quantization}, {info.size_bytes / 1e9:.1f} GB")

    reply = llm.chat("What is the capital of France?", max_tokens=48)
    print("chat:", reply.message.content)
    print("timings:", reply.timings)

    print("stream: ", end="")
    for chunk in llm.stream_chat("Name three colours.", max_tokens=32):
        print(chunk.delta or "", end="", flush=True)
    print()

    for info in llm.running():
        print(f"loaded: {info.id} with a {info.context_length}-token context")
