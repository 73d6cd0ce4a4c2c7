"""The results data model (rows, items, runs) and usage ledgers: data, no decisions."""
