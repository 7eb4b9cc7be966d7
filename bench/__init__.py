"""`make bench`: the project's corpus generator and the benchmark harness (never in `make test`)."""
