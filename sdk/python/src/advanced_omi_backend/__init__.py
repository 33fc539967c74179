"""The Python original's package name, kept so its plugins' imports work as written.

Every name here is the chronicle_plugin object itself or a module written for these paths, not
a copy, so a plugin class is a BasePlugin subclass whichever path it was imported from. The
original's newest releases renamed the package `backend`; `import backend.x` gives the very
module `advanced_omi_backend.x` (see the `backend` package).

What the host cannot do raises NotImplementedError naming the feature: see sdk/python/README.md.
"""
