"""Real-browser test helpers: Debian chromium driven by Playwright, network blocked.

Fixtures (registered for the whole suite by ``tests/conftest.py``):

- ``browser``: one headless chromium per test module.  Fails (never skips)
  when ``chromium`` is not on PATH: ``.ci/run`` installs Debian's package.
  ``playwright install`` is never needed (the system binary is launched).
- ``browser_page``: a fresh :class:`OfflinePage` per test (1200 x 900
  viewport) that records console errors, page errors and every request that
  is not ``file:``/``data:``/``blob:``/``about:`` (those are aborted).  Allow
  a local server with ``browser_page.allow("http://127.0.0.1:8000/")``.

Usage::

    def test_map(browser_page, tmp_path):
        bp = browser_page
        bp.goto(tmp_path / "map.html")
        bp.assert_clean()          # no console error, nothing blocked
        bp.screenshot(tmp_path / "map.png")
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
VIEWPORT = {"width": 1200, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium (Playwright); fails when chromium is missing.

    Module-scoped: Playwright's sync API cannot run two instances at once, so
    each test module starts (about 1 s) and stops its own, and a module that
    drives Playwright itself never finds one still running.
    """
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "chromium is missing: the browser tests need Debian's chromium on PATH "
            "(apt-get install chromium; .ci/run installs it)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class OfflinePage:
    """A Playwright page that blocks the network and records what went wrong.

    Attributes
    ----------
    page : playwright.sync_api.Page
    console_errors : list of str
        ``console.error`` messages and uncaught exceptions.
    blocked : list of str
        URLs the page tried to fetch that are neither local nor allowed.
    """

    def __init__(self, context: Any) -> None:
        self.context = context
        self.page = context.new_page()
        self.console_errors: list[str] = []
        self.blocked: list[str] = []
        self.allowed: list[str] = []
        self.page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        self.page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES) or any(url.startswith(a) for a in self.allowed):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def allow(self, prefix: str) -> None:
        """Let requests starting with ``prefix`` through (e.g. a local test server)."""
        self.allowed.append(prefix)

    def goto(self, target: str | Path, *, wait_until: str = "load") -> None:
        """Open a file path or URL and wait for the load event."""
        url = Path(target).resolve().as_uri() if isinstance(target, Path) else target
        self.page.goto(url, wait_until=wait_until)

    def assert_clean(self) -> None:
        """No console error and no blocked (remote) request so far."""
        assert not self.blocked, f"page tried to reach the network: {self.blocked[:5]}"
        assert not self.console_errors, f"console errors: {self.console_errors[:5]}"

    def screenshot(self, path: Path, **kwargs: Any) -> np.ndarray:
        """Save a PNG screenshot and return it as an RGB array (rows, cols, 3)."""
        from PIL import Image

        self.page.screenshot(path=str(path), **kwargs)
        return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def browser_page(browser: Any) -> Iterator[OfflinePage]:
    """A fresh offline page (own context) per test; closed afterwards."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    try:
        yield OfflinePage(context)
    finally:
        context.close()


def distinct_colours(pixels: np.ndarray) -> int:
    """Number of distinct RGB colours in an image array."""
    flat = pixels.reshape(-1, pixels.shape[-1]).astype(np.uint32)
    return int(np.unique((flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]).size)


# --------------------------------------------------------------------------- Leaflet pages

#: JS: the name of the global ``L.Map`` (folium names it ``map_<hex>``), or null.
FIND_MAP_JS = """() => {
    for (const k of Object.keys(window)) {
        try { if (window[k] instanceof L.Map) { return k; } } catch (e) {}
    }
    return null;
}"""


def leaflet_map_name(page: Any) -> str:
    """Global variable name of the page's Leaflet map (fails when there is none)."""
    name = page.evaluate(FIND_MAP_JS)
    assert name, "no Leaflet map on the page"
    return name


def overlays(page: Any) -> list[tuple[str, bool]]:
    """``(label text, checked)`` of each overlay in the Leaflet layer control."""
    return page.eval_on_selector_all(
        ".leaflet-control-layers-overlays label",
        "els => els.map(e => [e.innerText.trim(), e.querySelector('input').checked])",
    )


def overlay_checkbox(page: Any, label: str) -> Any:
    """The checkbox of the overlay whose label text contains ``label``."""
    loc = page.locator(".leaflet-control-layers-overlays label", has_text=label)
    assert loc.count() == 1, f"{loc.count()} overlays match {label!r}: {overlays(page)}"
    return loc.locator("input")


def wait_for_images(page: Any) -> None:
    """Wait until every ``<img>`` (e.g. Leaflet image overlays) has decoded."""
    page.wait_for_function(
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
    )
