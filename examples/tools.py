"""Let a model call your Python functions, on any backend.

    python examples/tools.py                    # the embedded model, in process
    python examples/tools.py ollama:llama3.2    # any spec hf.connect takes

Where a backend or a model's chat template cannot call tools itself (SmolLM2's cannot),
homefire describes the tools in the prompt and constrains the answer to a tool call, so
`tool_choice="required"` and a named tool are enforced, not hoped for.
"""

import sys

import homefire as hf


def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather in a city.

    Args:
        city: The city's name, e.g. "Paris".
        unit: "celsius" or "fahrenheit".
    """
    return f"18 degrees {unit} and sunny in {city}"


llm = hf.connect(sys.argv[1]) if len(sys.argv) > 1 else hf.LlamaCPP(context_window=4096)
with llm:
    print("spec:", hf.tool_spec(get_weather)["function"]["parameters"])

    # One turn: the model must call a tool; you decide what to do with the call.
    reply = llm.chat(
        "What is the weather in Paris?", tools=[get_weather], tool_choice="required", max_tokens=64
    )
    for call in reply.message.tool_calls:
        print(f"call: {call.name}({call.arguments})")
    for message in hf.run_tool_calls(reply.message.tool_calls, [get_weather]):
        print("result:", message.content)

    # The whole loop: call, run the tools, send the results back, until the model answers.
    final = llm.chat_with_tools(
        "What is the weather in Paris?",
        [get_weather],
        tool_choice="required",
        max_turns=3,
        max_tokens=64,
    )
    print("answer:", final.message.content)
