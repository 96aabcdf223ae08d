"""The built book and the lab, tested the way learners use them: in a real browser.

Debian's Chromium, driven by Playwright (no browser download: `make setup` installs Chromium
when CI=true). Without Chromium these tests skip, saying how to install it; with CI=true they fail.

- The book is served from _build/html on 127.0.0.1 with every other address blocked: each page
  in the table of contents (chapters and appendices) must load its images, link to its neighbours
  and only to pages and anchors that exist, and try no request outside the book; a chapter must
  also render its maths with the book's own MathJax, show figures and code and offer its .ipynb,
  and the appendix on the repository must show its diagram. A screenshot of each page's first
  screen goes to _build/screenshots/.
- The lab: JupyterLab, started as `make lab` starts it (lab/start.py, on a temporary copy of
  exercises/), opens chapter 1's exercise; running it and pressing nbgrader's Validate button
  reports a failure on the release and success once the answers are typed in. The learner's lab
  has none of the instructor's tools (Formgrader, Create Assignment, course and assignment lists),
  in the browser nor on the server (checked without Chromium too); `make instructor-lab` has them.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
import yaml

from conftest import ROOT, tool_env
from test_book import figures_shown

pytestmark = pytest.mark.slow

HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
_TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# Every page of the book in reading order: the root page, the chapters, then the appendices.
PAGES = [_TOC["root"]] + [entry["file"] for part in _TOC["parts"] for entry in part["chapters"]]
VIEWPORT = {"width": 1280, "height": 800}

INSTALL_HINT = (
    "Chromium not found: install it with `apt-get install chromium` (Debian/Ubuntu) "
    "or set CHROMIUM=/path/to/chrome; then rerun"
)


def _missing(message: str) -> None:
    """Skip, except on CI, where the set-up installs Chromium and the browser tests must run."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI=true: the browser tests must run; `make setup` installs Chromium as root)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's executable: $CHROMIUM if set, else `chromium` on PATH. (Session-scoped so that,
    without it, the tests skip before the session-scoped book build starts.)"""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        _missing(INSTALL_HINT)
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("Playwright is not installed: run `make setup` (it is in the `course` extra)")
    return path


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox does not run as root (CI) nor in most containers.
        # The resolver rule makes any address but this machine's unreachable, whatever the routing below misses.
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"],
        )
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Requests:
    """Route every request of a page: this origin passes, anything else is aborted and recorded;
    local responses with an error status are recorded too."""

    def __init__(self, page, origin: str):
        self.origin, self.blocked, self.broken = origin, [], []
        page.route("**/*", self._route)
        page.on("response", self._response)

    def _local(self, url: str) -> bool:
        parts = urlparse(url)
        return parts.scheme in ("data", "blob") or f"{parts.scheme}://{parts.netloc}" == self.origin

    def _route(self, route):
        if self._local(route.request.url):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def _response(self, response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.broken.append(f"{response.status} {response.url}")


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


# --------------------------------------------------------------------------------------------
# The book
# --------------------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book_url(chromium, book_build_log) -> str:
    """The built book, served over HTTP on 127.0.0.1 (a free port) for the module's tests."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def book_page(browser, book_url):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    requests = _Requests(page, book_url)
    yield page, requests
    context.close()


# Wait until MathJax has typeset the page (its startup promise), if the page loads MathJax.
_MATHJAX_DONE = """async () => {
    if (!document.querySelector('script[src*="mathjax"]')) return 'no MathJax';
    const deadline = Date.now() + 20000;
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
        if (Date.now() > deadline) return 'MathJax did not start';
        await new Promise(r => setTimeout(r, 50));
    }
    await MathJax.startup.promise;
    return 'typeset';
}"""

# The visible prose of the page, without code, scripts and typeset maths.
_PROSE = """() => {
    const root = document.querySelector('main') || document.body;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const parts = [];
    while (walker.nextNode()) {
        const node = walker.currentNode;
        if (!node.parentElement.closest('pre, code, script, style, mjx-container, .highlight')) parts.push(node.data);
    }
    return parts.join(' ');
}"""

