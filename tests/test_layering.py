"""The package layout is the architecture: imports point down the layers only, and the model folder stands alone.

Every import statement is read, module-level or inside a function (a lazy import is still a dependency).
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Sub-packages of smplest_hf from the bottom up. A module may import its own sub-package and those on lower
# layers, never a sibling on its own layer or anything above. `cli.py` and `__init__.py` sit on top of all.
LAYERS = (
    ("models",),  # the model, self-contained (copied for trust_remote_code loads)
    ("export",),  # writing results to files (atomic writes, meshes, glTF, overlays)
    ("synthetic",),  # synthetic body-model files (written atomically)
    ("inference", "evaluation"),  # images in, people out; metrics and benchmark runs
    ("video", "training"),  # tracking and smoothing over inference; the training loop's helpers
)
TOP_LEVEL = {"smplest_hf", "smplest_hf.cli"}
LAYER_OF = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of every module `path` imports (relative imports resolved)."""
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            imported.add(target)
            # `from package import submodule` imports the submodule
            imported.update(f"{target}.{alias.name}" for alias in node.names)
    return imported


def _package_files(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def _sub_package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYER_OF) else None


def _violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in _package_files("smplest_hf", root):
        module = _module_name(path, root)
        own = _sub_package(module)
        for target in _imported_modules(path, root):
            top_package = target.split(".")[0]
            if top_package == "hub_datasets":
                found.append(f"{module} imports {target}: smplest_hf never imports hub_datasets")
            if top_package != "smplest_hf" or module in TOP_LEVEL:
                continue
            other = _sub_package(target)
            if other is None and target not in TOP_LEVEL:
                continue  # a module-level name of a sub-package's parent, e.g. `smplest_hf.__version__`
            if target in TOP_LEVEL or target == "smplest_hf":
                found.append(f"{module} imports {target}: only the top level may import the top level")
            elif other == own:
                continue
            elif own not in LAYER_OF or other not in LAYER_OF:
                found.append(f"{module} imports {target}: sub-package without a layer")
            elif LAYER_OF[other] >= LAYER_OF[own]:
                found.append(f"{module} ({own}) imports {target} ({other}): not a lower layer")
    return found


def test_imports_point_down_the_layers():
    assert _violations() == []


def test_every_sub_package_has_a_layer():
    sub_packages = {path.parent.name for path in (ROOT / "smplest_hf").glob("*/__init__.py")}
    assert sub_packages - {"demo_data", "demo_model"} == set(LAYER_OF)


def test_the_model_folder_imports_only_itself_by_relative_imports():
    for path in _package_files("smplest_hf/models"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name}: `from {'.' * node.level}{node.module or ''} import` leaves its folder"
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"smplest_hf", "hub_datasets"}, f"{path.name} imports {name}"


def test_hub_datasets_takes_smplx_facts_from_the_layout_module_not_the_losses():
    """SMPL-X facts (joint sets, parents, counts, genders, parameter names) come from `smplx_layout`; from the
    losses module `hub_datasets` may take only what the losses themselves define (the labels contract)."""
    from smplest_hf.models.smplest_x import smplx_layout

    facts = {name for name in dir(smplx_layout) if not name.startswith("_")}
    for path in _package_files("hub_datasets"):
        for target in _imported_modules(path):
            module, _, name = target.rpartition(".")
            if module.endswith("smplest_x.losses"):
                assert name not in facts and not re.search(r"SMPLX|PARENT|GENDER|NUM_", name), f"{path.name} imports {target}"


def test_the_checker_sees_upward_and_sideways_imports(tmp_path):
    """The layering test cannot pass vacuously: planted bad imports in a copy of the layout are each reported."""
    planted = {
        "smplest_hf/models/smplest_x/modeling.py": "from ...inference import pipeline\n",  # upward, relative
        "smplest_hf/export/results.py": "def f():\n    import smplest_hf.synthetic\n",  # sideways, lazy
        "smplest_hf/inference/pipeline.py": "from hub_datasets import schema\n",  # never hub_datasets
        "smplest_hf/video/tracking.py": "from ..models.smplest_x import geometry\n",  # allowed: downward
    }
    for name, text in planted.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    offenders = {line.split(" ")[0] for line in _violations(tmp_path)}
    assert offenders == {"smplest_hf.models.smplest_x.modeling", "smplest_hf.export.results", "smplest_hf.inference.pipeline"}
