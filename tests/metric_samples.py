"""Reading one labelled sample of the process's metrics, for asserting on its change.

The prometheus registry is shared by every test in the process, so a test must compare a
sample before and after the behaviour it checks, never look at its value alone.
"""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The current value of one sample (0 when the series has not been made yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