# Every image, once loaded (lazy ones are asked to load now): its address and natural width.
_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(i => { i.loading = 'eager'; });
    await Promise.all(images.map(i => i.complete ? null : new Promise(r => {
        i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000); })));
    return images.map(i => [i.getAttribute('src'), i.naturalWidth]);
}"""



# Local addresses already fetched by the link check, with their text (HTML pages) or None: each is
# fetched once per session, however many pages link to it.
_FETCHED: dict[str, str | None] = {}


def _dead_links(page, book_url: str, links: list[str]) -> list[str]:
    """The page's links into the book whose target does not answer 200, or whose #anchor is not there."""
    here = page.url.partition("#")[0]
    dead = []
    for href in sorted(set(links)):
        if not href.startswith(f"{book_url}/"):
            continue
        address, _, anchor = href.partition("#")
        if address not in _FETCHED:
            response = page.request.get(address)
            html = response.ok and "html" in response.headers.get("content-type", "")
            _FETCHED[address] = response.text() if html else ("" if response.ok else None)
        if _FETCHED[address] is None:
            dead.append(href)
        elif anchor:
            anchor = unquote(anchor)
            if address == here:
                found = page.evaluate("id => document.getElementById(id) !== null", anchor)
            else:
                found = f'id="{anchor}"' in _FETCHED[address]
            if not found:
                dead.append(href)
    return dead


# Addresses no built page may link to: the placeholders this course once shipped, and any example host.
PLACEHOLDERS = ("attention-from-scratch/attention-from-scratch", "example.org", "example.com", "example.edu")


@pytest.mark.parametrize("index", range(len(PAGES)), ids=[Path(p).name for p in PAGES])
def test_book_page_in_the_browser(book_page, book_url, index):
    page, requests = book_page
    name = PAGES[index]
    is_chapter = (ROOT / f"{name}.ipynb").is_file()  # an executed notebook; the home page and appendices are Markdown
    page.goto(f"{book_url}/{name}.html", wait_until="load")

    # title
    assert CONFIG["title"] in page.title(), page.title()
    heading = page.locator("article.bd-article h1").first
    assert heading.is_visible() and heading.inner_text().strip(), "the page has no visible title"

    # maths: typeset by MathJax, no TeX left over, no TeX error
    state = page.evaluate(_MATHJAX_DONE)
    equations = page.locator("mjx-container").count()
    if is_chapter:
        assert state == "typeset", f"{state} (requests blocked: {requests.blocked})"
        assert equations > 0, "no rendered equation"
    assert page.locator("mjx-merror").count() == 0, "MathJax reports a TeX error"
    prose = page.evaluate(_PROSE)
    for raw in ("$$", "\\(", "\\[", "\\begin{"):
        assert raw not in prose, f"unrendered maths {raw!r} on the page"

    # figures: every image loaded; a chapter shows figures from its executed notebook
    images = page.evaluate(_IMAGES)
    broken = [src for src, width in images if width == 0]
    assert not broken, f"broken images: {broken}"
    if is_chapter:
        assert any("_images/" in src for src, _ in images), "no figure on the page"
        assert page.locator("div.highlight pre").count() > 0, "no code block"
    for figure, alt in figures_shown(name).items():  # the drawn diagrams (book/figures/), with their alt text
        shown = page.locator(f'img[src$="{figure}"]')
        assert [width for src, width in images if src.endswith(figure)], f"{figure} is not on the page"
        assert alt[:40] in (shown.first.get_attribute("alt") or ""), f"{figure} has no alt text saying {alt[:40]!r}"

    # prev/next navigation in reading order (the first page has no previous, the last no next)
    for selector, neighbour in (("a.left-prev", index - 1), ("a.right-next", index + 1)):
        links = page.locator(f".prev-next-area {selector}")
        if 0 <= neighbour < len(PAGES):
            assert links.count() == 1, f"no {selector} link"
            href = links.first.evaluate("a => a.href")
            assert href == f"{book_url}/{PAGES[neighbour]}.html", f"{selector} goes to {href}"
        else:
            assert links.count() == 0, f"unexpected {selector} link"

    # a notebook page offers its .ipynb (and the link works) and launch buttons built from _config.yml
    if (ROOT / f"{name}.ipynb").is_file():
        downloads = [
            href for href in page.locator("a.btn-download-source-button").evaluate_all("as => as.map(a => a.href)")
            if href.endswith(".ipynb")
        ]
        assert downloads, "no .ipynb download link"
        response = page.request.get(downloads[0])
        assert response.ok, f"{response.status} {downloads[0]}"
        assert nbformat.reads(response.text(), as_version=4).cells, "the downloaded notebook is empty"

        # launch buttons need the course's public address (book/_ext/launch_links.py): with
        # _config.yml's repository.url empty, as committed, there is no launch menu at all
        menus = page.locator(".dropdown-launch-buttons").count()
        assert menus == (1 if CONFIG["repository"]["url"] else 0), f"{menus} launch menus, repository.url {CONFIG['repository']['url']!r}"

    links = page.locator("a[href]").evaluate_all("as => as.map(a => a.href)")
    placeholders = [href for href in links if any(p in href for p in PLACEHOLDERS)]
    assert not placeholders, f"links to placeholder addresses: {placeholders}"
    dead = _dead_links(page, book_url, links)
    assert not dead, f"links to pages or anchors that do not exist: {dead}"

    _screenshot(page, Path(name).name)
    assert not requests.blocked, f"the page tried to load from outside the book: {requests.blocked}"
    assert not requests.broken, f"missing local resources: {requests.broken}"


