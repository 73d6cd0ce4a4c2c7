"""Statistics and the one decision path: thresholds, regressions, corrections, merged shards."""
