"""Checks a Swift client that OpenAPI Generator makes from openapi.yaml, without a Swift toolchain:
the swift6 generator's (Sources/VerifyProxy/) or the swift5 generator's (VerifyProxy/Classes/OpenAPIs/).

No Swift compiler runs on this machine, so this checks what can be checked from the source itself,
read with tree-sitter's Swift grammar rather than with regular expressions:

- every file the contract shapes (APIs/ and Models/) parses as Swift;
- there is exactly one model per object schema, under the schema's own name (no ModelError, no
  InlineObject, no RequestPost200Response), and one API class per tag (the tag `verification` gives
  VerificationAPI);
- no model or API class has the name of a type the generator's support files declare (ErrorResponse,
  Response, ...): the package would not compile;
- each model's CodingKeys carry exactly the schema's JSON property names, required properties are
  non-optional and optional ones optional, an enum in the schema is a Swift enum with its values, and
  a string's pattern and length limits survive as the model's StringRule for that property;
- each operation is a function named by its operationId, taking the request schema's model and
  returning the 200 response's model.

The generator's fixed support files (every other .swift file) are not parsed: they do not depend on
the contract, and the grammar misreads valid Swift in them (`() as! T`); only the names of the types
they declare are read.

Usage: python check_client.py OPENAPI_YAML SWIFT_CLIENT_DIR
"""

from __future__ import annotations

import pathlib
import re
import sys

import tree_sitter
import tree_sitter_swift
import yaml

