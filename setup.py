"""Build hook: compiles the analysis engine with mypyc where it can.

``bouncer/analysis`` is plain, typed Python. mypyc (part of mypy) compiles its modules to C
extensions that give the same answers about 1.3x faster (README, "Figures");
``scripts/check_compiled.py`` holds the compiled build to the plain one's answers. Every
other part of bouncer, and all metadata, is in ``pyproject.toml``.

``BOUNCER_COMPILE`` chooses, at install time:

- ``auto`` (the default): compile for a regular install (``pip install .``, a wheel, the
  Docker image) and fall back to plain Python, with a warning, when that fails (no C
  compiler or no Python headers). An editable install (``pip install -e .``) stays plain
  Python, so that edits to the sources take effect.
- ``1``: compile, and fail the build when that fails.
- ``0``: plain Python.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The package's entry point stays plain Python: analyse() takes whatever it is given and
# never raises, and a compiled function rejects an argument of the wrong type before its
# first line runs.
_PLAIN = {Path("bouncer/analysis/__init__.py")}


def _mode() -> str:
    mode = os.environ.get("BOUNCER_COMPILE", "auto").strip().lower() or "auto"
    if mode not in {"auto", "1", "0"}:
        sys.exit(f"BOUNCER_COMPILE={mode!r}: use auto (the default), 1 (compile or fail) or 0 (plain Python)")
    return mode


MODE = _mode()


def _fall_back(what: str, exc: BaseException) -> None:
    if MODE == "1":
        raise exc
    warnings.warn(
        f"bouncer: the analysis engine stays plain Python ({what}: {exc}); it works the same, "
        "only slower. BOUNCER_COMPILE=1 makes this an error.",
        stacklevel=2,
    )


def _analysis_extensions() -> list[Extension]:
    # setup.py also runs for pip's metadata steps (egg_info, dist_info), which build nothing
    building = any(command in sys.argv for command in ("bdist_wheel", "build", "build_ext", "install"))
    editable = "editable_wheel" in sys.argv or "develop" in sys.argv
    if MODE == "0" or not building or (MODE == "auto" and editable):
        return []
    modules = sorted(str(path) for path in Path("bouncer/analysis").rglob("*.py") if path not in _PLAIN)
    try:
        from mypyc.build import mypycify

        # --config-file= : pyproject.toml's [tool.mypy] names a plugin (pydantic's) that the
        # build environment lacks and the analysis package does not use
        return list(mypycify(["--config-file=", *modules], opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error
        _fall_back("mypyc could not translate it", exc)
        return []


class OptionalBuildExt(build_ext):
    """build_ext that leaves nothing half-built behind when the C compiler fails."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            # a compiled module without the shared library it imports would not load at all
            for output in self.get_outputs():
                Path(output).unlink(missing_ok=True)
            self.extensions = []
            _fall_back("the C compiler failed", exc)


setup(ext_modules=_analysis_extensions(), cmdclass={"build_ext": OptionalBuildExt})
