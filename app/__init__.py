"""The example application gated by `suites/`: an offline support answerer."""
