"""Hidden suites (instructor only): one pytest file per exercise module."""
