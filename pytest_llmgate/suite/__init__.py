"""Suite files (and Prompt Flow experiments) loaded into subjects, datasets and evaluators."""
