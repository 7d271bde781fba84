"""Paper tables as data, metadata writers and side-by-side speed benchmarks."""
