"""Headless Chromium for the tests that drive a real page: the ``browser`` fixture and what it can do.

The browser and its driver are Debian's, ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``, which
``make test`` installs through ``tools/ensure-browser.sh`` (``GRAPHVIZ_BP_CHROMIUM`` and
``GRAPHVIZ_BP_CHROMEDRIVER`` name others). Both paths are handed to Selenium, so Selenium Manager never runs
and nothing is downloaded. When either is missing the tests that need them fail, never skip.

One Chromium serves the whole session (a cold start takes about a second); each test gets it back on a
blank page with a viewport of :data:`VIEWPORT`, no stored data and an empty console.
"""

from __future__ import annotations

import os
import struct
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

VIEWPORT = (1400, 1000)
"""Width and height, in CSS pixels, of what a page sees (``innerWidth``, ``innerHeight``) and of a screenshot."""

TIMEOUT = 10.0
"""Seconds to wait for a page to load, a script to finish or an element to be there."""

FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--force-device-scale-factor=1",
    "--lang=en-US",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
    # No host name resolves (Chromium still asks for Google's update and account servers otherwise): a
    # page that loads anything from the network fails at once, with an error in its console.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
)

HOW_TO_INSTALL = ("run `make test` (it installs them), or `bash tools/ensure-browser.sh`, "
                  "or `apt-get install chromium chromium-driver`")

# DOM ``KeyboardEvent.key`` names to the names of Selenium's ``Keys``.
_KEY_NAMES = {
    "ArrowLeft": "ARROW_LEFT", "ArrowRight": "ARROW_RIGHT", "ArrowUp": "ARROW_UP", "ArrowDown": "ARROW_DOWN",
    "Enter": "ENTER", "Escape": "ESCAPE", "Tab": "TAB", "Backspace": "BACKSPACE", "Delete": "DELETE",
    "Home": "HOME", "End": "END", "PageUp": "PAGE_UP", "PageDown": "PAGE_DOWN", "Shift": "SHIFT",
    "Control": "CONTROL", "Alt": "ALT",
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def browser_paths() -> tuple[Path, Path]:
    """The Chromium and chromedriver executables to use, from the environment or Debian's places."""
    return (Path(os.environ.get("GRAPHVIZ_BP_CHROMIUM", "/usr/bin/chromium")),
            Path(os.environ.get("GRAPHVIZ_BP_CHROMEDRIVER", "/usr/bin/chromedriver")))


def chromium_options(chromium: Path) -> Any:
    """Selenium's options for a headless Chromium at ``chromium`` that keeps every console message."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = str(chromium)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return options


def chromium_service(chromedriver: Path, log: Path | None = None) -> Any:
    """Selenium's service for the chromedriver at ``chromedriver``, logging to ``log`` when given."""
    from selenium.webdriver.chrome.service import Service

    return Service(executable_path=str(chromedriver), log_output=None if log is None else str(log))


def start_chromium(log: Path | None = None) -> WebDriver:
    """Start a headless Chromium whose viewport is :data:`VIEWPORT`; fail the test if it cannot start."""
    chromium, chromedriver = browser_paths()
    missing = [f"{name} ({path})" for name, path in (("Chromium", chromium), ("chromedriver", chromedriver))
               if not (path.is_file() and os.access(path, os.X_OK))]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found; the browser tests need Chromium and chromedriver: "
                    f"{HOW_TO_INSTALL}", pytrace=False)
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("selenium is not installed: run `make test` (it installs the test extra)", pytrace=False)
    try:
        driver = webdriver.Chrome(options=chromium_options(chromium),
                                  service=chromium_service(chromedriver, log))
    except Exception as error:  # noqa: BLE001 - any failure to start is reported the same way
        failure = f"{type(error).__name__}: {getattr(error, 'msg', None) or error}"  # .msg: without the stack
    else:
        failure = None
    if failure is not None:
        tail = ""
        if log is not None and log.exists():
            tail = "\nchromedriver's log ends:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-8:])
        pytest.fail(f"Chromium ({chromium}) did not start through {chromedriver}: {failure}{tail}", pytrace=False)
    try:
        driver.set_page_load_timeout(TIMEOUT)
        driver.set_script_timeout(TIMEOUT)
        fit_viewport(driver)
    except BaseException:
        driver.quit()
        raise
    return driver