PACKAGE = "VerifyProxy"
# Where each generator puts the sources of the package: swift6, then swift5.
LAYOUTS = (pathlib.Path("Sources") / PACKAGE, pathlib.Path(PACKAGE) / "Classes" / "OpenAPIs")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# A type a support file declares: `public class ErrorResponse`, `open class RequestBuilder<T>`, ...
DECLARATION = re.compile(r"^\s*(?:(?:public|internal|open|fileprivate|private|final|indirect)\s+)*"
                         r"(?:class|struct|enum|protocol|typealias|actor)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)


def api_class(op: dict) -> str:
    """The generator's class for an operation: its first tag, camel-cased, + API (verification: VerificationAPI)."""
    tag = (op.get("tags") or ["default"])[0]
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", tag) if part) + "API"


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class Checker:
    def __init__(self, spec: dict, sources: pathlib.Path) -> None:
        self.spec = spec
        self.sources = sources
        self.parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
        self.problems: list[str] = []
        self.trees: dict[pathlib.Path, tree_sitter.Tree] = {}

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def parse(self, path: pathlib.Path) -> tree_sitter.Node:
        tree = self.parser.parse(path.read_bytes())
        broken = [n for n in walk(tree.root_node) if n.is_error or n.is_missing]
        for node in broken[:3]:
            row, col = node.start_point
            self.fail(f"{path.relative_to(self.sources)}:{row + 1}:{col + 1}: not valid Swift near {node.text[:40]!r}")
        return tree.root_node

    def check_models(self) -> int:
        schemas = self.spec["components"]["schemas"]
        objects = {name: s for name, s in schemas.items() if s.get("type") == "object"}
        want = set(objects)
        have = {p.stem for p in (self.sources / "Models").glob("*.swift")}
        for extra in sorted(have - want):
            self.fail(f"Models/{extra}.swift is not a schema of openapi.yaml: a schema renamed, or an inline type")
        for missing in sorted(want - have):
            self.fail(f"Models/{missing}.swift is missing")
        for name, schema in sorted(objects.items()):
            path = self.sources / "Models" / f"{name}.swift"
            if path.exists():
                self.check_model(name, schema, self.parse(path))
        return len(want)

    def check_model(self, name: str, schema: dict, root: tree_sitter.Node) -> None:
        decl = find_type(root, name)
        if decl is None or kind(decl) != "struct" or "public" not in modifiers(decl):
            self.fail(f"{name}: no `public struct {name}`")
            return
        body = decl.child_by_field_name("body")
        coding_keys = find_type(body, "CodingKeys")
        json_names = {}
        for entry in enum_entries(coding_keys):
            json_names[entry.raw or entry.case] = entry.case
        props = schema.get("properties", {})
        if set(json_names) != set(props):
            self.fail(f"{name}: CodingKeys carry {sorted(json_names)}, the schema has {sorted(props)}")
            return
        required = set(schema.get("required", []))
        types = property_types(body)
        for json_name, prop in props.items():
            swift_prop = json_names[json_name]
            declared = types.get(swift_prop)
            if declared is None:
                self.fail(f"{name}.{swift_prop}: no property for `{json_name}`")
                continue
            if declared.endswith("?") == (json_name in required):
                self.fail(f"{name}.{swift_prop}: `{declared}` but `{json_name}` is "
                          f"{'required' if json_name in required else 'optional'} in openapi.yaml")
            self.check_string_rule(name, swift_prop, self.resolve(prop), body)
            values = prop.get("enum")
            if values:
                enum_type = declared.rstrip("?")
                cases = {e.raw or e.case for e in enum_entries(find_type(body, enum_type))}
                if cases != {str(v) for v in values}:
                    self.fail(f"{name}.{swift_prop}: enum {enum_type} has {sorted(cases)}, the schema {values}")

    def resolve(self, prop: dict) -> dict:
        if "$ref" in prop:
            return self.spec["components"]["schemas"][ref_name(prop["$ref"])]
        return prop

    def check_string_rule(self, model: str, swift_prop: str, prop: dict, body: tree_sitter.Node) -> None:
        """A generated Swift model validates a string with a StringRule(minLength:maxLength:pattern:)."""
        limits = {k: prop.get(k) for k in ("minLength", "maxLength", "pattern")}
        if prop.get("type") != "string" or all(v is None for v in limits.values()):
            return
        want = {
            "minLength": str(limits["minLength"]) if limits["minLength"] is not None else "nil",
            "maxLength": str(limits["maxLength"]) if limits["maxLength"] is not None else "nil",
            "pattern": f"/{limits['pattern']}/" if limits["pattern"] is not None else "nil",
        }
        have = string_rules(body).get(f"{swift_prop}Rule")
        if have != want:
            self.fail(f"{model}.{swift_prop}: StringRule {have}, want {want} from openapi.yaml")

    def check_names(self) -> None:
        """No model or API class may share its name with a type of the generator's support files."""
        ours = {p.stem for d in ("Models", "APIs") for p in (self.sources / d).glob("*.swift")}
        for path in sorted(self.sources.rglob("*.swift")):
            if path.parent.name in ("Models", "APIs"):
                continue
            for name in sorted(set(DECLARATION.findall(path.read_text())) & ours):
                self.fail(f"{name} is also declared by the generator's {path.relative_to(self.sources)}")

    def check_api(self) -> int:
        operations = [(f"{method.upper()} {path}", op)
                      for path, item in self.spec["paths"].items()
                      for method, op in item.items() if method in HTTP_METHODS]
        by_class: dict[str, list] = {}
        for label, op in operations:
            by_class.setdefault(api_class(op), []).append((label, op))
        have = {p.stem for p in (self.sources / "APIs").glob("*.swift")}
        if have != set(by_class):
            self.fail(f"APIs/ holds {sorted(have)}, want {sorted(by_class)}")
        for cls, ops in sorted(by_class.items()):
            path = self.sources / "APIs" / f"{cls}.swift"
            decl = find_type(self.parse(path), cls) if path.exists() else None
            if decl is None:
                self.fail(f"APIs/{cls}.swift declares no {cls}")
                continue
            functions = {}
            for fn in decl.child_by_field_name("body").named_children:
                if fn.type == "function_declaration":
                    functions[text(fn.child_by_field_name("name"))] = fn
            for label, op in ops:
                self.check_operation(cls, label, op, functions)
        return len(operations)

    def check_operation(self, cls: str, label: str, op: dict, functions: dict) -> None:
        op_id = op["operationId"]
        fn = functions.get(op_id)
        if fn is None:
            self.fail(f"{label}: {cls} has no function {op_id}")
            return
        body_ref = json_schema_ref(op.get("requestBody", {}))
        if body_ref is not None:
            params = [text(p) for p in fn.named_children if p.type == "parameter"]
            want_param = ref_name(body_ref)
            if not params or not params[0].endswith(f": {want_param}"):
                self.fail(f"{op_id}: first parameter is {params[:1]}, want a {want_param}")
        result_ref = json_schema_ref(op.get("responses", {}).get("200", {}))
        if result_ref is not None:
            returns = [text(c) for i, c in enumerate(fn.children)
                       if i > 0 and fn.children[i - 1].type == "->"]
            want_result = ref_name(result_ref)
            if returns != [want_result]:
                self.fail(f"{op_id}: returns {returns}, want {want_result}")


class Entry:
    def __init__(self, case: str, raw: str | None) -> None:
        self.case, self.raw = case, raw


def json_schema_ref(body_or_response: dict) -> str | None:
    """The $ref of a request body's or response's JSON schema; None when it has none."""
    return body_or_response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def walk(node: tree_sitter.Node):
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: tree_sitter.Node | None) -> str:
    return node.text.decode() if node is not None else ""


