"""The Python original's package name, kept so the guide's imports work as written.

Every name here is the chronicle_plugin object itself, not a copy, so a plugin class is a
BasePlugin subclass whichever path it was imported from.
"""
