"""LangChain on homefire: a local model as a LangChain chat model, with tools and schemas.

    pip install langchain-homefire   # in this repository: make integrations
    python examples/langchain_chat.py                    # the embedded model, in process
    python examples/langchain_chat.py ollama:llama3.2    # any spec hf.connect takes

Settings passed to a call (`max_tokens=`, `temperature=`) are homefire's generation options.
"""

import sys

from langchain_homefire import ChatHomefire
from pydantic import BaseModel


class City(BaseModel):
    name: str
    country: str


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return "sunny"


# max_tokens here is the default of every call; a call may pass its own.
if len(sys.argv) > 1:
    chat = ChatHomefire(model=sys.argv[1], max_tokens=96)
else:
    chat = ChatHomefire(max_tokens=96)

print("invoke:", chat.invoke("What is the capital of France?", max_tokens=32).content)

print("stream: ", end="")
for chunk in chat.stream("Name three colours.", max_tokens=24):
    print(chunk.content, end="", flush=True)
print()

calls = chat.bind_tools([get_weather], tool_choice="any").invoke("Weather in Paris?").tool_calls
print("tool calls:", [(call["name"], call["args"]) for call in calls])

print("structured:", repr(chat.with_structured_output(City).invoke("Name a city in France.")))
