"""The benchmark's tests: a regular package, so that `tests.conftest` is ours even where another
distribution (robustbench ships a top-level `tests` package) installs one into site-packages."""
