"""Model files: reading and validating GGUF files, downloading them, and the embedded
default model. A model file is untrusted input; everything here checks it before an engine
sees it."""
