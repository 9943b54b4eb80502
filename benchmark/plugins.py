"""Your own strategies, attacks, architectures and datasets, from a file of yours: no fork needed.

A plugin is a Python file (or an importable module) that registers what it defines with the
benchmark's decorators (`@register_strategy`, `@register_attack`, `@register_model`,
`@register_dataset`). List plugins in `$RTB_PLUGINS` (paths or module names, separated by
`os.pathsep`, ':' on Linux) or in a study's `plugins:`; the CLI, the API and every job a study
starts import them before anything else, so a study compares your method with the paper's arms
under the same budget, sizes and seeds.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError

_LOADED: dict[str, object] = {}


def plugin_refs(extra: list[str] | None = None) -> list[str]:
    refs = [r for r in os.environ.get("RTB_PLUGINS", "").split(os.pathsep) if r.strip()]
    return refs + [r for r in (extra or []) if r not in refs]


def load_plugins(extra: list[str] | None = None) -> list[str]:
    """Import every plugin once (paths by file, others as modules); a broken one is a one-line error."""
    done = []
    for ref in plugin_refs(extra):
        if ref in _LOADED:
            continue
        path = Path(ref).expanduser()
        try:
            if path.suffix == ".py" or path.is_file():
                if not path.is_file():
                    raise BenchmarkError(f"plugin {path} does not exist: fix $RTB_PLUGINS or the study's 'plugins'")
                name = f"rtb_plugin_{path.stem}"
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                spec.loader.exec_module(module)
            else:
                module = importlib.import_module(ref)
        except BenchmarkError:
            raise
        except Exception as exc:  # the plugin's own error, named
            raise BenchmarkError(f"plugin {ref} failed to load ({type(exc).__name__}: {exc})") from None
        _LOADED[ref] = module
        done.append(ref)
    return done
