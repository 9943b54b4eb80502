"""User-facing errors: one line that says what went wrong and how to fix it."""


class BenchmarkError(Exception):
    """An error caused by the user's input or environment, printed as one line by the CLI."""
