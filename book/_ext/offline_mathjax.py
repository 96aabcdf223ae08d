"""Serve MathJax from the built book itself, so the maths renders with no network.

Sphinx loads MathJax from a CDN by default. The pinned PyPI package
``django-static-mathjax`` ships MathJax 3.2.2's browser files (it needs no Django to
install); this extension copies its ``es5`` folder into the built book's
``_static/mathjax/`` and points Sphinx's ``mathjax_path`` at it. It is copied, not
declared as a static source folder, on purpose: Jupyter Book adds every ``.js`` file
of a source ``_static`` folder to every page, and MathJax has dozens.
"""
from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

TARGET = "mathjax"  # folder inside the HTML output's _static/
ENTRY = "tex-chtml.js"  # TeX input, CommonHTML output: all the book needs


def _source() -> Path:
    return Path(str(files("mathjax") / "static" / "mathjax" / "es5"))


def _set_path(app, config) -> None:
    # A relative mathjax_path is relative to _static/, and each page links it with the
    # right number of "../", however deep the page is.
    config.mathjax_path = f"{TARGET}/{ENTRY}"


def _copy(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(_source(), Path(app.outdir) / "_static" / TARGET, dirs_exist_ok=True)


def setup(app):
    if not (_source() / ENTRY).is_file():
        raise RuntimeError(f"MathJax not found at {_source()}: install the pinned django-static-mathjax")
    app.connect("config-inited", _set_path)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
