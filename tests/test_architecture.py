"""The house rules a reviewer would otherwise have to remember: dependencies point one way.

Apps stack up as core ← campaigns ← delivery ← tracking ← (loadtest, console): each may import
only the apps below it, and none may reach above it by a back door either: by naming another
app's Celery task in a string, by assigning into another app's module, or by reading a higher
app's table through a reverse relation of its own models. Sizes stay readable too.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "core": set(),
    "campaigns": {"core"},
    "delivery": {"campaigns", "core"},
    "tracking": {"delivery", "campaigns", "core"},
    "loadtest": {"tracking", "delivery", "campaigns", "core"},
    "console": {"tracking", "delivery", "campaigns", "core"},
}
#: Modules of app code (migrations aside) stay short enough for a newcomer to read.
MAX_MODULE_LINES = 500


def _modules(app: str):
    for path in sorted((ROOT / app).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text())


def _imported_apps(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_app_dependencies_point_one_way():
    violations = [
        f"{path.relative_to(ROOT)} imports {imported}"
        for app, allowed in ALLOWED.items()
        for path, tree in _modules(app)
        for imported in _imported_apps(tree) - allowed - {app}
    ]
    assert violations == []


def test_no_app_names_another_apps_celery_task_in_a_string():
    violations = [
        f"{path.relative_to(ROOT)}: {node.value!r}"
        for app in ALLOWED
        for path, tree in _modules(app)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(node.value.startswith(f"{other}.tasks.") for other in set(ALLOWED) - {app})
    ]
    assert violations == []


def _names_of_other_apps_modules(tree: ast.AST, app: str) -> set[str]:
    """Return the local names bound to another app's modules or objects by this module's imports."""
    names = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in set(ALLOWED) - {app}
        ):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {
                (alias.asname or alias.name).split(".")[0]
                for alias in node.names
                if alias.name.split(".")[0] in set(ALLOWED) - {app}
            }
    return names


def test_no_app_assigns_into_another_apps_module():
    violations = []
    for app in ALLOWED:
        for path, tree in _modules(app):
            foreign = _names_of_other_apps_modules(tree, app)
            for node in ast.walk(tree):
                targets = node.targets if isinstance(node, ast.Assign) else []
                targets += [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []
                for target in targets:
                    owner = target.value if isinstance(target, ast.Attribute) else None
                    if isinstance(owner, ast.Name) and owner.id in foreign:
                        violations.append(f"{path.relative_to(ROOT)}: {owner.id}.{target.attr} = …")
                is_setattr = isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setattr"
                if is_setattr and node.args and getattr(node.args[0], "id", None) in foreign:
                    violations.append(f"{path.relative_to(ROOT)}: setattr({node.args[0].id}, …)")
    assert violations == []


def _reverse_accessors_from_above() -> dict[str, set[str]]:
    """Return, per app, the reverse relations that higher apps' models add to its models."""
    accessors: dict[str, set[str]] = {app: set() for app in ALLOWED}
    for model in apps.get_models():
        owner = model._meta.app_label
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model is not None):
                continue
            target = field.related_model._meta.app_label
            if target in ALLOWED.get(owner, set()) and not field.remote_field.hidden:
                accessors[target] |= {field.remote_field.get_accessor_name(), field.related_query_name()}
    return accessors


def _named(node: ast.expr) -> str:
    """Return the name an expression ends in: `x` or `a.b.x` give "x"."""
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def test_no_app_reads_a_higher_apps_table_through_a_reverse_relation():
    accessors = _reverse_accessors_from_above()
    violations = []
    for app, names in accessors.items():
        for path, tree in _modules(app):
            for node in ast.walk(tree):
                # botocore's `client.meta.events` (its event system) is no model's relation.
                boto_events = isinstance(node, ast.Attribute) and _named(node.value) == "meta"
                if isinstance(node, ast.Attribute) and node.attr in names and not boto_events:
                    violations.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
                lookups = [kw.arg for kw in node.keywords] if isinstance(node, ast.Call) else []
                lookups += [
                    arg.value
                    for arg in (node.args if isinstance(node, ast.Call) else [])
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                ]
                for lookup in filter(None, lookups):
                    if lookup.split("__")[0] in names and "__" in lookup:
                        violations.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lookup}")
    assert violations == []


@pytest.mark.parametrize("app", ALLOWED)
def test_no_module_of_app_code_is_over_the_size_a_reader_takes_in(app):
    long = [
        f"{path.relative_to(ROOT)}: {len(path.read_text().splitlines())} lines"
        for path, _tree in _modules(app)
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES
    ]
    assert long == []


def test_the_admin_registers_each_model_once_from_the_app_that_owns_it_or_the_console():
    violations = [
        f"{path.relative_to(ROOT)}: admin.site.unregister"
        for app in ALLOWED
        for path, tree in _modules(app)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "unregister"
        # A library's own registration, replaced once: its key model (core); beat's schedule,
        # whose actions the console keeps for superusers.
        and path.relative_to(ROOT).as_posix() not in ("core/admin.py", "console/admin.py")
    ]
    assert violations == []


@pytest.mark.django_db
def test_every_model_change_has_its_migration():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(f"A model changed without its migration:\n{out.getvalue()}")
