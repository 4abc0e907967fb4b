"""The /changes page in headless Chromium (Debian's package, driven by Playwright) against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_server import running
from playwright.sync_api import expect, sync_playwright

from api.app import create_app
from rag.service import QAService

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def server(service: QAService) -> Iterator[str]:
    with running(create_app(service.settings, service)) as url:
        yield url


def test_changes_page_lists_the_diff_and_filters_by_section(server: str):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install-browser (it installs Debian's chromium)")
    everything = httpx.get(f"{server}/diff", timeout=60).json()["sections"]
    mlops = httpx.get(f"{server}/diff", params={"section": "MLOps"}, timeout=60).json()["sections"]
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(f"{server}/changes")
        expect(page.locator("#status")).to_have_text(f"{len(everything)} sections with changes", timeout=30_000)
        expect(page.locator("section.section-changes")).to_have_count(len(everything))
        first = everything[0]["changes"][0]
        expect(page.locator(".change p").first).to_have_text(first["text"])
        link = page.locator(".change li a").first
        item = first["items"][0]
        assert link.get_attribute("href") == f"/guides/{item['doc']}?start={item['start']}&end={item['end']}#passage"

        page.fill("#section", "MLOps")
        page.press("#section", "Enter")
        expect(page.locator("section.section-changes")).to_have_count(len(mlops), timeout=30_000)
        assert page.url.endswith("?section=MLOps")
        link.click()
        expect(page.locator("mark#passage")).to_be_visible(timeout=30_000)
        browser.close()
    assert not problems
