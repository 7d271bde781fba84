"""Dataset classes and transforms (see the datasets issue)."""
