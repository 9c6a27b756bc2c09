"""The grading engine: pytest plugin, sandboxed worker, suites, reports and CLI."""

__version__ = "0.1.0"
