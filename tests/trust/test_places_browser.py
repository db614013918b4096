"""The map pages in a real browser at phone size (Chromium, 390x844, DPR 2), both languages, with and
without a tile server: the built-in SVG map (labelled, 48 px markers), and Leaflet over a local tile
server (a tiny HTTP server on 127.0.0.1 serving PNG tiles) with the CSP naming only that host.
The phone's position: granted to the page, rounded to 0.01 degree before it leaves the browser."""

from __future__ import annotations

import io
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from miniapp.proofs import generate_key
from tests.miniapp.places_fixture import publish_places_fixture
from tests.miniapp.snapshot_fixture import TEST_KEY
from tests.browser_kit import PHONE, LiveServer

pytestmark = pytest.mark.browser


def _tile_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 220, 200)).save(buf, format="PNG")
    return buf.getvalue()


class TileServer:
    """PNG tiles at /{z}/{x}/{y}.png on 127.0.0.1; ``paths`` records what was asked."""

    def __init__(self) -> None:
        png, paths = _tile_png(), []
        self.paths = paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _app(tmp, tile_url=None):
    from miniapp.app import create_app

    keys = tmp / "keys"
    keys.mkdir(exist_ok=True)
    generate_key(keys)
    cfg = {"TESTING": True, "SECRET_KEY": "places-browser-" + "p" * 32, "PSEUDONYM_KEY": TEST_KEY.hex(),
           "SNAPSHOT_DIR": str(publish_places_fixture(tmp / "snapshots")), "STATE_URL": f"sqlite:///{tmp / 'state.db'}",
           "SIGNING_KEY_DIR": str(keys), "PUBLIC_URL": "http://placeholder.invalid", "SMS_BACKEND": "outbox"}
    if tile_url:
        cfg.update(TILE_URL=tile_url, TILE_CRS="gcj02", TILE_ATTRIBUTION="test tiles")
    app = create_app(cfg)
    app.extensions["riskcard.clock"] = lambda: datetime(2020, 2, 10, 4, 0, tzinfo=timezone.utc)
    return app


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    with LiveServer(_app(tmp_path_factory.mktemp("places-plain"))) as live:
        yield live


@pytest.fixture(scope="module")
def tiled(tmp_path_factory):
    with TileServer() as tiles:
        with LiveServer(_app(tmp_path_factory.mktemp("places-tiled"), tiles.url + "/{z}/{x}/{y}.png")) as live:
            live.tiles = tiles
            yield live


def _page(browser, live, lang, **extra):
    ctx = browser.new_context(base_url=live.url, locale="zh-CN" if lang == "zh" else "en-US", **{**PHONE, **extra})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, pg, errors


def _fits_the_phone(pg) -> None:
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


@pytest.mark.parametrize("lang,heading", [("zh", "距 百步亭花园 最近的病例场所"), ("en", "Case places nearest to 百步亭花园")])
def test_svg_map_without_a_tile_server(browser, plain, lang, heading):
    ctx, pg, errors = _page(browser, plain, lang)
    try:
        pg.goto(f"/places?community=1&lang={lang}")
        assert pg.locator("h2").first.inner_text() == heading
        svg = pg.locator("svg.place-map")
        assert svg.is_visible() and svg.get_attribute("aria-label")
        markers = pg.locator("svg.place-map a")
        assert markers.count() == 4  # the community and its three nearest places
        for i in range(markers.count()):
            box = markers.nth(i).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44
        assert markers.nth(1).get_attribute("aria-label") == "1 百步亭超市"
        markers.nth(1).tap()
        assert pg.evaluate("location.hash") == "#place-1"
        assert pg.locator("#leaflet-map").count() == 0
        _fits_the_phone(pg)
        assert errors == []
    finally:
        ctx.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_leaflet_over_the_local_tile_server(browser, tiled, lang):
    ctx, pg, errors = _page(browser, tiled, lang)
    try:
        before = len(tiled.tiles.paths)
        pg.goto(f"/clinics?community=1&lang={lang}")
        pg.wait_for_selector("#leaflet-map[data-ready='1']")
        pg.wait_for_function("[...document.querySelectorAll('img.leaflet-tile')].some(i => i.complete && i.naturalWidth > 0)")
        assert len(tiled.tiles.paths) > before and all(p.endswith(".png") for p in tiled.tiles.paths)
        markers = pg.locator(".place-marker")
        assert markers.count() == 3  # the community and the two clinics open at noon
        for i in range(markers.count()):
            box = markers.nth(i).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44
        assert "test tiles" in pg.locator(".leaflet-control-attribution").inner_text()
        assert ("开放中" if lang == "zh" else "Open now") in pg.locator("#clinics-list").inner_text()
        _fits_the_phone(pg)
        assert errors == []  # no CSP refusal, no script error
    finally:
        ctx.close()


def test_the_phone_position_is_rounded_before_it_is_sent(browser, plain):
    ctx, pg, errors = _page(browser, plain, "zh", geolocation={"longitude": 114.291234, "latitude": 30.640987},
                            permissions=["geolocation"])
    try:
        sent = []
        pg.on("request", lambda r: sent.append((r.method, r.url, r.post_data)) if r.method == "POST" else None)
        pg.goto("/places")
        pg.locator("#locate-button").tap()
        pg.wait_for_selector("#places-list")
        assert "百步亭超市" in pg.locator("#places-list").inner_text()
        (method, url, body), = sent
        assert url.endswith("/places") and "lon=114.29&lat=30.64" in body and "114.2912" not in body
        assert "114" not in url
        assert errors == []
    finally:
        ctx.close()
