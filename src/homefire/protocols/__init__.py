"""Wire dialects: one pure module per server protocol, turning our types into request bodies
and answers back into our types. No I/O here."""
