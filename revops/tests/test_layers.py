"""Import-graph check: layers point one way (issue 9; DESIGN.md §2 "Layers point one way").

Every project module outside tests, migrations and ``.venv`` is parsed (``ast``, nothing is
imported) and each of its imports of another project module is checked against the layer map.

Layer map, highest first. A module may import modules of its own layer or of any lower layer,
never of a higher one. The first matching rule of :data:`RULES` gives a module's layer
(``fnmatch`` patterns on dotted module names; ``*`` also matches dots):

5. **entry** - entry points: API views and serializers (``*.api``, ``*.serializers``), Slack
   endpoints and other views (``*.views``), ``*.urls``, admin (``*.admin``, ``*.admin_base``,
   ``*.forms``, ``integrations.connector_checks``: the connector admin's and commands' checks),
   management commands, ``*.apps``, ``agents.schedules``, the DRF authentication and middleware
   (``tenants.auth``, ``tenants.middleware``, ``tenants.schema``), ``revops.urls``,
   ``revops.health`` and ``revops.metrics`` (endpoints and middleware), WSGI/ASGI/gunicorn
   wiring, scripts (``benchmarks.*``, ``*.loadcheck``, ``*.bench``, ``agents.evals.*``).
4. **services** - writes and task bodies: ``*.services`` and ``*.tasks`` (except
   ``actions.services`` and ``integrations.services``, below), the Slack inbound services next
   to what they drive (``agents.slack_events``, ``agents.slack_replies``,
   ``actions.slack_interactivity``, ``actions.approvals``), run callbacks
   (``agents.callbacks``), ``agents.demo``, ``agents.evaluation``, ``knowledge.transfer``,
   ``knowledge.quality``, ``tenants.idempotency``.
3. **runtime** - the agent runtime and what it reads: ``agents.runtime``, ``agents.playbooks``,
   ``agents.semantic``, ``agents.llm``, ``agents.routing``, ``agents.timeperiods``, the
   analyses next to them, and ``knowledge`` reads (selectors, embedders, chunking, markdown,
   vector index, targets). Default for other ``agents.*`` and ``knowledge.*`` modules.
2. **actions** - the action engine the execution agent drives: ``actions.services`` (create,
   approve, claim, execute with retries), ``actions.handlers``, ``actions.selectors``,
   ``actions.connectors``, ``actions.insights``, ``actions.signing``,
   ``actions.callback_status``. It sits under the runtime because proposing an action is one of
   the execution agent's tools (like a warehouse query); its entry points (API, Slack
   interactivity, admin, commands) and task bodies sit above. Default for other ``actions.*``.
1. **integrations** - clients and credentials only: every ``integrations.*`` module not named
   above (Slack client, request verification, payload models and message layouts; warehouse;
   Salesforce; web search; ``integrations.outbound``; credentials and their services).
0. **foundation** - models and shared helpers every layer may use: ``*.models``,
   ``revops.lib.*``, settings, ``revops.logs``, ``revops.embedded_db``, ``tenants.context``,
   ``tenants.settings_schema`` and the rest of ``tenants`` not named above,
   ``integrations.crypto`` (field encryption the models use), and the choices and pure parsers
   the knowledge models validate with (``knowledge.kinds``, ``knowledge.frontmatter``,
   ``knowledge.semantic_model``, ``knowledge.validation``).

Two further rules:

- :data:`LEGACY_TASK_ALIASES`: upward imports kept only so django-q2 tasks queued under an old
  dotted path still run; each names the module to delete and when.
- No function-level import of a project module (imports inside a ``def`` hide cycles and the
  real dependency graph) except those pinned in :data:`FUNCTION_LEVEL_ALLOWED` with their
  reason, each a cycle-free one (Django app loading, standalone scripts that set up Django
  first), and those listed in :data:`FUNCTION_LEVEL_PENDING`: known leftovers, each naming what
  it hides, to be removed (the list only shrinks; :func:`test_pinned_exceptions_still_exist`
  fails once one is gone so its pin goes too).
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("revops", "tenants", "agents", "knowledge", "integrations", "actions", "benchmarks")
SKIPPED_PARTS = {"tests", "migrations", ".venv", "__pycache__"}

ENTRY, SERVICES, RUNTIME, ACTIONS, INTEGRATIONS, FOUNDATION = 5, 4, 3, 2, 1, 0
LAYER_NAMES = {5: "entry", 4: "services", 3: "runtime", 2: "actions", 1: "integrations", 0: "foundation"}

RULES: list[tuple[str, int]] = [
    # shared helpers first: revops.lib.api and revops.lib.urls are helpers, not entry points
    ("revops.lib", FOUNDATION),
    ("revops.lib.*", FOUNDATION),
    # 5 entry points
    ("*.management", ENTRY),
    ("*.management.*", ENTRY),
    ("*.api", ENTRY),
    ("*.serializers", ENTRY),
    ("*.views", ENTRY),
    ("*.urls", ENTRY),
    ("*.admin", ENTRY),
    ("*.admin_base", ENTRY),
    ("*.admin_schedules", ENTRY),
    ("*.admin_import", ENTRY),
    ("*.forms", ENTRY),
    ("*.apps", ENTRY),
    ("integrations.connector_checks", ENTRY),
    ("agents.schedules", ENTRY),
    ("agents.evals", ENTRY),
    ("agents.evals.*", ENTRY),
    ("tenants.auth", ENTRY),
    ("tenants.middleware", ENTRY),
    ("tenants.schema", ENTRY),
    ("revops.health", ENTRY),
    ("revops.metrics", ENTRY),
    ("revops.wsgi", ENTRY),
    ("revops.asgi", ENTRY),
    ("revops.gunicorn_conf", ENTRY),
    ("benchmarks", ENTRY),
    ("benchmarks.*", ENTRY),
    ("*.loadcheck", ENTRY),
    ("*.bench", ENTRY),
    # 0 foundation (before the patterns below: ``*.models`` of every app)
    ("*.models", FOUNDATION),
    ("integrations.crypto", FOUNDATION),
    ("knowledge.kinds", FOUNDATION),
    ("knowledge.frontmatter", FOUNDATION),
    ("knowledge.semantic_model", FOUNDATION),
    ("knowledge.validation", FOUNDATION),
    ("knowledge.targets", FOUNDATION),
    # 2 actions engine and 1 integrations services (before ``*.services``)
    ("actions.services", ACTIONS),
    ("integrations.services", INTEGRATIONS),
    # 4 services
    ("*.services", SERVICES),
    ("*.tasks", SERVICES),
    ("agents.slack_events", SERVICES),
    ("agents.slack_replies", SERVICES),
    ("agents.callbacks", SERVICES),
    ("agents.demo", SERVICES),
    ("agents.evaluation", SERVICES),
    ("actions.slack_interactivity", SERVICES),
    ("actions.approvals", SERVICES),
    ("knowledge.transfer", SERVICES),
    ("knowledge.quality", SERVICES),
    ("tenants.idempotency", SERVICES),
    # 3 runtime (default of agents.* and knowledge.*)
    ("agents", RUNTIME),
    ("agents.*", RUNTIME),
    ("knowledge", RUNTIME),
    ("knowledge.*", RUNTIME),
    # 2 actions engine (default of actions.*)
    ("actions", ACTIONS),
    ("actions.*", ACTIONS),
    # 1 integrations
    ("integrations", INTEGRATIONS),
    ("integrations.*", INTEGRATIONS),
    # 0 foundation (default of tenants.* and revops.*)
    ("tenants", FOUNDATION),
    ("tenants.*", FOUNDATION),
    ("revops", FOUNDATION),
    ("revops.*", FOUNDATION),
]

# (importing module, imported module): why the upward import exists and when it goes.
LEGACY_TASK_ALIASES: dict[tuple[str, str], str] = {
    ("integrations.slack.tasks", "agents.slack_events"): (
        "old dotted path of slack_question_process (moved to agents.slack_events) for tasks queued "
        "before the move; delete integrations/slack/tasks.py one release later"
    ),
}

# (importing module, imported module): the cycle-free reason the import must run inside a function.
FUNCTION_LEVEL_ALLOWED: dict[tuple[str, str], str] = {
    ("tenants.apps", "tenants.schema"): (
        "Django app loading: the drf-spectacular authentication extension is registered in "
        "AppConfig.ready, once the app registry is ready"
    ),
}

FUNCTION_LEVEL_ALLOWED[("revops.logs", "tenants.context")] = (
    "Django app loading: settings.LOGGING loads revops.logs before the apps are importable; the "
    "tenant is looked up per record, once tenants.context can be imported"
)

_SCRIPT = "standalone script: imports project modules after putting the project root on sys.path and calling django.setup()"
FUNCTION_LEVEL_ALLOWED.update(
    {
        ("benchmarks.action_delivery", "actions.models"): _SCRIPT,
        ("benchmarks.action_delivery", "actions.services"): _SCRIPT,
        ("benchmarks.action_delivery", "tenants.services"): _SCRIPT,
        ("benchmarks.harness", "revops.embedded_db"): _SCRIPT,
        ("benchmarks.harness", "revops.lib.ports"): _SCRIPT,
        ("benchmarks.kb_retrieval", "knowledge.embedders"): _SCRIPT + " (also in multiprocessing workers)",
        ("benchmarks.kb_retrieval", "knowledge.selectors"): _SCRIPT,
        ("benchmarks.kb_retrieval", "knowledge.vector_index"): _SCRIPT,
        ("benchmarks.kb_retrieval", "tenants.models"): _SCRIPT,
        ("benchmarks.kb_retrieval", "knowledge.models"): _SCRIPT,
        ("benchmarks.slack_ack", "integrations.tests.fake_slack"): _SCRIPT + " (the test fake of the Slack Web API)",
        ("benchmarks.note_search", "knowledge.frontmatter"): _SCRIPT,
        ("benchmarks.note_search", "agents.semantic.compiler"): _SCRIPT,
        ("benchmarks.note_search", "agents.semantic.query"): _SCRIPT,
        ("benchmarks.note_search", "knowledge.semantic_model"): _SCRIPT,
        ("benchmarks.note_search", "integrations.warehouse.importer"): _SCRIPT,
        ("benchmarks.note_search", "integrations.warehouse.loader"): _SCRIPT,
    }
)

# (importing module, imported module): leftovers that still hide a cycle or are new and not yet
# moved to module level; each entry says what it hides. Remove an entry with its import.
FUNCTION_LEVEL_PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class ProjectImport:
    """One import of a project module: where it is and what it names."""

    importer: str  # dotted module name
    target: str  # dotted module name of the imported module (a submodule when one is named)
    line: int
    in_function: bool


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file for every project module outside tests, migrations and ``.venv``."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if SKIPPED_PARTS & set(rel.parts):
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> int | None:
    """The layer of ``module`` by the first matching rule of :data:`RULES`, or None."""
    for pattern, layer in RULES:
        if fnmatch.fnmatchcase(module, pattern):
            return layer
    return None


def _is_project(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def project_imports(module: str, source: str, *, is_package: bool, known: set[str]) -> list[ProjectImport]:
    """The imports of project modules in ``source`` (module ``module``), module- and function-level.

    ``from X import Y`` names the submodule ``X.Y`` when that is a known module, else ``X``;
    relative imports are resolved against ``module``. An import inside a ``def`` or ``lambda``
    (at any depth) is function-level; one in a class body, ``if`` or ``try`` at module level is not.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: list[ProjectImport] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets: list[str] = []
            if isinstance(child, ast.Import):
                targets = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                for alias in child.names:
                    sub = f"{origin}.{alias.name}"
                    targets.append(sub if sub in known else origin)
            for target in dict.fromkeys(targets):  # `from X import a, b` naming X once
                if _is_project(target):
                    found.append(ProjectImport(module, target, child.lineno, in_function))
            visit(child, inside)

    visit(ast.parse(source), False)
    return found


