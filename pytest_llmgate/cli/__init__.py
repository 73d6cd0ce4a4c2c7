"""The `llmgate` command line."""
