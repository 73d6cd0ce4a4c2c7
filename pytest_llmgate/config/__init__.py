"""What the user writes: datasets, column mappings, thresholds, model configurations, schemas."""
