"""Get answers as validated Python objects: pydantic models, dataclasses or JSON schemas.

    python examples/structured_output.py                    # the embedded model, in process
    python examples/structured_output.py ollama:llama3.2    # any spec hf.connect takes

The schema constrains the model's output on the backend (a grammar, `json_schema`,
`format` or `response_format`), so even a 135M model returns JSON of the right shape.
"""

import sys
from dataclasses import dataclass

from pydantic import BaseModel, Field

import homefire as hf


class City(BaseModel):
    name: str
    country: str
    population_millions: float = Field(ge=0)


@dataclass
class Colour:
    name: str
    hex_code: str


llm = hf.connect(sys.argv[1]) if len(sys.argv) > 1 else hf.LlamaCPP(context_window=4096)
with llm:
    city = llm.structured("Describe the capital of France.", City, max_tokens=96)
    print("pydantic:", repr(city))

    colour = llm.structured("Name a colour and its hex code.", Colour, max_tokens=64)
    print("dataclass:", repr(colour))

    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confident": {"type": "boolean"}},
        "required": ["answer", "confident"],
    }
    print("JSON schema:", llm.structured("Is Paris in France?", schema, max_tokens=64))

    # While the answer streams, partial values arrive; the last one is the validated result.
    for partial in llm.stream_structured("Describe the capital of Italy.", City, max_tokens=96):
        print("partial:", partial)
