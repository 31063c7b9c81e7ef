"""The check manifest is the truth about checks: every registered check is declared, every
declared one exists, and each check reads only the parameters it declares."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import wizard.checks
from wizard.checks import load_all_checks, load_checks
from wizard.checks.base import REGISTRY
from wizard.checks.manifest import AREAS, MANIFEST
from wizard.checks.paramtypes import param_failure

CHECKS_DIR = Path(wizard.checks.__file__).parent


def test_manifest_equals_the_registry() -> None:
    load_all_checks()
    assert sorted(set(REGISTRY) - set(MANIFEST)) == [], "registered but not in the manifest"
    assert sorted(set(MANIFEST) - set(REGISTRY)) == [], "in the manifest but not registered"


def test_each_check_is_registered_by_its_declared_area() -> None:
    load_all_checks()
    for check_id, decl in MANIFEST.items():
        assert REGISTRY[check_id].__module__ == f"wizard.checks.{decl.area}", check_id


def test_declared_areas_are_modules() -> None:
    for area in AREAS:
        assert (CHECKS_DIR / f"{area}.py").is_file(), area


def test_load_checks_registers_the_checks_asked_for() -> None:
    load_checks(["system.hostname", "no.such_check"])
    assert "system.hostname" in REGISTRY


@dataclass
class _Reads:
    names: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)


class _ParamReads:
    """Which keys a function reads from its params mapping, following the mapping into the
    module's own helpers; keys given by a loop over a literal or a module-level tuple are
    resolved, anything else is reported as unresolved (the test then fails)."""

    def __init__(self, tree: ast.Module) -> None:
        self.functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        self.constants: dict[str, list[str]] = {}
        for node in tree.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                values = _strings(node.value)
                for target in targets:
                    if isinstance(target, ast.Name) and values is not None:
                        self.constants[target.id] = values

    def of(self, function: ast.FunctionDef, param: str, reads: _Reads, seen: set[str]) -> None:
        if function.name in seen:
            return
        seen.add(function.name)
        loops = self._loop_values(function)
        parents = {
            child: node for node in ast.walk(function) for child in ast.iter_child_nodes(node)
        }
        for node in ast.walk(function):
            if not (isinstance(node, ast.Name) and node.id == param):
                continue
            parent = parents.get(node)
            key: ast.expr | None = None
            if isinstance(parent, ast.Subscript) and parent.value is node:
                key = parent.slice
            elif isinstance(parent, ast.Attribute) and parent.attr == "get":
                call = parents.get(parent)
                if isinstance(call, ast.Call) and call.args:
                    key = call.args[0]
            elif isinstance(parent, ast.Compare) and any(
                isinstance(op, ast.In | ast.NotIn) for op in parent.ops
            ):
                key = parent.left
            elif isinstance(parent, ast.Call) and node in parent.args:
                self._follow(parent, parent.args.index(node), reads, seen)
                continue
            elif isinstance(parent, ast.arguments):
                continue
            if key is None:
                reads.unresolved.append(f"{function.name}: {ast.unparse(parent or node)}")
                continue
            values = _strings(key)
            if values is None and isinstance(key, ast.Name):
                values = loops.get(key.id) or self.constants.get(key.id)
            if values is None:
                reads.unresolved.append(f"{function.name}: {ast.unparse(parent or node)}")
            else:
                reads.names.update(values)

    def _follow(self, call: ast.Call, index: int, reads: _Reads, seen: set[str]) -> None:
        callee = self.functions.get(call.func.id) if isinstance(call.func, ast.Name) else None
        if callee is None:
            reads.unresolved.append(f"params passed to {ast.unparse(call.func)}")
            return
        self.of(callee, callee.args.args[index].arg, reads, seen)

    def _loop_values(self, function: ast.FunctionDef) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for node in ast.walk(function):
            if isinstance(node, ast.For | ast.comprehension) and isinstance(node.target, ast.Name):
                values = _strings(node.iter)
                if values is None and isinstance(node.iter, ast.Name):
                    values = self.constants.get(node.iter.id)
                if values is not None:
                    found[node.target.id] = values
        return found


def _strings(node: ast.expr) -> list[str] | None:
    """The strings of a literal str, tuple, list, set or dict (its keys); None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
    if items is None or not isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        return None
    if all(isinstance(item, ast.Constant) and isinstance(item.value, str) for item in items):
        return [str(item.value) for item in items]  # type: ignore[union-attr]
    return None


