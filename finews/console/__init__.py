"""The newsroom console."""
