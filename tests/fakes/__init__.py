"""Faithful fake LM Studio, LocalAI and Ollama servers, written from their documented protocols."""
