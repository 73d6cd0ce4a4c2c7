"""Custom evaluators for the example project (user-land code, not the plugin's built-ins)."""
