"""app/streams/ is the generic machinery: features use it, it uses no feature."""

import ast
from pathlib import Path

import app

APP = Path(app.__file__).parent
FEATURES = {p.name for p in APP.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_app_streams_imports_a_feature_package() -> None:
    assert "clicks" in FEATURES
    assert "attribution" in FEATURES
    found = {
        (path.name, name)
        for path in sorted((APP / "streams").glob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[:1] == ["app"]
        and len(name.split(".")) > 1
        and name.split(".")[1] in FEATURES - {"streams"}
    }
    assert found == set()
