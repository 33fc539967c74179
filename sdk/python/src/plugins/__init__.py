"""`plugins`, the package the guide's unit-test example imports (`from plugins.base import ...`).

Its path is extended with every other `plugins` folder on sys.path, so run from the repository
root, the guide's `from plugins.my_plugin import MyPlugin` finds the plugin folders as well.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
