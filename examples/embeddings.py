"""Embed texts and rank them by similarity to a question.

    python examples/embeddings.py                         # the embedded model, in process
    python examples/embeddings.py http://127.0.0.1:8080   # a server with /v1/embeddings

A llama.cpp server serves embeddings when started with them on, e.g.
`llama-server -m model.gguf --embeddings --pooling mean`. Its key, if any, comes from
$HOMEFIRE_API_KEY.
"""

import math
import os
import sys

import homefire as hf

DOCUMENTS = [
    "The ferry to the island leaves twice a day from the harbour.",
    "The island's bakery opens at six in the morning.",
    "The lighthouse keeper is named Maren Holt.",
]
QUESTION = "When can I buy bread?"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


if len(sys.argv) > 1:
    embedder = hf.Embedding(base_url=sys.argv[1], api_key=os.environ.get("HOMEFIRE_API_KEY"))
else:
    embedder = hf.LlamaCPP(context_window=2048)  # embeds with the loaded model
with embedder:
    vectors = embedder.embed(DOCUMENTS)
    [question] = embedder.embed([QUESTION])
    print(f"{len(vectors)} vectors of {len(question)} dimensions")
    ranked = sorted(zip(DOCUMENTS, vectors, strict=True), key=lambda p: -cosine(question, p[1]))
    for text, vector in ranked:
        print(f"{cosine(question, vector):.3f}  {text}")