def kind(decl: tree_sitter.Node) -> str:
    return text(decl.child_by_field_name("declaration_kind"))


def modifiers(decl: tree_sitter.Node) -> str:
    return " ".join(text(c) for c in decl.children if c.type == "modifiers")


def find_type(scope: tree_sitter.Node | None, name: str) -> tree_sitter.Node | None:
    if scope is None:
        return None
    for child in scope.named_children:
        if child.type == "class_declaration" and text(child.child_by_field_name("name")) == name:
            return child
    return None


def enum_entries(decl: tree_sitter.Node | None) -> list[Entry]:
    entries = []
    if decl is None:
        return entries
    for entry in decl.child_by_field_name("body").named_children:
        if entry.type != "enum_entry":
            continue
        case = text(entry.child_by_field_name("name"))
        raw = entry.child_by_field_name("raw_value")
        raw_text = None
        if raw is not None:
            raw_text = "".join(text(c) for c in walk(raw) if c.type == "line_str_text")
        entries.append(Entry(case, raw_text))
    return entries


def string_literal(node: tree_sitter.Node) -> str:
    """The value of a one-line Swift string literal, its escapes decoded."""
    escapes = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\t": "\t"}
    parts = []
    for child in node.children:
        if child.type == "line_str_text":
            parts.append(text(child))
        elif child.type == "str_escaped_char":
            parts.append(escapes.get(text(child), text(child)))
    return "".join(parts)


def string_rules(body: tree_sitter.Node) -> dict[str, dict[str, str]]:
    """`static let xRule = StringRule(minLength: …, maxLength: …, pattern: "…")` by name."""
    rules = {}
    for prop in body.named_children:
        if prop.type != "property_declaration" or "static" not in modifiers(prop):
            continue
        call = prop.child_by_field_name("value")
        if call is None or call.type != "call_expression" or text(call.named_children[0]) != "StringRule":
            continue
        args = {}
        for arg in walk(call):
            if arg.type != "value_argument":
                continue
            label, value = text(arg.named_children[0]), arg.named_children[-1]
            args[label] = string_literal(value) if value.type == "line_string_literal" else text(value)
        rules[text(prop.child_by_field_name("name"))] = args
    return rules


def property_types(body: tree_sitter.Node) -> dict[str, str]:
    types = {}
    for prop in body.named_children:
        if prop.type != "property_declaration" or "static" in modifiers(prop):
            continue
        annotation = next((c for c in prop.children if c.type == "type_annotation"), None)
        types[text(prop.child_by_field_name("name"))] = text(annotation).lstrip(":").strip()
    return types


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.rsplit("Usage: ", 1)[1], file=sys.stderr)
        return 2
    spec = yaml.safe_load(pathlib.Path(argv[1]).read_text())
    root = pathlib.Path(argv[2])
    sources = next((root / p for p in LAYOUTS if (root / p / "Models").is_dir()), None)
    if sources is None:
        print(f"swift client: neither {' nor '.join(str(p) for p in LAYOUTS)} in {root}", file=sys.stderr)
        return 1
    checker = Checker(spec, sources)
    models = checker.check_models()
    operations = checker.check_api()
    checker.check_names()
    for problem in checker.problems:
        print(f"swift client {root}: {problem}", file=sys.stderr)
    if checker.problems:
        return 1
    print(f"swift client {root}: {models} models and {operations} operations match openapi.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
