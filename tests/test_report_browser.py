"""The report in a real browser: headless Chromium (Debian packages ``chromium`` and ``chromium-driver``, driven by
Selenium through the system chromedriver — never a downloaded one) opens the tiny ladder's report offline, with no
console errors, no network requests, every figure drawn at a non-zero size, and no horizontal scrolling at 1280 px."""

import shutil
from pathlib import Path

import pytest
from report_helpers import tiny_ladder_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else shutil.which("chromedriver")
# No network on the test machines: without these Chromium waits on connections it can never make.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("headless Chromium not installed: apt-get install chromium chromium-driver (scripts/setup does)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_report_opens_offline_without_errors_and_draws_every_figure(browser, tmp_path_factory):
    files, _ = tiny_ladder_report(tmp_path_factory)
    browser.get(files.html.resolve().as_uri())
    assert browser.title.startswith("Scaling-law report")
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure img')).map(i => {"
        " const r = i.getBoundingClientRect();"
        " return {id: i.parentElement.id, complete: i.complete, natural: i.naturalWidth, w: r.width, h: r.height}; })")
    assert [f["id"] for f in figures] == ["fig-loss_vs_compute", "fig-forecast", "fig-compute_optimal", "fig-isoflop",
                                          "fig-loss_curves", "fig-residuals", "fig-backtest"]
    for f in figures:
        assert f["complete"] and f["natural"] > 0 and f["w"] > 300 and f["h"] > 150, f
    assert browser.execute_script("return document.scripts.length") == 0
    requests = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requests == []                                    # self-contained: nothing fetched, not even a font
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")   # no sideways scrolling
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 200, 16000))
    shot = files.html.with_name("report_screenshot.png")
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
