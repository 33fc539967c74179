"""The scaffold_example plugin; the host imports this package and runs ScaffoldExamplePlugin."""

from .plugin import ScaffoldExamplePlugin

__all__ = ["ScaffoldExamplePlugin"]
