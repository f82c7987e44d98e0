"""homefire's own HTTP front end: an OpenAI-compatible (and llama.cpp-compatible) server for
any `LLM`, with its key, Host and Origin checks and bounded request bodies.

`guard` refuses what must never reach a route, `app` holds the routes, `native` forwards
llama.cpp's template-free native routes to the in-process engine's private listener, and
`metrics` counts for `/metrics`. `homefire.servers.serve` runs it.
"""
