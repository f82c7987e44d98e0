"""Launch a GGUF file on Xinference, chat with it, then terminate it.

Start Xinference (http://127.0.0.1:9997):

    xinference-local --host 127.0.0.1 --port 9997

then give it a GGUF file on this machine:

    python examples/xinference.py http://127.0.0.1:9997 model.gguf

With Xinference's authentication on, set XINFERENCE_API_KEY.
"""

import sys
from pathlib import Path

import homefire as hf

base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:9997"
path = Path(sys.argv[2] if len(sys.argv) > 2 else "model.gguf").resolve()

# Xinference launches models it has registered: describe the file as a custom model family.
model = hf.read_model_file(path)
name = "homefire-example"
size = f"{model.parameter_count / 1e9:.3g}".replace(".", "_")  # billions, as Xinference writes them
family = {
    "version": 2,
    "model_name": name,
    "model_family": name,
    "model_lang": ["en"],
    "model_ability": ["generate", "chat"],
    "context_length": model.context_length,
    "model_specs": [
        {
            "model_format": "ggufv2",
            "model_size_in_billions": size,
            "quantization": model.quantization,
            "model_id": None,
            "model_file_name_template": path.name,
            "model_uri": f"file://{path.parent}",
        }
    ],
    "chat_template": model.chat_template,
    "stop_token_ids": [model.metadata["tokenizer.ggml.eos_token_id"]],
    "stop": [model.eos_token],
}

with hf.Xinference(base_url=base_url, context_window=2048) as llm:
    llm.register_model(family)
    uid = llm.launch(
        name,
        model_format="ggufv2",
        model_size_in_billions=size,
        quantization=model.quantization,
        progress=lambda step: print("launching:", step.status),
        timeout=300,
    )
    try:
        info = llm.describe(uid)
        print(f"running {uid}: context {info.context_length}, {info.quantization}")
        reply = llm.chat("What is the capital of France?", max_tokens=48)
        print("chat:", reply.message.content)
    finally:
        llm.terminate(uid)
        llm.unregister_model(name)
        print(f"terminated {uid}")
