#!/usr/bin/env python3
"""Import cycles between the files of each crate under crates/*/src.

For every crate, this builds the graph "file A imports file B" from the product code (modules
declared under `#[cfg(test)]`, modules named `tests`, and any other `#[cfg(test)]` item are
left out) and prints its strongly connected components of more than one file (Tarjan):

    plugin-host: host.rs <-> router.rs <-> services.rs

An edge A -> B is a path in A that names an item B defines:

- `use crate::…`, `use super::…`, `use self::…`, `use child::…` (a module declared in A's
  module) and the same paths written inline (`crate::foo::bar(…)`);
- a name re-exported on the way (`pub use x::Y` in lib.rs, a mod.rs or any module) is followed
  to the file that defines `Y` (`struct`, `enum`, `trait`, `fn`, `type`, `const`, `static`,
  `union`, `mod` or `macro_rules!`, of any visibility); a name found nowhere else falls back to
  a search of the crate for its definition;
- a `pub use` is itself an edge only when its file also uses the name it re-exports;
- `mod x;` declarations are not imports.

Exit status: 0 without cycles, 1 with any, 2 on a usage error. `--json` prints the cycles as
JSON, `--edges` lists the imports that make up each cycle. Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
ITEM_KINDS = ("struct", "enum", "trait", "fn", "type", "const", "static", "union", "mod")
VISIBILITY = r"(?:pub(?:\s*\([^)]*\))?\s+)?"
DEFINITION = re.compile(
    r"\b" + VISIBILITY + r"(?:(?:async|const|unsafe|extern(?:\s*\"[^\"]*\")?)\s+)*"
    r"(struct|enum|trait|fn|type|const|static|union|mod)\s+(" + IDENT + r")\b"
)
MACRO_DEFINITION = re.compile(r"\bmacro_rules!\s*(" + IDENT + r")")
MOD_DECLARATION = re.compile(r"\b" + VISIBILITY + r"mod\s+(" + IDENT + r")\s*([;{])")
USE_STATEMENT = re.compile(r"\b(" + VISIBILITY + r")use\s+([^;]*);")
INLINE_PATH = re.compile(r"(?<![A-Za-z0-9_:])((?:" + IDENT + r")(?:\s*::\s*" + IDENT + r")+)")
CFG_ATTRIBUTE = re.compile(r"#\s*\[\s*cfg\s*\(")
PATH_ATTRIBUTE = re.compile(r"#\s*\[\s*path\s*=\s*\"([^\"]*)\"\s*\]")
KEYWORDS = {
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true",
    "type", "unsafe", "use", "where", "while", "union",
}


# --- Reading Rust source -------------------------------------------------------------------


def strip_comments_and_strings(text: str) -> str:
    """The text with comments blanked and string/char literals emptied; newlines are kept so
    offsets still map to the same lines."""
    out: list[str] = []
    i, n = 0, len(text)

    def blank(chunk: str) -> str:
        return "".join("\n" if c == "\n" else " " for c in chunk)

    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(blank(text[i:end]))
            i = end
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(text[i:j]))
            i = j
        elif c in "rb" and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")) and (
            m := re.match(r"b?r(#*)\"", text[i:i + 260])
        ):
            closing = '"' + m.group(1)
            end = text.find(closing, i + m.end())
            end = n if end < 0 else end + len(closing)
            out.append('""' + blank(text[i:end])[2:])
            i = end
        elif c == '"' or (c == "b" and nxt == '"' and not (i and text[i - 1].isalnum())):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append('""' + blank(text[i:j])[2:])
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            if nxt == "\\":
                j = text.find("'", i + 2 + (1 if text[i + 2:i + 3] == "'" else 0))
                j = n if j < 0 else j + 1
                out.append(blank(text[i:j]))
                i = j
            elif i + 2 < n and text[i + 2] == "'":
                out.append("   ")
                i += 3
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def matching(text: str, start: int, open_: str, close: str) -> int:
    """The offset just past the bracket that closes the one at `start`."""
    depth = 0
    for j in range(start, len(text)):
        if text[j] == open_:
            depth += 1
        elif text[j] == close:
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def item_end(text: str, start: int) -> int:
    """The end of the item that begins at `start` (after its attributes): its `;`, the close
    of its body, or (for a field, a variant or an argument) the `,` or the enclosing `}` that
    ends it, whichever comes first outside parentheses, brackets and generics."""
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "<":
            depth += 1
        elif c == ">" and text[j - 1] not in "-=":
            depth -= 1
        elif depth == 0 and c in ";,":
            return j + 1
        elif depth == 0 and c == "}":
            return j
        elif depth == 0 and c == "{":
            return matching(text, j, "{", "}")
    return len(text)


def is_test_only(predicate: str) -> bool:
    """`cfg(test)`, `cfg(all(test, …))`: code that exists only in test builds."""
    without_not = re.sub(r"not\s*\([^()]*\)", "", predicate)
    return re.search(r"\btest\b", without_not) is not None


def remove_test_items(text: str) -> str:
    """Blanks every item under a test-only `#[cfg(…)]` (keeping newlines)."""
    pos = 0
    while m := CFG_ATTRIBUTE.search(text, pos):
        attr_end = matching(text, m.start() + text[m.start():].index("["), "[", "]")
        predicate = text[m.end():attr_end]
        if not is_test_only(predicate):
            pos = attr_end
            continue
        j = attr_end
        while True:  # further attributes of the same item
            k = j
            while k < len(text) and text[k].isspace():
                k += 1
            if text.startswith("#", k) and "[" in text[k:k + 3]:
                j = matching(text, text.index("[", k), "[", "]")
            else:
                break
        end = item_end(text, j)
        chunk = text[m.start():end]
        text = text[:m.start()] + "".join("\n" if c == "\n" else " " for c in chunk) + text[end:]
        pos = m.start() + 1
    return text


def expand_use_tree(tree: str) -> list[tuple[list[str], str | None]]:
    """`a::{b, c::{self, d as e}, *}` to [(path segments, alias or None)]; a glob ends in "*"."""
    tree = re.sub(r"\s+", " ", tree).strip()
    results: list[tuple[list[str], str | None]] = []

    def split_top(s: str) -> list[str]:
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        return [p.strip() for p in parts if p.strip()]

    def walk(prefix: list[str], s: str) -> None:
        s = s.strip().removeprefix("::").strip()
        brace = s.find("{")
        if brace >= 0:
            head = s[:brace].strip().removesuffix("::").strip()
            inner = s[brace + 1:s.rfind("}")]
            segments = prefix + [p.strip() for p in head.split("::") if p.strip()]
            for part in split_top(inner):
                walk(segments, part)
            return
        alias = None
        if m := re.match(r"(.*?)\s+as\s+(" + IDENT + r")$", s):
            s, alias = m.group(1), m.group(2)
        segments = prefix + [p.strip() for p in s.split("::") if p.strip()]
        if segments and segments[-1] == "self":
            segments = segments[:-1]
            if not segments:
                return
        results.append((segments, alias))

    walk([], tree)
    return results


# --- The module tree ------------------------------------------------------------------------


@dataclass
class Module:
    path: tuple[str, ...]
    file: Path
    start: int  # the module's body within its file's cleaned text
    end: int
    depth: int  # brace depth of the body
    children: dict[str, "Module"] = field(default_factory=dict)
    # name -> (absolute path or None for another crate's, is_public), from the module's `use`s
    bindings: dict[str, tuple[tuple[str, ...] | None, bool]] = field(default_factory=dict)
    globs: list[tuple[str, ...]] = field(default_factory=list)
    definitions: set[str] = field(default_factory=set)


@dataclass
class Import:
    source: Path
    line: int
    written: str
    segments: tuple[str, ...]
    module: Module
    reexport_name: str | None = None  # for `pub use`: the name it binds


class Crate:
    def __init__(self, name: str, src: Path, root_file: Path) -> None:
        self.name = name
        self.src = src
        self.texts: dict[Path, str] = {}
        self.modules: list[Module] = []
        self.imports: list[Import] = []
        self.root = self.load(root_file, (), None)
        for module in self.modules:
            self.read_uses(module)
        for module in self.modules:
            self.read_inline_paths(module)

    # Reading files and modules.

    def text(self, file: Path) -> str:
        if file not in self.texts:
            raw = file.read_text(encoding="utf-8")
            self.texts[file] = remove_test_items(strip_comments_and_strings(raw))
            self.path_attributes(file, raw)
        return self.texts[file]

    def path_attributes(self, file: Path, raw: str) -> None:
        self._paths = getattr(self, "_paths", {})
        for m in PATH_ATTRIBUTE.finditer(raw):
            after = MOD_DECLARATION.search(raw, m.end())
            if after:
                self._paths[(file, after.group(1))] = m.group(1)

    def load(self, file: Path, path: tuple[str, ...], parent: Module | None) -> Module:
        text = self.text(file)
        module = Module(path, file, 0, len(text), 0)
        self.modules.append(module)
        self.read_body(module, text)
        return module

    def read_body(self, module: Module, text: str) -> None:
        """Child modules, definitions of the module body text[start:end] at its depth."""
        depths = brace_depths(text, module.start, module.end, module.depth)
        for m in MOD_DECLARATION.finditer(text, module.start, module.end):
            if depths(m.start()) != module.depth:
                continue
            name = m.group(1)
            if name == "tests":
                continue
            if m.group(2) == "{":
                open_at = m.end() - 1
                close_at = matching(text, open_at, "{", "}")
                child = Module(module.path + (name,), module.file, open_at + 1, close_at - 1,
                               module.depth + 1)
                self.modules.append(child)
                module.children[name] = child
                self.read_body(child, text)
            else:
                file = self.child_file(module, name)
                if file is not None:
                    module.children[name] = self.load(file, module.path + (name,), module)
        for m in DEFINITION.finditer(text, module.start, module.end):
            if depths(m.start()) == module.depth:
                module.definitions.add(m.group(2))
        for m in MACRO_DEFINITION.finditer(text, module.start, module.end):
            module.definitions.add(m.group(1))

    def child_file(self, module: Module, name: str) -> Path | None:
        explicit = getattr(self, "_paths", {}).get((module.file, name))
        base = module.file.parent
        if explicit:
            candidate = (base / explicit).resolve()
            return candidate if candidate.is_file() else None
        if module.file.name not in ("lib.rs", "main.rs", "mod.rs"):
            base = base / module.file.stem
        # inline modules nest a directory per level inside their file's directory
        owner = self.file_module(module.file)
        for segment in module.path[len(owner.path):] if owner else ():
            base = base / segment
        for candidate in (base / f"{name}.rs", base / name / "mod.rs"):
            if candidate.is_file():
                return candidate
        return None

    def file_module(self, file: Path) -> Module | None:
        for module in self.modules:
            if module.file == file and module.start == 0:
                return module
        return None

    def module_at(self, file: Path, offset: int) -> Module:
        """The innermost module whose body holds this offset of the file."""
        best = None
        for module in self.modules:
            if module.file == file and module.start <= offset <= module.end:
                if best is None or module.start >= best.start:
                    best = module
        assert best is not None
        return best

    def module(self, path: tuple[str, ...]) -> Module | None:
        current = self.root
        for segment in path:
            current = current.children.get(segment)
            if current is None:
                return None
        return current

    # Imports.

    def absolute(self, module: Module, segments: list[str]) -> tuple[str, ...] | None:
        """A path as written in `module` to an absolute path in the crate, or None when it
        leaves the crate (another crate, std, a local variable's type…)."""
        if not segments:
            return None
        first = segments[0]
        if first == "crate":
            return tuple(segments[1:])
        if first in ("self", "super"):
            base = list(module.path)
            rest = list(segments)
            if rest[0] == "self":
                rest = rest[1:]
            while rest and rest[0] == "super":
                if not base:
                    return None
                base.pop()
                rest = rest[1:]
            return tuple(base + rest)
        if first in module.children:
            return module.path + tuple(segments)
        if first in module.bindings and first not in KEYWORDS:
            target, _ = module.bindings[first]
            return None if target is None else target + tuple(segments[1:])
        return None

    def read_uses(self, module: Module) -> None:
        text = self.texts[module.file]
        depths = brace_depths(text, module.start, module.end, module.depth)
        for m in USE_STATEMENT.finditer(text, module.start, module.end):
            if depths(m.start()) != module.depth:
                continue  # a `use` inside a function body still counts, below
            self.add_use(module, text, m, public=bool(m.group(1).strip()))
        # `use` inside function bodies: scoped to the function but still imports.
        for m in USE_STATEMENT.finditer(text, module.start, module.end):
            d = depths(m.start())
            if d > module.depth and self.module_at(module.file, m.start()) is module:
                self.add_use(module, text, m, public=False, bind=False)

    def add_use(self, module: Module, text: str, m: re.Match, public: bool,
                bind: bool = True) -> None:
        line = text.count("\n", 0, m.start()) + 1
        if m.group(2).strip().startswith("::"):
            return  # `use ::other_crate::…`
        for segments, alias in expand_use_tree(m.group(2)):
            if segments and segments[-1] == "*":
                target = self.absolute(module, segments[:-1])
                if target is not None:
                    if bind:
                        module.globs.append(target)
                    self.imports.append(Import(module.file, line, "::".join(segments),
                                               target, module,
                                               reexport_name="*" if public else None))
                continue
            target = self.absolute(module, segments)
            name = alias or segments[-1]
            if bind and name != "_" and name not in module.bindings:
                # Names from other crates are bound too (to None), so that they are never
                # looked for in this one.
                module.bindings[name] = (target, public)
            if target is None:
                continue
            self.imports.append(Import(module.file, line, "::".join(segments), target, module,
                                       reexport_name=name if public else None))

    def read_inline_paths(self, module: Module) -> None:
        text = self.texts[module.file]
        uses = [(m.start(), m.end()) for m in USE_STATEMENT.finditer(text)]
        for m in INLINE_PATH.finditer(text, module.start, module.end):
            if self.module_at(module.file, m.start()) is not module:
                continue
            if any(a <= m.start() < b for a, b in uses):
                continue
            segments = [s.strip() for s in m.group(1).split("::")]
            first = segments[0]
            # Only paths that start in this crate: crate/self/super or a child module.
            # (Names a `use` bound are already edges through that `use`.)
            if first not in ("crate", "self", "super") and first not in module.children:
                continue
            before = text[max(0, m.start() - 5):m.start()]
            if re.search(r"\bmod\s*$", before):
                continue
            target = self.absolute(module, segments)
            if target is None:
                continue
            line = text.count("\n", 0, m.start()) + 1
            self.imports.append(Import(module.file, line, "::".join(segments), target, module))

    # Resolution.

    def resolve(self, path: tuple[str, ...], seen: frozenset = frozenset()) -> Path | None:
        """The file that defines what `path` names."""
        if path in seen:
            return None
        seen = seen | {path}
        # The longest prefix that is a module.
        current, i = self.root, 0
        while i < len(path) and path[i] in current.children:
            current = current.children[path[i]]
            i += 1
        if i == len(path):
            return current.file
        name = path[i]
        rest = path[i + 1:]
        if name in current.bindings:
            target, _ = current.bindings[name]
            if target is None:
                return None  # from another crate
            found = self.resolve(target + rest, seen)
            if found is not None:
                return found
        if name in current.definitions:
            return current.file
        for glob in current.globs:
            found = self.resolve(glob + (name,) + rest, seen)
            if found is not None:
                return found
        return self.search(name)

    def search(self, name: str) -> Path | None:
        """Fallback: the one file of the crate that defines `name`."""
        files = {m.file for m in self.modules if name in m.definitions}
        return next(iter(files)) if len(files) == 1 else None

    def edges(self) -> dict[Path, dict[Path, list[Import]]]:
        graph: dict[Path, dict[Path, list[Import]]] = {m.file: {} for m in self.modules}
        for imp in self.imports:
            if imp.reexport_name is not None and not self.used_beyond_uses(imp):
                continue
            if imp.written.endswith("*"):
                target_module = self.module(imp.segments)
                target = target_module.file if target_module else self.resolve(imp.segments)
            else:
                target = self.resolve(imp.segments)
            if target is None or target == imp.source:
                continue
            graph[imp.source].setdefault(target, []).append(imp)
        return graph

    def used_beyond_uses(self, imp: Import) -> bool:
        """Whether the file of a `pub use` also uses the name it re-exports."""
        if imp.reexport_name == "*":
            return False
        text = self.texts[imp.source]
        body = USE_STATEMENT.sub(lambda m: " " * len(m.group(0)), text)
        body = blank_variant_names(body)
        # `Owner::User` names a variant, not the re-exported `User`.
        return re.search(r"(?<![A-Za-z0-9_:])" + re.escape(imp.reexport_name) + r"\b",
                         body) is not None


def blank_variant_names(text: str) -> str:
    """The text with the names of enum variants, where they are declared, blanked."""
    out = list(text)
    for m in re.finditer(r"\benum\s+" + IDENT + r"[^{;]*\{", text):
        end = matching(text, m.end() - 1, "{", "}")
        body_start = m.end()
        depths = brace_depths(text, body_start, end, 1)
        for v in re.finditer(r"(?:^|[{,])\s*(?:#\s*\[[^\]]*\]\s*)*(" + IDENT + r")",
                             text[body_start - 1:end]):
            start = body_start - 1 + v.start(1)
            if depths(start) == 1:
                for k in range(start, body_start - 1 + v.end(1)):
                    out[k] = " "
    return "".join(out)


def brace_depths(text: str, start: int, end: int, base: int):
    """A function from an offset in text[start:end] to its brace depth (the body at `base`)."""
    marks: list[tuple[int, int]] = []
    depth = base
    for j in range(start, end):
        c = text[j]
        if c == "{":
            depth += 1
            marks.append((j + 1, depth))
        elif c == "}":
            depth -= 1
            marks.append((j, depth))
    offsets = [o for o, _ in marks]

    def at(offset: int) -> int:
        import bisect
        k = bisect.bisect_right(offsets, offset) - 1
        return base if k < 0 else marks[k][1]

    return at


# --- Cycles ---------------------------------------------------------------------------------


def strongly_connected(nodes: list[Path], graph: dict[Path, dict[Path, list]]) -> list[list[Path]]:
    """Tarjan's algorithm, iteratively."""
    index: dict[Path, int] = {}
    low: dict[Path, int] = {}
    on_stack: set[Path] = set()
    stack: list[Path] = []
    components: list[list[Path]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, {})))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def crates(root: Path) -> list[Crate]:
    found = []
    for manifest in sorted(root.glob("crates/*/Cargo.toml")):
        src = manifest.parent / "src"
        for root_name in ("lib.rs", "main.rs"):
            if (src / root_name).is_file():
                found.append(Crate(manifest.parent.name, src, src / root_name))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the cycles as JSON")
    parser.add_argument("--edges", action="store_true", help="list the imports in each cycle")
    parser.add_argument("--skip-roots", action="store_true",
                        help="leave the crate roots (lib.rs, main.rs) out of the graph")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the workspace (default: this script's parent folder)")
    args = parser.parse_args()
    if not (args.root / "crates").is_dir():
        print(f"{args.root}: no crates/ folder here; pass --root", file=sys.stderr)
        return 2

    cycles = []
    for crate in crates(args.root):
        graph = crate.edges()
        if args.skip_roots:
            roots = {crate.root.file}
            graph = {src: {dst: imps for dst, imps in dsts.items() if dst not in roots}
                     for src, dsts in graph.items() if src not in roots}
        nodes = sorted(graph)
        for component in strongly_connected(nodes, graph):
            if len(component) < 2:
                continue
            members = set(component)
            files = sorted(str(f.relative_to(crate.src)) for f in component)
            edges = [
                {
                    "from": str(src.relative_to(crate.src)),
                    "to": str(dst.relative_to(crate.src)),
                    "imports": [f"{imp.line}: {imp.written}" for imp in imps],
                }
                for src in sorted(members)
                for dst, imps in sorted(graph[src].items())
                if dst in members
            ]
            cycles.append({"crate": crate.name, "files": files, "edges": edges})

    if args.json:
        print(json.dumps({"count": len(cycles), "cycles": cycles}, indent=2))
    else:
        for cycle in cycles:
            print(f"{cycle['crate']}: {' <-> '.join(cycle['files'])}")
            if args.edges:
                for edge in cycle["edges"]:
                    print(f"    {edge['from']} -> {edge['to']}: {', '.join(edge['imports'])}")
        print(f"{len(cycles)} import cycle{'s' if len(cycles) != 1 else ''}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
