"""Quiz engine: FAQ-derived banks, seeded variants, rendering, scoring, exports."""
