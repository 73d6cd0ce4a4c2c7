"""Model calls: the OpenAI-compatible client pool, the call cache, token counting, the runtime."""
