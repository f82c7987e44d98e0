"""The LLM contract and everything an LLM gets for free on top of a provider's few hooks:
chat on completion, tools and tool prompting, structured output, reasoning, stream timing
and embedding batching. Nothing here does I/O of its own."""
