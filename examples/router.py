"""Spread requests over several llama.cpp servers; one that is down is skipped.

Start two servers with the same key (in two terminals):

    homefire serve model.gguf --port 8080
    homefire serve model.gguf --port 8081

then:

    python examples/router.py http://127.0.0.1:8080 http://127.0.0.1:8081

The key comes from $HOMEFIRE_API_KEY, which `homefire serve` also reads.
"""

import asyncio
import os
import sys

import homefire as hf

urls = sys.argv[1:] or ["http://127.0.0.1:8080", "http://127.0.0.1:8081"]
key = os.environ.get("HOMEFIRE_API_KEY")
backends = {url: hf.Llamafile(base_url=url, api_key=key) for url in urls}


async def four_at_once(router: hf.Router) -> list[str]:
    replies = await asyncio.gather(
        *(router.achat(f"Say the number {n}.", max_tokens=8) for n in range(4))
    )
    return [reply.message.content or "" for reply in replies]


with hf.Router(backends, strategy="least-busy") as router:
    print("one:", router.chat("What is the capital of France?", max_tokens=32).message.content)
    print("four at once:", asyncio.run(four_at_once(router)))
    for status in router.status():
        state = "up" if status.up else f"down ({status.reason})"
        print(f"{status.name}: {state}, answered {status.answered}, failed {status.failed}")

for llm in backends.values():
    llm.close()
