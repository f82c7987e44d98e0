"""Talk to a llama.cpp server: `homefire serve`, `llama-server` or a llamafile.

Start one; each listens on http://127.0.0.1:8080 by default:

    homefire serve model.gguf               # prints the API key it made
    llama-server -m model.gguf --api-key "$HOMEFIRE_API_KEY"
    ./model.llamafile --server --nobrowser

then run (the key comes from $HOMEFIRE_API_KEY; leave it unset for a server without one):

    python examples/llamacpp_server.py http://127.0.0.1:8080
"""

import os
import sys

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
api_key = os.environ.get("HOMEFIRE_API_KEY")

with hf.Llamafile(base_url=base_url, api_key=api_key) as llm:
    llm.wait_until_ready(timeout=60)  # the server answers 503 while it loads the model
    props = llm.props()
    print(f"model: {props.model_path}")
    print(f"context: {props.n_ctx} tokens per slot, {props.total_slots} slot(s)")
    print("tokens in 'Hello, world':", llm.count_tokens("Hello, world"))

    reply = llm.chat("What is the capital of France?", max_tokens=48)
    print("chat:", reply.message.content)
    if reply.timings is not None:
        print(f"speed: {reply.timings.tokens_per_second:.1f} tokens/s")

    print("stream: ", end="")
    for chunk in llm.stream_chat("Count to five.", max_tokens=32):
        print(chunk.delta or "", end="", flush=True)
    print()
