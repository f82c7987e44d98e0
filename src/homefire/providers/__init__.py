"""Providers: one module per kind of server, the in-process engines under `llamacpp/`, and
the registry that knows them all by scheme."""