def fit_viewport(driver: WebDriver) -> None:
    """Size the window so that the page's viewport is :data:`VIEWPORT` (the window also holds the toolbar)."""
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if tuple(inner) == VIEWPORT:
        return
    outer = driver.get_window_size()
    driver.set_window_size(VIEWPORT[0] + outer["width"] - inner[0], VIEWPORT[1] + outer["height"] - inner[1])
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if tuple(inner) != VIEWPORT:
        pytest.fail(f"Chromium's viewport is {inner[0]}x{inner[1]}, wanted {VIEWPORT[0]}x{VIEWPORT[1]}",
                    pytrace=False)


class Browser:
    """A page in headless Chromium and the verbs a test uses on it.

    Console messages are kept from one :meth:`reset` to the next (Chromium hands each one out only once).
    """

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self._console: list[dict[str, Any]] = []

    def reset(self) -> None:
        """Back to a blank page with the standard viewport, no data stored by file:// pages, no console.

        What a file:// page stores is not reliably there for the next load of a page (now and then
        Chromium hands the next load an empty localStorage): test what a page keeps within one load.
        """
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "file://", "storageTypes": "all"})
        fit_viewport(self.driver)
        self.driver.get_log("browser")
        self._console.clear()

    def open(self, path: Path) -> None:
        """Load a local file and wait until it has loaded (scripts run, images decoded)."""
        self.driver.get(Path(path).resolve().as_uri())
        self.wait_until("document.readyState === 'complete'")

    def run(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page and give back what it returns (``return ...;`` in ``script``).

        Numbers, strings, booleans, null, arrays and plain objects come back as Python values; ``args``
        are the script's ``arguments``.
        """
        return self.driver.execute_script(script, *args)

    def wait_until(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """Wait until the JavaScript ``expression`` is truthy and give back its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.driver.execute_script(f"return ({expression});")
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout} s: {expression}")
            time.sleep(0.02)

    def element(self, selector: str) -> Any:
        """The first element matching the CSS ``selector``, waiting for it to be there."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        try:
            return WebDriverWait(self.driver, TIMEOUT).until(
                expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))
        except TimeoutException:
            raise AssertionError(f"no element matches {selector!r} after {TIMEOUT} s") from None

    def text(self, selector: str) -> str:
        """The text content of the first element matching ``selector``."""
        return self.run("return arguments[0].textContent;", self.element(selector))

    def click(self, selector: str) -> None:
        """Click the first element matching ``selector``, once it is visible and enabled."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        self.element(selector)
        try:
            element = WebDriverWait(self.driver, TIMEOUT).until(
                expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, selector)))
        except TimeoutException:
            raise AssertionError(f"{selector!r} is not visible and enabled after {TIMEOUT} s") from None
        element.click()

    def press(self, *keys: str, selector: str | None = None) -> None:
        """Press keys, one after the other, in the focused element or in the one matching ``selector``.

        A key is named as in ``KeyboardEvent.key``: ``"ArrowRight"``, ``"Escape"``, ``"Enter"``, ``"a"``.
        """
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        typed = []
        for key in keys:
            if key in _KEY_NAMES:
                typed.append(getattr(Keys, _KEY_NAMES[key]))
            elif len(key) == 1:
                typed.append(key)
            else:
                raise ValueError(f"unknown key {key!r}: use a character or one of {', '.join(_KEY_NAMES)}")
        if selector is None:
            ActionChains(self.driver).send_keys(*typed).perform()
        else:
            self.element(selector).send_keys(*typed)

    def screenshot(self, path: Path) -> Path:
        """Save what the viewport shows as a PNG at ``path`` and give back ``path``."""
        data = self.driver.get_screenshot_as_png()
        if not data.startswith(PNG_SIGNATURE):
            raise AssertionError("Chromium's screenshot is not a PNG")
        path = Path(path)
        path.write_bytes(data)
        return path

    def console(self) -> list[dict[str, Any]]:
        """Every console message since the last reset: dicts with level, message, source and timestamp."""
        self._console.extend(self.driver.get_log("browser"))
        return list(self._console)

    def console_errors(self) -> list[str]:
        """The console's errors since the last reset: ``console.error`` calls, uncaught exceptions, failed loads."""
        return [entry["message"] for entry in self.console() if entry["level"] == "SEVERE"]

    def fonts(self, selector: str) -> list[dict[str, Any]]:
        """The fonts Chromium drew the text of the first element matching ``selector`` with.

        Each is a dict with familyName, postScriptName, glyphCount and isCustomFont (a web font).
        """
        self.element(selector)
        self.driver.execute_cdp_cmd("DOM.enable", {})
        self.driver.execute_cdp_cmd("CSS.enable", {})
        root = self.driver.execute_cdp_cmd("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = self.driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        return self.driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


class ChromiumSession:
    """The session's one Chromium, started again if a test crashed it."""

    def __init__(self, log: Path) -> None:
        self.log = log
        started = time.perf_counter()
        self.driver = start_chromium(log)
        self.start_seconds = time.perf_counter() - started
        """How long the first start took: Chromium's cold start with chromedriver's."""

    def alive(self) -> bool:
        """Whether the browser still answers."""
        try:
            self.driver.execute_script("return 1")
        except Exception:  # noqa: BLE001 - a crashed browser or driver raises any of several errors
            return False
        return True

    def restart(self) -> None:
        """Replace a browser that no longer answers."""
        self.driver.quit()
        self.driver = start_chromium(self.log)

    def quit(self) -> None:
        self.driver.quit()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromiumSession]:
    """The session's headless Chromium (started on first use); tests use :func:`browser`."""
    session = ChromiumSession(tmp_path_factory.mktemp("chromium") / "chromedriver.log")
    yield session
    session.quit()


