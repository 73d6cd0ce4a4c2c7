"""The row pipeline: dataset rows through a subject and its evaluators into results."""
