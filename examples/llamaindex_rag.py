"""LlamaIndex on homefire: a local model answers questions about your documents.

    pip install llama-index-llms-homefire   # in this repository: make integrations
    python examples/llamaindex_rag.py                    # the embedded model, in process
    python examples/llamaindex_rag.py ollama:llama3.2    # any spec hf.connect takes

The same homefire LLM is LlamaIndex's LLM and its embedding model.
"""

import sys

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.llms import ChatMessage
from llama_index.embeddings.homefire import HomefireEmbedding
from llama_index.llms.homefire import HomefireLLM

import homefire as hf

if len(sys.argv) > 1:
    model = hf.connect(sys.argv[1], max_new_tokens=96)
else:
    model = hf.LlamaCPP(context_window=4096, max_new_tokens=96)
llm = HomefireLLM(model)

reply = llm.chat([ChatMessage(role="user", content="What is the capital of France?")])
print("chat:", reply.message.content)

documents = [
    Document(text="The lighthouse keeper on Skerra Island is named Maren Holt."),
    Document(text="Skerra Island has one bakery, which opens at six in the morning."),
]
index = VectorStoreIndex.from_documents(documents, embed_model=HomefireEmbedding(model))
answer = index.as_query_engine(llm=llm, similarity_top_k=1).query("When does the bakery open?")
print("answer:", answer)
print("source:", answer.source_nodes[0].node.get_content())
model.close()
