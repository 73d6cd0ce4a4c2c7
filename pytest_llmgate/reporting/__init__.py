"""Pure renderers `render_x(run, baseline=None) -> str` shared by the plugin and the CLI."""