def test_search_finds_softmax(book_page, book_url):
    page, requests = book_page
    page.goto(f"{book_url}/search.html?q=softmax", wait_until="load")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for()
    titles = results.evaluate_all("lis => lis.map(li => li.querySelector('a').getAttribute('href'))")
    assert any("04_softmax" in href for href in titles), titles
    _screenshot(page, "search")
    assert not requests.blocked, f"the page tried to load from outside the book: {requests.blocked}"
    assert not requests.broken, f"missing local resources: {requests.broken}"


# --------------------------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------------------------

LAB_CHAPTER = "01_embeddings"
NOTEBOOK = f"{LAB_CHAPTER}/{LAB_CHAPTER}.ipynb"
WRITTEN_ANSWER = (
    "Distinct one-hot vectors never share a non-zero position, so every pair of different words has "
    "cosine 0 and each word has cosine 1 with itself: one-hot vectors say nothing about which words are alike."
)


LAB_START = ROOT / "lab" / "start.py"  # what `make lab` and `make instructor-lab` run
# nbgrader's lab plugins that the learner's lab leaves out (lab/learner/labconfig/page_config.json),
# with the line each logs in the browser's console when it starts; Validate is the one kept.
INSTRUCTOR_PLUGINS = {
    "@jupyter/nbgrader:menu": None,  # the Nbgrader menu: it held only the tools below
    "@jupyter/nbgrader:formgrader": "JupyterLab extension formgrader is activated!",
    "@jupyter/nbgrader:create-assignment": 'Extension "create_assignment" activated.',
    "@jupyter/nbgrader:course-list": "JupyterLab extension course-list is activated!",
    "@jupyter/nbgrader:assignment-list": "JupyterLab extension assignment-list is activated!",
}
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
VALIDATE_STARTED = "JupyterLab extension validate-assignment is activated!"
# Addresses of nbgrader's server extensions: formgrader, course_list, assignment_list; validate_assignment.
INSTRUCTOR_ADDRESSES = ("/formgrader", "/formgraders", "/assignments", "/courses")
VALIDATE_ADDRESS = "/nbgrader_version?version="


@contextmanager
def _started_lab(role: str, course: Path, notebook_dir: str):
    """JupyterLab for `role` as lab/start.py starts it (from the course root, which holds
    nbgrader_config.py), on a free port of 127.0.0.1 without a token; yields its address."""
    # Keep JupyterLab's state out of the home directory, and its news question out of the way
    # (answering it would make the lab fetch a feed).
    settings = course / ".lab" / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = tool_env() | {
        "JUPYTER_RUNTIME_DIR": str(course / ".lab" / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(course / ".lab" / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(course / ".lab" / "workspaces"),
    }
    port = _free_port()
    # lab/start.py replaces itself with the server (exec), so terminate() below reaches the server
    command = [
        sys.executable, str(LAB_START), role, f"--notebook-dir={notebook_dir}", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=",
    ]
    log = open(course / f"{role}-lab.log", "w+")
    server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"JupyterLab ({role}) did not start:\n{log.read()[-4000:]}")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """The learner's JupyterLab on a temporary copy of the release, started as `make lab` starts it
    (lab/start.py learner, from the course root, on the learner's folder); stopped at the end."""
    course = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "exercises", course / "my_work")
    with _started_lab("learner", course, "my_work") as url:
        yield url, course


@pytest.fixture(scope="module")
def lab(chromium, lab_server):
    """The learner's lab, for the tests that need Chromium."""
    return lab_server


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _page_config(url: str) -> dict:
    """The page config the lab's HTML page gives the browser (disabled plugins included)."""
    with urllib.request.urlopen(f"{url}/lab", timeout=30) as response:
        html = response.read().decode()
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert data, "no page config in the lab's page"
    return json.loads(data.group(1))


