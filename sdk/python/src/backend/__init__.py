"""`backend`: the name the Python original's newest releases gave `advanced_omi_backend`.

`import backend.plugins.base` and `from backend.x import Y` give the very module objects of
`advanced_omi_backend.x`, not copies, so `backend.plugins.base.BasePlugin is
advanced_omi_backend.plugins.base.BasePlugin` and isinstance checks agree across both names.
Importing this package makes `backend` itself that package and adds a finder for the dotted
names below it; nothing else is touched.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType
from typing import Optional, Sequence

_ALIAS = __name__  # "backend"
_ORIGINAL = "advanced_omi_backend"


class _SameModuleLoader(importlib.abc.Loader):
    """Loads an alias as the original module object itself."""

    def __init__(self, module: ModuleType):
        self._module = module
        self._spec = module.__spec__

    def create_module(self, spec):
        return self._module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the module; give it back its own, so
        # reloads and relative imports inside it still see `advanced_omi_backend.*`.
        module.__spec__ = self._spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds `backend.<x>` as `advanced_omi_backend.<x>`."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[ModuleType] = None):
        if not fullname.startswith(_ALIAS + "."):
            return None
        original = _ORIGINAL + fullname[len(_ALIAS):]
        try:
            module = importlib.import_module(original)
        except ModuleNotFoundError as error:
            missing = error.name or ""
            if original == missing or original.startswith(missing + "."):
                return None  # reported as "No module named 'backend.<x>'"
            raise
        return importlib.util.spec_from_loader(
            fullname, _SameModuleLoader(module), is_package=hasattr(module, "__path__")
        )


def _install() -> ModuleType:
    if not any(isinstance(finder, _AliasFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
    original = importlib.import_module(_ORIGINAL)
    sys.modules[_ALIAS] = original
    return original


_install()
