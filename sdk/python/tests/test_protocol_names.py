"""The SDK's method names and error codes against the host's, read from the Rust source.

`chronicle_plugin.protocol.Method` and `ErrorCode` must hold exactly what
crates/plugin-api/src/protocol/mod.rs declares in its `method` and `code` modules, so a method
renamed or added on either side fails here instead of as a -32601 at run time.
"""

import ast
import re
import unittest

from support import REPO_ROOT, SDK_SRC

from chronicle_plugin.protocol import ErrorCode, Method, RpcError, encode_line, error_response, request

RUST_PROTOCOL = REPO_ROOT / "crates" / "plugin-api" / "src" / "protocol" / "mod.rs"
SPECIFICATION = REPO_ROOT / "docs" / "plugin-protocol.md"
# JSON-RPC 2.0's own codes the SDK answers with; the Rust `code` module names only those the
# host itself sends, and lists the rest in a comment.
JSON_RPC_ONLY = {"INVALID_REQUEST": -32600, "INTERNAL_ERROR": -32603}


def rust_module(name: str) -> str:
    """The body of `pub mod NAME { ... }` (its items hold no braces)."""
    source = RUST_PROTOCOL.read_text(encoding="utf-8")
    found = re.search(r"pub mod " + name + r" \{(.*?)\n\}", source, re.DOTALL)
    if found is None:
        raise AssertionError(f"no `pub mod {name}` in {RUST_PROTOCOL}")
    return found.group(1)


def rust_methods() -> dict:
    return dict(re.findall(r'pub const ([A-Z0-9_]+): &str = "([^"]*)";', rust_module("method")))


def rust_codes() -> dict:
    pairs = re.findall(r"pub const ([A-Z0-9_]+): i64 = (-?\d+);", rust_module("code"))
    return {name: int(value) for name, value in pairs}


class MethodTest(unittest.TestCase):
    def test_the_methods_are_the_hosts(self):
        rust = rust_methods()
        self.assertGreaterEqual(len(rust), 14, "the regex no longer reads the Rust file")
        self.assertEqual({member.name: member.value for member in Method}, rust)

    def test_search_query_is_another_name_for_the_hosts_search(self):
        self.assertEqual(rust_methods()["SEARCH"], "search.query")
        self.assertIs(Method.SEARCH_QUERY, Method.SEARCH)
        self.assertEqual(Method.SEARCH_QUERY, "search.query")
        self.assertNotIn("SEARCH_QUERY", [member.name for member in Method], "an alias, not a second method")

    def test_a_method_is_its_plain_string(self):
        for member in Method:
            with self.subTest(member.name):
                self.assertIsInstance(member, str)
                self.assertEqual(member, member.value)
                self.assertEqual((str(member), f"{member}"), (member.value, member.value))
                self.assertEqual({member.value: 1}.get(member), 1)

    def test_the_bytes_on_the_wire_do_not_change(self):
        for member in Method:
            with self.subTest(member.name):
                line = encode_line(request(7, member, {"context_id": None}))
                self.assertEqual(line, encode_line(request(7, member.value, {"context_id": None})))
                self.assertIs(type(request(7, member, {})["method"]), str)
        answer = error_response(3, RpcError(ErrorCode.PERMISSION_DENIED, "no"))
        self.assertIs(type(answer["error"]["code"]), int)
        self.assertEqual(encode_line(answer), b'{"jsonrpc": "2.0", "id": 3, "error": {"code": -32030, "message": "no"}}\n')

    def test_the_specification_names_every_method(self):
        text = SPECIFICATION.read_text(encoding="utf-8")
        for member in Method:
            with self.subTest(member.name):
                self.assertIn(f"`{member.value}`", text)

    def test_no_method_name_is_spelled_out_elsewhere_in_the_sdk(self):
        names = {member.value for member in Method}
        for path in sorted((SDK_SRC / "chronicle_plugin").glob("*.py")):
            if path.name == "protocol.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            literals = {
                node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
            with self.subTest(path.name):
                self.assertEqual(literals & names, set(), "use chronicle_plugin.protocol.Method")


class ErrorCodeTest(unittest.TestCase):
    def test_the_codes_are_the_hosts_plus_json_rpcs_own(self):
        rust = rust_codes()
        self.assertGreaterEqual(len(rust), 10, "the regex no longer reads the Rust file")
        self.assertEqual({member.name: member.value for member in ErrorCode}, {**rust, **JSON_RPC_ONLY})

    def test_a_code_is_its_plain_number(self):
        self.assertEqual(ErrorCode.SERVICE_UNAVAILABLE, -32031)
        self.assertEqual(f"{ErrorCode.HANDLER_FAILED}", "-32020")


if __name__ == "__main__":
    unittest.main()
