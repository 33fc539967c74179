"""Finds a plugin's class in its folder, the way the Python original discovered plugins.

The guide's layout is `plugins/<id>/__init__.py` exporting `<PascalCaseId>Plugin` from
`plugin.py`. The plugins folder goes first on `sys.path` and `<id>` is imported as a top-level
package, so a plugin's own absolute imports keep working. A class under another name is
accepted when it is the only BasePlugin subclass in sight, so the guide's examples can keep
their class names in folders with other ids.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import List

from .base import BasePlugin


class PluginLoadError(Exception):
    """The folder holds no plugin the runner can start; the message says what was found."""


def expected_class_name(plugin_id: str) -> str:
    """`todo_extractor` → `TodoExtractorPlugin`, as the CLI's `plugin new` names it."""
    return "".join(part[:1].upper() + part[1:] for part in plugin_id.split("_")) + "Plugin"


def load_plugin_class(plugin_id: str, plugins_dir: Path) -> type:
    """Imports `plugins_dir/plugin_id` and returns the BasePlugin subclass to run."""
    folder = plugins_dir / plugin_id
    sys.path.insert(0, str(plugins_dir))
    if (folder / "__init__.py").is_file():
        modules = _import_package(plugin_id)
    elif (folder / "plugin.py").is_file():
        modules = [_import_file(plugin_id, folder / "plugin.py")]
    else:
        raise PluginLoadError(f"{folder} has neither __init__.py nor plugin.py")
    return select_plugin_class(plugin_id, modules)


def _import_package(plugin_id: str) -> List[ModuleType]:
    package = importlib.import_module(plugin_id)
    if importlib.util.find_spec(f"{plugin_id}.plugin") is None:
        return [package]
    return [package, importlib.import_module(f"{plugin_id}.plugin")]


def _import_file(plugin_id: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(plugin_id, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[plugin_id] = module
    spec.loader.exec_module(module)
    return module


def select_plugin_class(plugin_id: str, modules: List[ModuleType]) -> type:
    """`<PascalCaseId>Plugin` if a module has it, else the single BasePlugin subclass found."""
    expected = expected_class_name(plugin_id)
    for module in modules:
        named = getattr(module, expected, None)
        if _is_plugin_class(named):
            return named
    found = {}
    for module in modules:
        for attribute in dir(module):
            candidate = getattr(module, attribute)
            if _is_plugin_class(candidate):
                found[candidate] = f"{candidate.__module__}.{candidate.__qualname__}"
    if len(found) == 1:
        return next(iter(found))
    searched = " and ".join(module.__name__ for module in modules)
    if not found:
        raise PluginLoadError(
            f"no plugin class in {searched}: define `{expected}`, a subclass of BasePlugin "
            "(from advanced_omi_backend.plugins.base import BasePlugin), and export it from "
            "__init__.py"
        )
    raise PluginLoadError(
        f"several BasePlugin subclasses in {searched} ({', '.join(sorted(found.values()))}): "
        f"name the one to run `{expected}`"
    )


def _is_plugin_class(candidate: object) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BasePlugin) and candidate is not BasePlugin
