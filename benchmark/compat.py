"""Mends for third-party packages written against older libraries, applied only where they are missing."""

from __future__ import annotations


def ensure_pkg_resources() -> None:
    """A minimal `pkg_resources` (its `resource_filename` alone) where setuptools 81 and later no longer has one:
    robustbench and imagecorruptions import it for one call each."""
    import importlib
    import sys
    import types

    if "pkg_resources" in sys.modules:
        return
    try:
        importlib.import_module("pkg_resources")
    except ImportError:
        import importlib.resources

        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, path: str(
            importlib.resources.files(package.split(".")[0]).joinpath(*package.split(".")[1:-1], path))
        sys.modules["pkg_resources"] = shim