def test_learner_lab_serves_no_instructor_tools(lab_server):
    """Without a browser: nbgrader's instructor server extensions are not loaded (their addresses
    are 404) while Validate's is; the page tells the browser to skip the instructor's plugins,
    and those plugins are still the ones nbgrader ships (a renamed plugin would slip through)."""
    url, _ = lab_server
    served = {address: _status(url + address) for address in INSTRUCTOR_ADDRESSES}
    assert served == {address: 404 for address in INSTRUCTOR_ADDRESSES}, served
    assert _status(url + VALIDATE_ADDRESS) == 200, "Validate's server extension is not loaded"

    config = _page_config(url)
    assert set(config["disabledExtensions"]) == set(INSTRUCTOR_PLUGINS), config["disabledExtensions"]
    assert VALIDATE_PLUGIN not in config["disabledExtensions"]
    bundle = Path(sys.prefix, "share", "jupyter", "labextensions", "@jupyter", "nbgrader", "static")
    shipped = "".join(path.read_text(errors="replace") for path in bundle.glob("*.js"))
    missing = [plugin for plugin in [*INSTRUCTOR_PLUGINS, VALIDATE_PLUGIN] if f'"{plugin}"' not in shipped]
    assert not missing, f"nbgrader's lab extension ({bundle}) has no plugin {missing}"


def test_instructor_lab_has_every_nbgrader_tool(tmp_path):
    """`make instructor-lab` (lab/start.py instructor) loads the Formgrader and disables no plugin."""
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with _started_lab("instructor", tmp_path, ".") as url:
        assert _status(f"{url}/formgrader") == 200, "the Formgrader is not served"
        assert _status(url + VALIDATE_ADDRESS) == 200
        disabled = [plugin for plugin in _page_config(url)["disabledExtensions"] if "nbgrader" in plugin]
        assert not disabled, disabled


# Wait for "Run All Cells" to finish: nothing queued or running, and either an error shown
# (expect_error) or every non-empty code cell run in this round (execution count above `after`).
_RUN_ALL_DONE = """([after, expectError]) => {
    const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-CodeCell'));
    const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt')?.textContent || '').trim());
    if (cells.length === 0 || prompts.some(p => p.includes('*'))) return false;
    if (expectError) return document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
    return cells.every((c, i) => {
        if (!(c.querySelector('.cm-content')?.textContent || '').trim()) return true;  // empty cells are not run
        const m = prompts[i].match(/^\\[(\\d+)\\]:$/);
        return m !== null && Number(m[1]) > after;
    });
}"""
_LAST_COUNT = """() => Math.max(0, ...Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt'))
    .map(p => Number((p.textContent.match(/\\d+/) || ['0'])[0])))"""


def _run_all(page, expect_error: bool) -> None:
    after = page.evaluate(_LAST_COUNT)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(_RUN_ALL_DONE, arg=[after, expect_error], timeout=180_000)


def _validate(page, screenshot: str) -> tuple[str, str]:
    """Press nbgrader's Validate button (it saves, then validates on the server); return the
    verdict's CSS class and text, and close the dialog."""
    page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(timeout=180_000)
    assert page.locator(".jp-Dialog .jp-Dialog-header").inner_text().strip() == "Validation Results"
    verdict = (message.get_attribute("class") or "", message.inner_text())
    _screenshot(page, screenshot)
    page.locator(".jp-Dialog button.jp-mod-accept").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
    return verdict


def _answers() -> dict[str, str]:
    """The solutions' code answers by nbgrader grade_id, as a learner would type them (no markers)."""
    solutions = nbformat.read(ROOT / "solutions" / NOTEBOOK, as_version=4)
    return {
        cell.metadata.nbgrader["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
        )
        for cell in solutions.cells
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
    }


