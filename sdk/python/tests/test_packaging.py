"""What `pip install sdk/python` and `pip install sdk/python/compat` would put in site-packages.

Building needs setuptools from PyPI, so these tests read the two pyproject.toml files and apply
their package patterns to src/ the way setuptools' `packages.find` does (fnmatchcase on dotted
names) instead of installing; the README's "Packaging" section gives the real install check.
"""

import tomllib
import unittest
from fnmatch import fnmatchcase
from pathlib import Path

from support import SDK_DIR, SDK_SRC

COMPAT_DIR = SDK_DIR / "compat"


def pyproject(folder: Path) -> dict:
    with open(folder / "pyproject.toml", "rb") as file:
        return tomllib.load(file)


def packages_in(root: Path) -> set:
    """Every package below `root` (a folder with __init__.py, all the way up), dotted."""
    found = set()
    for init in root.rglob("__init__.py"):
        parts = init.parent.relative_to(root).parts
        if all((root.joinpath(*parts[: depth + 1]) / "__init__.py").is_file() for depth in range(len(parts))):
            found.add(".".join(parts))
    return found


def selected(folder: Path) -> set:
    """The packages the distribution in `folder` installs."""
    find = pyproject(folder)["tool"]["setuptools"]["packages"]["find"]
    packages = set()
    for where in find["where"]:
        candidates = packages_in((folder / where).resolve())
        packages |= {name for name in candidates if any(fnmatchcase(name, pattern) for pattern in find["include"])}
    return packages


class PackagingTest(unittest.TestCase):
    def test_the_sdk_installs_only_chronicle_plugin(self):
        packages = selected(SDK_DIR)
        self.assertIn("chronicle_plugin", packages)
        self.assertEqual({name.split(".")[0] for name in packages}, {"chronicle_plugin"})

    def test_the_compat_distribution_installs_the_originals_paths_from_src(self):
        config = pyproject(COMPAT_DIR)
        self.assertEqual((COMPAT_DIR / config["tool"]["setuptools"]["package-dir"][""]).resolve(), SDK_SRC)
        packages = selected(COMPAT_DIR)
        self.assertTrue({"advanced_omi_backend", "advanced_omi_backend.plugins", "plugins"} <= packages, packages)
        self.assertNotIn("chronicle_plugin", {name.split(".")[0] for name in packages})

    def test_the_two_cover_src_without_overlap(self):
        sdk, compat = selected(SDK_DIR), selected(COMPAT_DIR)
        self.assertEqual(sdk & compat, set())
        self.assertEqual(sdk | compat, packages_in(SDK_SRC), "a package in src/ that neither distribution installs")

    def test_the_compat_distribution_needs_the_same_sdk_release(self):
        sdk, compat = pyproject(SDK_DIR)["project"], pyproject(COMPAT_DIR)["project"]
        self.assertEqual(compat["dependencies"], [f"{sdk['name']}=={sdk['version']}"])
        self.assertEqual(compat["version"], sdk["version"])


if __name__ == "__main__":
    unittest.main()