@pytest.fixture
def browser(chromium: ChromiumSession) -> Browser:
    """A headless Chromium on a blank page, viewport :data:`VIEWPORT`, nothing stored, an empty console."""
    if not chromium.alive():
        chromium.restart()
    page = Browser(chromium.driver)
    page.reset()
    return page


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, from its header.

    >>> png_size(PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", 3, 2))
    (3, 2)
    """
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def png_pixels(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit RGB or RGBA PNG that is not interlaced: an array (height, width, channels)."""
    width, height = png_size(data)
    depth, color, interlace = data[24], data[25], data[28]
    channels = {2: 3, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"only 8-bit RGB or RGBA PNGs without interlacing (bit depth {depth}, "
                         f"colour type {color}, interlace {interlace})")
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IDAT":
            chunks.append(data[offset + 8:offset + 8 + length])
        offset += 12 + length
    stride = width * channels
    rows = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, 1 + stride)
    pixels = np.empty((height, stride), np.uint8)
    prior = np.zeros(stride, np.uint8)
    for y, (kind, row) in enumerate(zip(rows[:, 0], rows[:, 1:], strict=True)):
        if kind == 0:
            pixels[y] = row
        elif kind == 1:  # Sub: each byte adds the one a pixel to its left
            pixels[y] = np.cumsum(row.reshape(width, channels), axis=0, dtype=np.uint8).reshape(stride)
        elif kind == 2:  # Up
            pixels[y] = row + prior
        elif kind in (3, 4):  # Average, Paeth: byte by byte
            pixels[y] = _unfilter(int(kind), row.tobytes(), prior.tobytes(), channels)
        else:
            raise ValueError(f"unknown PNG filter {kind} in row {y}")
        prior = pixels[y]
    return pixels.reshape(height, width, channels)


def _unfilter(kind: int, row: bytes, prior: bytes, bpp: int) -> np.ndarray:
    out = bytearray(row)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        up = prior[i]
        if kind == 3:
            out[i] = (out[i] + (left + up) // 2) & 0xFF
        else:
            corner = prior[i - bpp] if i >= bpp else 0
            guess = left + up - corner
            to_left, to_up, to_corner = abs(guess - left), abs(guess - up), abs(guess - corner)
            nearest = left if to_left <= to_up and to_left <= to_corner else up if to_up <= to_corner else corner
            out[i] = (out[i] + nearest) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)