def _type_into(page, cell, text: str) -> None:
    """Replace a cell's text as a learner does: click into its editor, select all, type."""
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def _open_command_palette(page, listed) -> None:
    """View > Activate Command Palette, until ``listed`` (an item of the palette) is there. In one
    full run the item never appeared within 60 s of the click, and the same tree passed on a rerun:
    a click that opens nothing is retried (twice), a palette that never lists the item still fails."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(3):
        page.get_by_role("menuitem", name="View", exact=True).click()
        page.locator('.lm-Menu-item[data-command="apputils:activate-command-palette"]').click()
        try:
            listed.wait_for(state="attached", timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                _screenshot(page, "command_palette_missing")
                raise
            page.keyboard.press("Escape")  # a menu left open, or a palette still filling


def _no_instructor_tools(page, console: list[str]) -> None:
    """The learner's lab shows none of nbgrader's instructor tools: no Nbgrader menu, no Create
    Assignment sidebar, no nbgrader command in the command palette, and of nbgrader's plugins only
    Validate started (each logs a line when it starts; by the time a notebook is open, every plugin
    has started)."""
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert "Run" in menus and "Nbgrader" not in menus, menus
    assert page.locator("#nbgrader-create_assignemnt").count() == 0, "the Create Assignment sidebar is there"
    assert page.locator(".jp-SideBar .lm-TabBar-tab", has_text="Create Assignment").count() == 0
    started = [line for line in INSTRUCTOR_PLUGINS.values() if line in console]
    assert VALIDATE_STARTED in console and not started, (started, console)
    # the command palette lists every command at once when it opens (in the instructor's lab:
    # nbgrader:open-assignment-list, -course-list, -create-assignment, -formgrader)
    items = page.locator(".lm-CommandPalette .lm-CommandPalette-item")
    _open_command_palette(page, items.and_(page.locator('[data-command="notebook:run-all-cells"]')))
    nbgrader = items.and_(page.locator('[data-command^="nbgrader:"]')).evaluate_all("items => items.map(i => i.dataset.command)")
    assert not nbgrader, f"nbgrader commands in the palette: {nbgrader}"
    page.keyboard.press("Escape")
    page.locator(".lm-CommandPalette").wait_for(state="hidden")


def test_lab_validate_fails_on_the_release_and_passes_once_solved(browser, lab):
    from playwright.sync_api import expect

    url, course = lab
    release = nbformat.read(course / "my_work" / NOTEBOOK, as_version=4)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(60_000)
    requests = _Requests(page, url)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(f"{url}/lab/tree/{NOTEBOOK}")
        # the notebook is open and every cell attached; nbgrader's Validate button is there
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        cells.nth(len(release.cells) - 1).wait_for(state="attached")
        assert cells.count() == len(release.cells)
        assert page.locator(".jp-NotebookPanel-toolbar .validate-button").inner_text().strip() == "Validate"
        page.locator(".jp-NotebookPanel-toolbar .jp-KernelName", has_text="Python 3").wait_for()
        _no_instructor_tools(page, console)

        # the release: running it stops at the first stub; Validate reports the failure
        _run_all(page, expect_error=True)
        error = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').first
        assert "NotImplementedError" in error.text_content()
        css, text = _validate(page, "lab_validate_release")
        assert "validation-failed" in css.split(), (css, text)
        assert "The following cell failed:" in text and "NotImplementedError" in text, text

        # the learner types the answers in (the cells where the release says YOUR CODE/ANSWER HERE)
        # (cells are found by position: JupyterLab skips rendering the cells out of view)
        answers = _answers()
        for position, cell_nb in enumerate(release.cells):
            grade_id = cell_nb.metadata.get("nbgrader", {}).get("grade_id")
            cell = cells.nth(position)
            if cell_nb.cell_type == "code" and grade_id in answers:
                cell.scroll_into_view_if_needed()
                expect(cell).to_contain_text("YOUR CODE HERE")
                _type_into(page, cell, answers[grade_id])
            elif cell_nb.cell_type == "markdown" and cell_nb.metadata.get("nbgrader", {}).get("solution"):
                cell.scroll_into_view_if_needed()
                expect(cell).to_contain_text("YOUR ANSWER HERE")
                cell.dblclick()  # a rendered Markdown cell opens its editor on double click
                _type_into(page, cell, WRITTEN_ANSWER)
                page.keyboard.press("Control+Enter")  # render it

        _run_all(page, expect_error=False)
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        assert errors.count() == 0, errors.first.text_content()
        css, text = _validate(page, "lab_validate_solved")
        assert "validation-success" in css.split(), (css, text)
        assert "Success! Your notebook passes all the tests." in text, text

        # Validate saved what was typed
        saved = {
            c.metadata.nbgrader["grade_id"]: c.source
            for c in nbformat.read(course / "my_work" / NOTEBOOK, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("solution")
        }
        written_id = next(
            c.metadata.nbgrader["grade_id"]
            for c in release.cells
            if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
        )
        assert {k: saved[k] for k in answers} == answers
        assert saved[written_id] == WRITTEN_ANSWER
        assert not requests.blocked, f"the lab tried to load from outside this machine: {requests.blocked}"
    finally:
        context.close()
