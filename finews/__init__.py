"""finews: the composition root (settings, Redis, app factory, CLI)."""