def all_imports() -> list[ProjectImport]:
    files = module_files()
    known = set(files)
    result: list[ProjectImport] = []
    for module, path in files.items():
        result += project_imports(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py", known=known)
    return result


def layer_violations(imports: list[ProjectImport]) -> list[str]:
    """Imports from a lower layer to a higher one (not pinned as legacy aliases), readable."""
    problems = []
    for imp in imports:
        mine, theirs = layer_of(imp.importer), layer_of(imp.target)
        if mine is None or theirs is None or theirs <= mine:
            continue
        if (imp.importer, imp.target) in LEGACY_TASK_ALIASES:
            continue
        problems.append(
            f"{imp.importer}:{imp.line} ({LAYER_NAMES[mine]}) imports {imp.target} ({LAYER_NAMES[theirs]})"
        )
    return problems


def function_level_violations(imports: list[ProjectImport]) -> list[str]:
    """Function-level imports of project modules not pinned in :data:`FUNCTION_LEVEL_ALLOWED`."""
    return [
        f"{imp.importer}:{imp.line} imports {imp.target} inside a function"
        for imp in imports
        if imp.in_function
        and (imp.importer, imp.target) not in FUNCTION_LEVEL_ALLOWED
        and (imp.importer, imp.target) not in FUNCTION_LEVEL_PENDING
    ]


def test_every_module_has_a_layer():
    unclassified = sorted(m for m in module_files() if layer_of(m) is None)
    assert unclassified == [], f"add these modules to RULES: {unclassified}"


def test_no_import_runs_against_the_layer_order():
    problems = layer_violations(all_imports())
    assert problems == [], "imports against the layer order:\n" + "\n".join(problems)


def test_no_unpinned_function_level_import():
    problems = function_level_violations(all_imports())
    assert problems == [], "move these imports to module level (or pin them with a cycle-free reason):\n" + "\n".join(problems)


def test_pinned_exceptions_still_exist():
    """A pinned exception whose import is gone is removed from the pins (they only shrink)."""
    imports = all_imports()
    function_level = {(i.importer, i.target) for i in imports if i.in_function}
    module_level = {(i.importer, i.target) for i in imports}
    assert set(FUNCTION_LEVEL_ALLOWED) <= function_level, set(FUNCTION_LEVEL_ALLOWED) - function_level
    assert set(FUNCTION_LEVEL_PENDING) <= function_level, set(FUNCTION_LEVEL_PENDING) - function_level
    assert set(LEGACY_TASK_ALIASES) <= module_level, set(LEGACY_TASK_ALIASES) - module_level


def test_the_check_catches_upward_and_function_level_imports():
    """The checker itself: an integrations module importing agents services at module level, and
    a service importing a client inside a function, are both reported; a downward module-level
    import is not."""
    known = {"integrations.slack.client", "agents.services", "integrations.warehouse.selectors"}
    upward = project_imports(
        "integrations.slack.client", "from agents.services import run_create\n", is_package=False, known=known
    )
    hidden = project_imports(
        "agents.services",
        "def f():\n    from integrations.warehouse.selectors import warehouse_for_tenant\n",
        is_package=False,
        known=known,
    )
    downward = project_imports(
        "agents.services", "from integrations.warehouse import selectors\n", is_package=False, known=known
    )
    assert layer_violations(upward) == [
        "integrations.slack.client:1 (integrations) imports agents.services (services)"
    ]
    assert function_level_violations(hidden) == [
        "agents.services:2 imports integrations.warehouse.selectors inside a function"
    ]
    assert layer_violations(downward) == [] and function_level_violations(downward) == []
    assert downward[0].target == "integrations.warehouse.selectors"  # `from package import module` names the module
