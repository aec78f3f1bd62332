"""The headless-Chromium harness itself (tests/browser.py): clicks, keys, scripts, console, screenshots, fonts."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from .browser import (PNG_SIGNATURE, VIEWPORT, browser_paths, chromium_options, chromium_service, png_pixels,
                      png_size, start_chromium)

BUTTON_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>harness</title></head>
<body>
<button id="go" type="button">off</button>
<p id="count">0</p>
<script>
  const go = document.getElementById("go"), count = document.getElementById("count");
  let n = 0;
  go.addEventListener("click", () => { go.textContent = "clicked " + (++n); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") { go.textContent = "right"; count.textContent = String(++n); }
    if (event.key === "ArrowLeft") { go.textContent = "left"; count.textContent = String(--n); }
  });
  console.log("a log line is not an error");
  console.warn("nor is a warning");
</script>
</body></html>
"""

ERROR_PAGE = """<!doctype html>
<html><body><p id="before">before</p>
<script>console.error("drawn wrong: " + 6 * 7);</script>
<script>noSuchFunction();</script>
<p id="after">after</p>
</body></html>
"""

BLOCK_PAGE = """<!doctype html>
<html><body style="margin: 0; background: #ffffff">
<div style="position: absolute; left: 100px; top: 50px; width: 200px; height: 100px; background: #ff0000"></div>
<div style="position: absolute; left: 1390px; top: 990px; width: 10px; height: 10px; background: #0000ff"></div>
</body></html>
"""

