"""The built documentation as a reader sees it: every page opened in headless Chromium with no network.

Each page's DOM is dumped after MathJax has run (``--dump-dom`` with a virtual-time budget, so the page's
scripts and fonts load and typeset before the dump). Checks:

* MathJax is served by the site itself (a local ``_static`` path that exists), never from a CDN; the browser
  runs with every host unresolvable and a dead proxy, so a page that needed the network would fail here;
* every math element of the built HTML is typeset: at least as many ``mjx-container`` elements as the page
  has math, and no raw ``\\(``, ``\\[`` or ``$$`` left in the text outside code;
* the navigation (header, sidebars, breadcrumbs) and the page title show no raw LaTeX;
* screenshots of the landing page, the tutorial and one results page go to ``docs/_build/screenshots/``.

Chromium from Debian (``apt-get install chromium``; CI installs it in .ci/run). Without it the tests skip,
unless ABCSCALE_REQUIRE_BROWSER=1 (CI sets it), where they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "_build" / "screenshots"
SHOTS = {"landing": "index.html", "tutorial": "getting_started.html", "results": "results/haas.html"}
# generated pages without content of their own
SKIP = {"genindex.html", "search.html", "py-modindex.html"}
MATH = re.compile(r'<(?:span|div) class="math[ "]')
RAW = ("\\(", "\\)", "\\[", "\\]", "$$")


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


CHROMIUM = _browser()
if CHROMIUM is None:
    if os.environ.get("ABCSCALE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("ABCSCALE_REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
    pytest.skip("headless Chromium is not installed (apt-get install chromium); CI runs these tests",
                allow_module_level=True)


def _chromium(url: str, *action: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` offline: no host resolves and the proxy is a closed port."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-extensions", "--disable-background-networking",
             f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
             "--virtual-time-budget=10000", "--run-all-compositor-stages-before-draw", *action, url],
            capture_output=True, text=True, timeout=120, check=False)


class _Page(HTMLParser):
    """Counts typeset math and collects text outside code, in the navigation and in the title."""

    CODE = {"pre", "code", "script", "style", "textarea"}
    NAV_CLASSES = ("bd-header", "bd-sidebar", "bd-toc", "bd-breadcrumbs", "prev-next", "navbar")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.typeset = 0
        self.text: list[str] = []
        self.nav: list[str] = []
        self.title: list[str] = []
        self._stack: list[tuple[str, bool, bool, bool]] = []  # tag, in code, in nav, in title

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "mjx-container":
            self.typeset += 1
        classes = dict(attrs).get("class") or ""
        code, nav, title = self._stack[-1][1:] if self._stack else (False, False, False)
        code = code or tag in self.CODE
        nav = nav or tag == "nav" or any(name in classes for name in self.NAV_CLASSES)
        title = title or tag == "title"
        if tag not in {"br", "img", "meta", "link", "input", "hr", "source", "wbr"}:
            self._stack.append((tag, code, nav, title))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        code, nav, title = self._stack[-1][1:] if self._stack else (False, False, False)
        if title:
            self.title.append(data)
        if nav:
            self.nav.append(data)
        if not code:
            self.text.append(data)


def _pages(built: Path) -> list[Path]:
    return sorted(p for p in built.rglob("*.html")
                  if p.name not in SKIP and not {"_static", "_sources", "_modules"} & set(p.relative_to(built).parts))


@pytest.fixture(scope="module")
def rendered(built: Path) -> dict[str, tuple[str, str]]:
    """Every page: (its HTML as built, its DOM after Chromium ran its scripts), two browsers at a time."""
    pages = _pages(built)

    def dump(page: Path) -> tuple[str, str]:
        done = _chromium(page.as_uri(), "--dump-dom")
        assert done.returncode == 0 and "</html>" in done.stdout, (page, done.stderr[-2000:])
        return page.read_text(encoding="utf-8"), done.stdout

    with ThreadPoolExecutor(max_workers=2) as pool:
        dumps = list(pool.map(dump, pages))
    return {str(page.relative_to(built)): pair for page, pair in zip(pages, dumps, strict=True)}


@pytest.mark.slow
def test_mathjax_is_served_by_the_site(built: Path) -> None:
    for page in _pages(built):
        sources = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page.read_text(encoding="utf-8"), re.I)
        for src in sources:
            assert not re.match(r"(https?:)?//", src), f"{page.name} loads MathJax from the network: {src}"
            assert (page.parent / src).resolve().is_file(), f"{page.name}: {src} is not in the built site"
    index = (built / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]*src="_static/mathjax/tex-chtml\.js"', index), "MathJax is not loaded locally"


@pytest.mark.slow
def test_every_page_with_math_is_typeset_offline(rendered: dict[str, tuple[str, str]]) -> None:
    with_math = 0
    for name, (source, dom) in rendered.items():
        expected = len(MATH.findall(source))
        page = _Page()
        page.feed(dom)
        text = "".join(page.text)
        raw = [token for token in RAW if token in text]
        assert not raw, f"{name}: raw LaTeX {raw} in the rendered text: ...{text[text.find(raw[0]) - 80:][:200]}..."
        assert page.typeset >= expected, f"{name}: {expected} math elements, {page.typeset} typeset by MathJax"
        with_math += expected > 0
    assert with_math >= 15, f"only {with_math} pages with math: did the build lose its formulas?"


@pytest.mark.slow
def test_navigation_and_titles_show_no_raw_latex(rendered: dict[str, tuple[str, str]]) -> None:
    for name, (_, dom) in rendered.items():
        page = _Page()
        page.feed(dom)
        nav, title = " ".join(page.nav), " ".join(page.title)
        assert nav.strip(), f"{name}: no navigation found"
        for where, text in (("navigation", nav), ("title", title)):
            bad = [token for token in ("\\", "$", "^{", "_{") if token in text]
            assert not bad, f"{name}: raw LaTeX {bad} in the {where}: {' '.join(text.split())[:300]}"


@pytest.mark.slow
def test_screenshots_of_the_landing_page_the_tutorial_and_a_results_page(built: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, page in SHOTS.items():
        shot = SCREENSHOTS / f"{name}.png"
        shot.unlink(missing_ok=True)
        done = _chromium((built / page).as_uri(), f"--screenshot={shot}", "--window-size=1600,1400")
        assert done.returncode == 0 and shot.is_file(), (page, done.stderr[-2000:])
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000, shot
