"""Public checks: `pytest exercises` runs them against your modules."""
