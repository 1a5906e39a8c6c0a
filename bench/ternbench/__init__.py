"""tern-bench, the benchmark harness of bench/tern-bench, as a package (Python 3, standard library only)."""