def _check_ids(function: ast.FunctionDef, constants: dict[str, list[str]]) -> list[str]:
    """The ids a function registers with @check("id") or @check(A_CONSTANT)."""
    ids = []
    for decorator in function.decorator_list:
        if not (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Name)
            and decorator.func.id == "check"
        ):
            continue
        argument = decorator.args[0]
        found = _strings(argument)
        if found is None and isinstance(argument, ast.Name):
            found = constants.get(argument.id)
        assert found is not None, f"cannot tell the id of {function.name}"
        ids += found
    return ids


def _reads_by_check() -> dict[str, _Reads]:
    found: dict[str, _Reads] = {}
    for path in sorted(CHECKS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        scanner = _ParamReads(tree)
        for function in scanner.functions.values():
            for check_id in _check_ids(function, scanner.constants):
                reads = _Reads()
                scanner.of(function, function.args.args[1].arg, reads, set())
                found[check_id] = reads
    return found


def test_the_scan_finds_every_check() -> None:
    load_all_checks()
    assert set(_reads_by_check()) == set(REGISTRY)


def test_each_check_reads_only_declared_params() -> None:
    problems = []
    for check_id, reads in _reads_by_check().items():
        declared = {param.name for param in MANIFEST[check_id].params}
        problems += [f"{check_id}: cannot tell what {use} reads" for use in reads.unresolved]
        problems += [f"{check_id} reads '{n}', not declared" for n in reads.names - declared]
    assert problems == []


def test_the_scan_sees_helpers_and_loops() -> None:
    """The scanner itself: reads through a helper and a loop over a tuple are found."""
    tree = ast.parse(
        "KEYS = ('a', 'b')\n"
        "def helper(p):\n    return p['h'], p.get('g'), 'i' in p\n"
        "def f(ctx, params):\n"
        "    helper(params)\n"
        "    return [params.get(k) for k in KEYS], [params[x] for x in ('c',)]\n"
    )
    scanner = _ParamReads(tree)
    reads = _Reads()
    scanner.of(scanner.functions["f"], "params", reads, set())
    assert reads.names == {"a", "b", "c", "g", "h", "i"}
    assert reads.unresolved == []
    reads = _Reads()
    tree = ast.parse("def f(ctx, params):\n    return params[ctx.key], other(params)\n")
    _ParamReads(tree).of(tree.body[0], "params", reads, set())  # type: ignore[arg-type]
    assert len(reads.unresolved) == 2


def test_rendered_params_of_the_right_types_pass() -> None:
    params = {"port": 2222, "allow_x11": False, "allow_tcp_forwarding": True}
    assert param_failure("ssh.effective_config", params) is None
    assert param_failure("ssh.effective_config", {**params, "port": "2222"}) is None
    assert param_failure("dane.https", {"names": ("a.example", "b.example"), "lineage": "/x"}) is (
        None
    )
    # An optional parameter may be empty or absent; a required text may be empty text.
    assert param_failure("dns.registrar", {"domain": "example.net", "ipv6": ""}) is None


def test_a_rendered_param_of_the_wrong_type_is_a_clear_fail() -> None:
    params = {"port": "twenty-two", "allow_x11": "no", "allow_tcp_forwarding": True}
    result = param_failure("ssh.effective_config", params)
    assert result is not None and result.status == "fail"
    assert "'port' is str 'twenty-two': expected integer" in result.summary
    assert "'allow_x11' is str 'no': expected bool" in result.summary
    assert "[[checks]]" in result.hint
    result = param_failure("tls.redirect", {"names": "example.net"})
    assert result is not None and "'names' is str 'example.net': expected list of text" in (
        result.summary
    )
    result = param_failure("system.hostname", {"fqdn": None})
    assert result is not None and "'fqdn' has no value (expected text)" in result.summary
