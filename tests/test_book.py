"""The HTML book builds with no warning, and every chapter page has its maths, its figures
and the course_lib code it shows; the appendices are in the book, the README stays short and
points at them, and every diagram in book/figures/ is what its script draws and has alt text."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

HTML = ROOT / "_build" / "html"
_PARTS = yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
# The chapters: the numbered part, executed notebooks. The appendices: Markdown pages, never executed.
TOC_FILES = [entry["file"] for part in _PARTS if part.get("numbered") for entry in part["chapters"]]
APPENDIX = [entry["file"] for part in _PARTS if not part.get("numbered") for entry in part["chapters"]]
README_LIMIT = 6 * 1024  # bytes: what the course is, the two commands, where to start reading
# A function each chapter shows from course_lib (read from the package at build time).
SHOWN_CODE = {
    "book/01_embeddings": "def one_hot(",
    "book/02_qkv": "def project_qkv(",
    "book/03_scores": "def scaled_attention_scores(",
    "book/04_softmax": "def scaled_dot_product_attention(",
    "book/05_masking": "def causal_mask(",
    "book/06_multi_head": "def split_heads(",
    "book/07_positional": "def sinusoidal_positional_encoding(",
    "book/08_transformer": "def layer_norm(",
    "book/09_training": "def warmup_inverse_sqrt_lr(",
    "book/10_pretrained": "def additive_attention_mask(",
    "book/11_classification": "def attention_pool(",
    "book/12_modern_attention": "def grouped_query_attention(",
    "book/13_huggingface": "def to_transformers(",
}


@pytest.fixture(scope="module")
def build_log(book_build_log) -> str:
    """The log of `make book`, run once per pytest session (conftest.py; tests/test_browser.py shares it)."""
    return book_build_log


@pytest.mark.slow
def test_book_builds_without_warnings(build_log):
    # Sphinx's own messages ("file:line: WARNING: ..."); the kernel's "WARNING |" lines on stderr are not build warnings.
    warnings = [line for line in build_log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL):", line)]
    assert not warnings, "\n".join(warnings)
    assert (HTML / "index.html").is_file()


@pytest.mark.slow
def test_every_chapter_is_in_the_toc_and_built():
    chapters = sorted(p.stem for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
    assert [f"book/{c}" for c in chapters] == TOC_FILES
    assert set(SHOWN_CODE) == set(TOC_FILES)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", TOC_FILES)
def test_chapter_page_has_maths_figures_code_and_no_errors(build_log, chapter):
    page = (HTML / f"{chapter}.html").read_text()
    assert page.count('class="math') >= 3, "maths is missing"
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    figures = [src for src in images if "_images/" in src]
    assert figures, "no figure on the page"
    for src in figures:
        assert (HTML / chapter).parent.joinpath(src).resolve().is_file(), f"broken image {src}"
    assert SHOWN_CODE[chapter] in re.sub(r"<[^>]+>", "", page), "the course_lib code listing is missing"
    assert "Pitfalls" in page
    for bad in ("Traceback", "output traceback", "NotImplementedError"):
        assert bad not in page, f"{bad} on the page: a cell failed"


@pytest.mark.slow
def test_a_failing_cell_fails_the_book_build(tmp_path):
    """nbval executes the solution notebooks; the book's are executed once, by the book build
    itself, so a cell that raises must fail that build (the book's own settings and flags)."""
    import shutil
    import subprocess

    import nbformat

    from conftest import plain_commands, tool_env

    shutil.copy(ROOT / "_config.yml", tmp_path)
    shutil.copytree(ROOT / "book" / "_ext", tmp_path / "book" / "_ext")
    (tmp_path / "book" / "index.md").write_text("# A book\n\n```{tableofcontents}\n```\n")
    cells = [nbformat.v4.new_markdown_cell("# Broken"), nbformat.v4.new_code_cell("1 / 0")]
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, tmp_path / "book" / "broken.ipynb")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/index\nchapters:\n  - file: book/broken\n")
    command = next(c for c in plain_commands() if c.startswith("jupyter-book build")).split()
    build = subprocess.run([*command[:2], str(tmp_path), *command[3:]], env=tool_env(), capture_output=True, text=True, timeout=300)
    log = build.stdout + build.stderr
    assert build.returncode != 0, log[-3000:]
    assert "ZeroDivisionError" in log or "Executing notebook failed" in log, log[-3000:]


@pytest.mark.parametrize("chapter", TOC_FILES)
def test_book_notebooks_are_committed_without_outputs(chapter):
    import nbformat

    nb = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "clear the outputs before committing"