SVG_TEXT = "Wg∂∇"
SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" viewBox="0 0 400 120">
<rect width="400" height="120" fill="#ffffff"/>
<text id="label" x="20" y="80" font-family="DejaVu Sans" font-size="60" fill="#000000">{SVG_TEXT}</text>
</svg>
"""


@pytest.fixture
def button_page(tmp_path):
    path = tmp_path / "button.html"
    path.write_text(BUTTON_PAGE, encoding="utf-8")
    return path


def test_a_click_changes_the_button(browser, button_page):
    browser.open(button_page)
    assert browser.text("#go") == "off"
    browser.click("#go")
    assert browser.text("#go") == "clicked 1"
    browser.click("#go")
    assert browser.run("return document.getElementById('go').textContent") == "clicked 2"


def test_arrow_keys_reach_the_page(browser, button_page):
    browser.open(button_page)
    browser.press("ArrowRight")
    assert (browser.text("#go"), browser.text("#count")) == ("right", "1")
    browser.press("ArrowRight", "ArrowRight", "ArrowLeft")
    assert (browser.text("#go"), browser.text("#count")) == ("left", "2")


def test_keys_are_named_as_in_the_dom(browser):
    with pytest.raises(ValueError, match="unknown key 'Right'"):
        browser.press("Right")


def test_scripts_return_python_values(browser, button_page):
    browser.open(button_page)
    assert browser.run("return [1, 2.5, 'a', true, null, {x: [3]}]") == [1, 2.5, "a", True, None, {"x": [3]}]
    assert browser.run("return arguments[0] * arguments[1]", 6, 7) == 42
    assert browser.run("return [window.innerWidth, window.innerHeight]") == list(VIEWPORT)


def test_a_missing_element_fails_with_its_selector(browser, button_page, monkeypatch):
    monkeypatch.setattr("tests.browser.TIMEOUT", 0.2)
    browser.open(button_page)
    with pytest.raises(AssertionError, match="#nothing"):
        browser.click("#nothing")


def test_a_clean_page_has_no_console_errors(browser, button_page):
    browser.open(button_page)
    browser.click("#go")
    assert browser.console_errors() == []
    levels = {entry["level"] for entry in browser.console()}
    assert levels == {"INFO", "WARNING"}


def test_console_errors_and_uncaught_exceptions_are_collected(browser, tmp_path):
    path = tmp_path / "error.html"
    path.write_text(ERROR_PAGE, encoding="utf-8")
    browser.open(path)
    assert browser.text("#after") == "after"  # an uncaught exception stops its own script only
    errors = browser.console_errors()
    assert len(errors) == 2
    assert '"drawn wrong: 42"' in errors[0]
    assert "Uncaught ReferenceError: noSuchFunction is not defined" in errors[1]
    assert browser.console_errors() == errors  # reading them does not lose them


def test_reset_forgets_the_page_its_errors_and_its_storage(browser, tmp_path):
    store = tmp_path / "store.html"
    store.write_text("<script>localStorage.setItem('k', 'v'); sessionStorage.setItem('s', 'v');"
                     "console.error('boom');</script>", encoding="utf-8")
    read = tmp_path / "read.html"
    read.write_text("<script>window.stored = [localStorage.getItem('k'), sessionStorage.getItem('s')];</script>",
                    encoding="utf-8")
    browser.open(store)
    assert browser.run("return [localStorage.getItem('k'), sessionStorage.getItem('s')]") == ["v", "v"]
    assert len(browser.console_errors()) == 1
    browser.driver.set_window_size(800, 600)
    browser.reset()
    assert browser.driver.current_url == "about:blank"
    assert browser.console_errors() == []
    assert browser.run("return [window.innerWidth, window.innerHeight]") == list(VIEWPORT)
    browser.open(read)
    assert browser.run("return window.stored") == [None, None]


def test_a_screenshot_is_a_png_of_the_viewport(browser, tmp_path):
    path = tmp_path / "block.html"
    path.write_text(BLOCK_PAGE, encoding="utf-8")
    browser.open(path)
    shot = browser.screenshot(tmp_path / "block.png")
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == VIEWPORT
    pixels = png_pixels(data)[:, :, :3]
    assert pixels.shape == (VIEWPORT[1], VIEWPORT[0], 3)
    red, white, blue = [255, 0, 0], [255, 255, 255], [0, 0, 255]
    # rows are y, columns x; the red block covers x 100..299, y 50..149
    assert pixels[50, 100].tolist() == red and pixels[149, 299].tolist() == red
    for y, x in ((49, 100), (50, 99), (150, 299), (149, 300), (0, 0), (500, 700)):
        assert pixels[y, x].tolist() == white, (y, x)
    assert np.all(pixels[50:150, 100:300] == red)
    assert (pixels == red).all(axis=2).sum() == 200 * 100
    assert pixels[-1, -1].tolist() == blue  # the viewport's far corner is in the screenshot


def test_svg_text_is_drawn_in_dejavu_sans(browser, tmp_path):
    path = tmp_path / "label.svg"
    path.write_text(SVG, encoding="utf-8")
    browser.open(path)
    fonts = browser.fonts("#label")
    assert [(f["familyName"], f["glyphCount"], f["isCustomFont"]) for f in fonts] == [
        ("DejaVu Sans", len(SVG_TEXT), False)]
    box = browser.run("const b = document.getElementById('label').getBBox();"
                      "return [b.x, b.y, b.width, b.height]")
    x0, y0, x1, y1 = int(box[0]), int(box[1]), int(box[0] + box[2]) + 1, int(box[1] + box[3]) + 1
    assert 100 < x1 - x0 < 300 and 50 < y1 - y0 < 90  # four glyphs at 60 px
    pixels = png_pixels(browser.screenshot(tmp_path / "label.png").read_bytes())[:120, :400, :3]
    ink = pixels.min(axis=2) < 128
    assert ink[y0:y1, x0:x1].sum() > 1500  # the glyphs are drawn...
    ink[y0:y1, x0:x1] = False
    assert not ink.any()  # ...and nothing else is


def test_missing_chromium_fails_and_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHVIZ_BP_CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.fail.Exception) as failed:
        start_chromium()
    message = str(failed.value)
    assert f"Chromium ({tmp_path / 'no-chromium'}) not found" in message
    assert "chromedriver (" not in message
    assert "make test" in message and "tools/ensure-browser.sh" in message


def test_missing_chromedriver_fails_and_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHVIZ_BP_CHROMEDRIVER", str(tmp_path / "no-chromedriver"))
    with pytest.raises(pytest.fail.Exception, match=r"chromedriver \(.*no-chromedriver\) not found.*make test"):
        start_chromium()


def test_selenium_manager_is_never_asked(monkeypatch):
    """Selenium Manager would download a browser or a driver; given both paths, Selenium never runs it."""
    from selenium.webdriver.common.driver_finder import DriverFinder
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked for a browser or a driver")

    monkeypatch.setattr(SeleniumManager, "binary_paths", refuse)
    chromium, chromedriver = browser_paths()
    options = chromium_options(chromium)
    finder = DriverFinder(chromium_service(chromedriver), options)
    assert finder.get_driver_path() == str(chromedriver)
    assert options.binary_location == str(chromium)


def test_png_pixels_undoes_every_filter():
    # Two rows of two RGB pixels, (10,20,30) (40,60,80) over (50,50,50) (100,120,140); the filtered bytes
    # are worked out by hand from the PNG specification.
    def png(rows):
        header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
        body = zlib.compress(b"".join(bytes(row) for row in rows))
        return (PNG_SIGNATURE + struct.pack(">I4s", 13, b"IHDR") + header + b"\0" * 4
                + struct.pack(">I4s", len(body), b"IDAT") + body + b"\0" * 4 + struct.pack(">I4s", 0, b"IEND"))

    expected = [[[10, 20, 30], [40, 60, 80]], [[50, 50, 50], [100, 120, 140]]]
    none_up = [[0, 10, 20, 30, 40, 60, 80], [2, 40, 30, 20, 60, 60, 60]]
    sub_average = [[1, 10, 20, 30, 30, 40, 50], [3, 45, 40, 35, 55, 65, 75]]
    paeth_paeth = [[4, 10, 20, 30, 30, 40, 50], [4, 40, 30, 20, 50, 60, 60]]
    for rows in (none_up, sub_average, paeth_paeth):
        assert png_pixels(png(rows)).tolist() == expected, rows[0][0]
    with pytest.raises(ValueError, match="filter 5"):
        png_pixels(png([[5, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0]]))


def test_nothing_is_fetched_from_the_network(browser, tmp_path):
    path = tmp_path / "remote.html"
    path.write_text('<script src="https://cdn.example.com/lib.js"></script><p id="p">loaded</p>', encoding="utf-8")
    browser.open(path)
    assert browser.text("#p") == "loaded"
    errors = browser.console_errors()
    assert len(errors) == 1 and "https://cdn.example.com/lib.js" in errors[0], errors
    assert "ERR_NAME_NOT_RESOLVED" in errors[0]


def test_a_browser_that_stopped_answering_is_started_again(chromium, tmp_path):
    chromium.driver.quit()
    assert not chromium.alive()
    chromium.restart()
    assert chromium.alive()
    assert chromium.driver.execute_script("return [window.innerWidth, window.innerHeight]") == list(VIEWPORT)
