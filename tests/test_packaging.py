"""What is tested is what runs: the tests, the image and the Makefile share one set of pins."""
from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins(name: str) -> dict[str, str]:
    """``{canonical distribution name: version}`` of a ``name==version`` constraints file."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            distribution, version = line.split("==")
            found[canonicalize_name(distribution)] = version
    return found


def test_constraint_files_pin_every_entry_exactly_and_do_not_overlap():
    image, tests_only = pins("requirements.txt"), pins("requirements-test.txt")
    assert image and tests_only
    assert not set(image) & set(tests_only)
    assert "retry-lineage" not in image | tests_only


def test_the_test_environment_runs_the_pinned_versions():
    wanted = pins("requirements.txt") | pins("requirements-test.txt")
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (version, installed.get(name)) for name, version in wanted.items() if installed.get(name) != version}
    assert not wrong, f"installed versions differ from the pins (pinned, installed): {wrong}"


def test_declared_dependencies_admit_the_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = pins("requirements.txt") | pins("requirements-test.txt")
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name != "retry-lineage":
            assert name in wanted, f"{name} is not pinned"
            assert requirement.specifier.contains(wanted[name]), (text, wanted[name])


def test_dockerfile_installs_the_pins_before_the_code_and_checks_them():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    requirements_copied = lines.index("COPY requirements.txt ./")
    installed = next(i for i, line in enumerate(lines) if "pip install --no-cache-dir -r requirements.txt" in line)
    first_code = min(i for i, line in enumerate(lines) if re.match(r"COPY (pipelines|transforms|pyproject)", line))
    assert requirements_copied < installed < first_code
    assert any("pip install --no-cache-dir --no-deps ." in line for line in lines[first_code:])
    assert any("pip check" in line for line in lines[first_code:])


def test_every_image_the_dockerfile_uses_has_a_fixed_tag():
    text = (ROOT / "Dockerfile").read_text()
    images = re.findall(r"^(?:FROM\s+|COPY --from=)(\S+)", text, re.M)
    assert len(images) == 3
    for image in images:
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), image
    launcher = next(image for image in images if "template-launcher-base" in image)
    assert re.search(r":20\d{6}[_-]RC\d\d$", launcher, re.I), launcher


@pytest.mark.parametrize("target, command", [
    ("run", "pip install --quiet -c requirements.txt -c requirements-test.txt -e '.[report]'"),
    ("test", "pip install --quiet -c requirements.txt -c requirements-test.txt -e '.[test]'"),
    ("test-fast", "-m pytest -m \"not slow\""),
])
def test_make_installs_against_the_pins(target, command):
    done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True)
    assert command in done.stdout


def test_linters_are_pinned_and_in_the_test_extra():
    tests_only = pins("requirements-test.txt")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    declared = {canonicalize_name(Requirement(text).name) for text in extra}
    for tool in ("ruff", "mypy", "pyarrow-stubs"):
        assert tool in tests_only, f"{tool} is not pinned in requirements-test.txt"
        assert tool in declared, f"{tool} is not in the test extra"


def test_make_test_runs_the_linters_before_the_suite():
    done = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, check=True)
    commands = [line.strip() for line in done.stdout.splitlines()]
    order = [
        next(i for i, line in enumerate(commands) if line.endswith(suffix))
        for suffix in ("ruff format --check .", "ruff check .", "/mypy", "-m pytest")
    ]
    assert order == sorted(order), commands


def test_mypy_checks_the_package_code():
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert set(mypy["files"]) == {"transforms", "pipelines"}
    assert mypy["check_untyped_defs"] is True
    # Missing stubs are excused per module only, never globally.
    assert "ignore_missing_imports" not in mypy
    assert all(override["module"] for override in mypy.get("overrides", []))