def test_a_changed_benchmark_result_that_a_chapter_shows_executes_the_book_again():
    """`make book` reuses executed notebooks until course_lib or a result file they read changes
    (COURSE_LIB_HASH in the Makefile); a benchmark file a chapter reads but the hash leaves out
    would leave that page showing old results."""
    import nbformat

    read = set()
    for chapter in TOC_FILES:
        code = "\n".join(c.source for c in nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4).cells
                         if c.cell_type == "code")
        read |= set(re.findall(r"\.\./(benchmarks/[\w.-]+\.json)", code))
    hashed = re.search(r"^COURSE_LIB_HASH = (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert read, "no chapter reads a benchmark file: update this test"
    missing = sorted(path for path in read if path not in hashed.split())
    assert not missing, f"chapters read {missing}, which COURSE_LIB_HASH in the Makefile does not hash"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", TOC_FILES)
def test_maths_is_rendered_by_the_books_own_mathjax(build_log, chapter):
    """No CDN: the page loads MathJax from the built book (book/_ext/offline_mathjax.py)."""
    page = (HTML / f"{chapter}.html").read_text()
    sources = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page, flags=re.I)
    # (a rebuild adds a ?v=checksum query to the address)
    assert [src.split("?")[0] for src in sources] == ["../_static/mathjax/tex-chtml.js"], sources
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert (HTML / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert "cdn.jsdelivr.net" not in page


def _launch_options(url: str):
    import sys
    from types import SimpleNamespace

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    try:
        from launch_links import _launch_only_with_an_address
    finally:
        sys.path.pop(0)
    config = SimpleNamespace(html_theme_options={"repository_url": url, "launch_buttons": {"binderhub_url": "https://mybinder.org"}})
    _launch_only_with_an_address(None, config)
    return config.html_theme_options


def test_launch_buttons_appear_only_with_a_real_repository_address():
    assert "launch_buttons" not in _launch_options("")
    assert _launch_options("https://github.com/someone/attention-course")["launch_buttons"]
    for bad in ("github.com/someone/course", "https://example.org/course", "https://github.com/someone"):
        with pytest.raises(ValueError, match="repository.url"):
            _launch_options(bad)


def test_the_appendices_are_markdown_pages_in_the_book():
    assert [Path(name).name for name in APPENDIX] == ["learners", "setup", "instructors", "repository"]
    for name in APPENDIX:
        source = (ROOT / f"{name}.md").read_text()
        assert source.startswith("# "), f"{name}.md does not start with its title"
        assert not (ROOT / f"{name}.ipynb").exists()


def test_readme_is_short_and_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= README_LIMIT, f"README.md is {len(readme)} bytes, more than {README_LIMIT}: move details to book/"
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", readme.decode())
    local = [t for t in targets if "://" not in t]
    assert {f"{name}.md" for name in APPENDIX} | {"benchmarks/RESULTS.md"} <= set(local), local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


DIAGRAMS = sorted(p for p in (ROOT / "book" / "figures").glob("*.py") if not p.name.startswith("_"))
# A figure a page shows from book/figures/, with its alt text (a MyST figure directive and its options).
FIGURE_DIRECTIVE = re.compile(r"```\{figure\} figures/([\w-]+\.svg)\n((?::[\w-]+:.*\n)*)")


def figures_shown(page: str) -> dict[str, str]:
    """The diagrams of book/figures/ that a page (book/<name>.md or .ipynb) shows: file name -> alt text."""
    path = ROOT / f"{page}.ipynb"
    if path.is_file():
        import nbformat

        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    else:
        text = (ROOT / f"{page}.md").read_text()
    found = {}
    for name, options in FIGURE_DIRECTIVE.findall(text + "\n"):
        alt = re.search(r"^:alt: (.*)$", options, re.M)
        found[name] = alt.group(1).strip() if alt else ""
    return found


@pytest.mark.parametrize("script", DIAGRAMS, ids=[p.stem for p in DIAGRAMS])
def test_every_diagram_is_what_its_script_draws(script):
    """book/figures/<name>.svg is committed; after changing <name>.py, run `python book/figures/<name>.py`."""
    import importlib.util
    import xml.etree.ElementTree as ET

    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    drawn = module.draw()
    assert ET.fromstring(drawn).tag == "{http://www.w3.org/2000/svg}svg"
    assert script.with_suffix(".svg").read_text(encoding="utf-8") == drawn, (
        f"book/figures/{script.stem}.svg is not what its script draws: run `python book/figures/{script.name}`"
    )
    shown_on = [page for page in TOC_FILES + APPENDIX if f"{script.stem}.svg" in figures_shown(page)]
    assert shown_on, f"no page shows book/figures/{script.stem}.svg"


@pytest.mark.parametrize("page", TOC_FILES + APPENDIX)
def test_every_shown_diagram_exists_and_has_alt_text(page):
    for name, alt in figures_shown(page).items():
        assert (ROOT / "book" / "figures" / name).is_file(), f"{page} shows figures/{name}, which does not exist"
        assert len(alt) >= 40, f"{page}: figures/{name} needs an :alt: that says what it shows (40+ characters)"


def test_every_chapter_has_a_drawn_diagram():
    """Issue 20: a diagram of each mechanism, not only plots of numbers."""
    without = [page for page in TOC_FILES if not figures_shown(page)]
    assert not without, f"chapters without a diagram from book/figures/: {without}"


@pytest.mark.slow
@pytest.mark.parametrize("page", APPENDIX)
def test_appendix_page_is_built(build_log, page):
    html = (HTML / f"{page}.html").read_text()
    title = (ROOT / f"{page}.md").read_text().splitlines()[0].removeprefix("# ")
    headings = [re.sub(r"<[^>]+>", "", h).replace("#", "").strip() for h in re.findall(r"<h1>(.*?)</h1>", html, re.S)]
    assert title in headings, headings
    if page == "book/repository":
        images = re.findall(r'<img[^>]+src="([^"]+)"[^>]*>', html)
        diagram = [src for src in images if src.endswith("flows.svg")]
        assert diagram and (HTML / page).parent.joinpath(diagram[0]).resolve().is_file(), images
        tag = next(tag for tag in re.findall(r"<img[^>]+>", html) if "flows.svg" in tag)
        assert re.search(r'alt="[^"]{40,}"', tag), f"the diagram has no alt text: {tag}"
