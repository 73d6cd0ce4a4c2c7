"""Small helpers with no knowledge of the gate: YAML with line numbers, import by path, threads."""
