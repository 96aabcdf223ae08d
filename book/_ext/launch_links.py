"""Launch buttons (Binder, a JupyterHub) only once the course has a real public address.

A launch link opens a chapter's notebook from the course's repository, so it is only as good as
the address in ``_config.yml`` (``repository: url:``). Until an instructor sets it, the address is
empty and this extension removes the launch menu from every page: no built page links to a
placeholder. Set the address and the menu appears, for each service named under
``launch_buttons:`` (a JupyterHub only when ``jupyterhub_url`` names one). The ``.ipynb``
download needs no address and is always there.
"""
from __future__ import annotations

from urllib.parse import urlparse

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
HOSTS = ("github.com", "gitlab.com", "bitbucket.org")  # what sphinx-book-theme builds launch links for


def _launch_only_with_an_address(app, config) -> None:
    options = config.html_theme_options
    url = (options.get("repository_url") or "").strip()
    if not url:
        options.pop("launch_buttons", None)
        LOGGER.info("launch buttons off: set repository.url in _config.yml to the course's public repository")
        return
    parts = urlparse(url)
    if parts.scheme != "https" or parts.netloc not in HOSTS or len(parts.path.strip("/").split("/")) != 2:
        raise ValueError(f"repository.url in _config.yml must be https://<{'|'.join(HOSTS)}>/<owner>/<name>, not {url!r}")


def setup(app):
    # priority below the default (500): before sphinx-book-theme reads the options
    app.connect("config-inited", _launch_only_with_an_address, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
