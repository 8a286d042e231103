"""Import a script (examples/*.py, space/app.py) as a module under a name of our choosing.

Scripts are not packages, and generic file names ("app", "train") must not clash in ``sys.modules``.
"""

import importlib.util
from pathlib import Path


def load_script(path, module_name: str):
    """Execute the file at ``path`` as a fresh module called ``module_name`` and return it."""
    spec = importlib.util.spec_from_file_location(module_name, Path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
