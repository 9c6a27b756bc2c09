"""Oracle tests: the reference proven against independent implementations."""
