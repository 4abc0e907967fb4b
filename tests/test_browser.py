"""The web page as a person uses it: headless Chromium (Debian's `chromium` package, installed
by .ci/install-browser) driven by Playwright, against a real uvicorn server over the real index.

Screenshots at desktop (1280 px) and phone (375 px) width go to runs/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from live_server import running
from playwright.sync_api import Browser, Page, Request, expect, sync_playwright

from api.app import create_app
from rag.service import QAService

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "runs" / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}
MLOPS_QUESTION = "Which MLOps tools should I learn?"
VECTOR_QUESTION = "What does the 2024 guide say about vector databases?"
FOLLOW_UP = "Which ones does it name?"

expect.set_options(timeout=15_000)  # CI machines are shared and slow


@pytest.fixture(scope="module")
def server(service: QAService) -> Iterator[str]:
    with running(create_app(service.settings, service)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install-browser (it installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()


class Visit:
    """A page in a fresh browser context; records the questions it sent and what went wrong."""

    def __init__(self, browser: Browser, size: str) -> None:
        self.size = size
        self.context = browser.new_context(viewport=SIZES[size])
        self.page: Page = self.context.new_page()
        self.asked: list[dict] = []
        self.problems: list[str] = []
        self.page.on("request", self._record)
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(m.text))
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))

    def _record(self, request: Request) -> None:
        if request.url.endswith("/ask/stream"):
            self.asked.append(json.loads(request.post_data or "{}"))

    def ask(self, question: str) -> None:
        turns = self.page.locator(".turn").count()
        self.page.fill("#question", question)
        self.page.press("#question", "Enter")
        turn = self.page.locator(".turn").nth(turns)
        expect(turn.locator(".answer")).to_have_attribute("aria-busy", "false", timeout=30_000)


@pytest.fixture(params=list(SIZES))
def visit(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Visit]:
    v = Visit(browser, request.param)
    yield v
    v.context.close()


def shot(visit: Visit, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.mouse.move(0, 0)  # no hover highlight in the picture
    visit.page.screenshot(path=SHOTS / f"{visit.size}-{name}.png", full_page=full_page)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_ask_read_a_cited_passage_and_follow_up(server: str, visit: Visit) -> None:
    expected = httpx.post(f"{server}/ask", json={"question": VECTOR_QUESTION}, timeout=30).json()
    page = visit.page
    page.goto(server)
    expect(page.locator("#question")).to_be_focused()
    visit.ask(VECTOR_QUESTION)

    first = page.locator(".turn").first
    expect(first.locator(".question")).to_have_text(VECTOR_QUESTION)
    assert flat(first.locator(".answer .text").inner_text()) == flat(expected["answer"].replace("\n- ", "\n"))
    citation = expected["citations"][0]
    first.locator(".cite").first.click()
    passage = first.locator(".passage")
    expect(passage).to_be_visible()
    expect(passage.locator("h3")).to_contain_text(f"{citation['edition']} guide")
    expect(passage.locator("h3")).to_contain_text(citation["section"].split(" > ")[-1])
    expect(passage.locator("mark").first).to_have_text(citation["quotes"][0]["text"])
    assert flat(passage.locator("blockquote").inner_text()) == flat(citation["text"])
    link = passage.locator("a").get_attribute("href")
    assert link.startswith(f"/guides/{citation['doc']}?start={citation['start']}&end={citation['end']}")
    passage.scroll_into_view_if_needed()
    shot(visit, "1-cited-passage")

    visit.ask(FOLLOW_UP)
    second = page.locator(".turn").nth(1)
    expect(second.locator(".question")).to_have_text(FOLLOW_UP)
    expect(second.locator(".read-in-context")).to_contain_text("vector databases")
    expect(first.locator(".read-in-context")).to_have_count(0)  # the first question stands alone
    assert second.locator(".error").count() == 0
    assert visit.asked[1]["history"] == [
        {"role": "user", "content": VECTOR_QUESTION},
        {"role": "assistant", "content": expected["answer"]},
    ]
    shot(visit, "2-follow-up")
    if visit.size == "phone":  # on a desktop the question form sticks to the window, across a whole-page picture
        shot(visit, "3-whole-page", full_page=True)
    assert not visit.problems


def test_the_guide_opens_at_the_cited_passage(server: str, visit: Visit) -> None:
    page = visit.page
    page.goto(server)
    visit.ask(MLOPS_QUESTION)
    page.locator(".cite").first.click()
    page.goto(server + page.locator(".passage a").get_attribute("href"))
    mark = page.locator("mark#passage")
    expect(mark).to_be_in_viewport()
    expect(page.locator("mark.quote").first).to_be_visible()
    shot(visit, "4-guide")
    assert not visit.problems


def test_a_question_link_asks_again_with_its_edition(server: str, browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(f"{server}/?{urlencode({'q': 'Which vector databases should I know?', 'edition': '2024'})}")
    expect(page.locator(".turn .answer")).to_have_attribute("aria-busy", "false", timeout=30_000)
    expect(page.locator("input[name=edition][value='2024']")).to_be_checked()
    expect(page.locator(".turn .scope")).to_have_text("2024 guide only")
    assert visit.asked == [{"question": "Which vector databases should I know?", "history": [], "editions": ["2024"]}]
    sources = page.locator(".source").all_inner_texts()
    assert sources and all("2024 guide" in s for s in sources)
    page.locator(".permalink").click()
    expect(page).to_have_url(re.compile(r"/\?q=Which\+vector\+databases"))
    visit.context.close()


def test_keyboard_alone_asks_and_opens_a_citation(server: str, browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    expect(page.locator("#question")).to_be_focused()  # the page focuses the box; typing before that loses keys
    page.keyboard.type(MLOPS_QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".turn .answer")).to_have_attribute("aria-busy", "false", timeout=30_000)
    for _ in range(40):  # Tab from the question box back up to the first citation marker
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('cite')"):
            break
    page.keyboard.press("Enter")
    expect(page.locator(".passage")).to_be_visible()
    expect(page.locator(".passage")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the close button
    expect(page.locator(".passage")).to_be_hidden()
    expect(page.locator("#question")).to_be_focused()
    page.locator(".source").first.press("Enter")
    expect(page.locator(".passage")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".passage")).to_be_hidden()
    visit.context.close()


def test_a_new_conversation_forgets_the_old_one(server: str, browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    visit.ask(MLOPS_QUESTION)
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    visit.ask("Which vector databases should I know?")
    assert [body["history"] for body in visit.asked] == [[], []]
    visit.context.close()


def test_an_abstention_says_so_and_shows_the_nearest_passages(server: str, browser: Browser) -> None:
    visit = Visit(browser, "phone")
    visit.page.goto(server)
    visit.ask("Is Rust good for machine learning?")
    answer = visit.page.locator(".turn .answer")
    expect(answer).to_have_class(re.compile(r"\babstained\b"))
    expect(answer.locator(".text")).to_contain_text("The guides don't cover this. They never mention Rust.")
    expect(answer.locator(".nearest li")).to_have_count(3)
    answer.locator(".nearest").scroll_into_view_if_needed()
    shot(visit, "5-abstention")
    visit.context.close()


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (lambda r: r.fulfill(status=503, json={"error": "the index is being rebuilt"}),
         "The service can't answer right now (503): the index is being rebuilt"),
        (lambda r: r.abort(), "Could not reach the server"),
        (None, "The question was not accepted (422): invalid request: question String should have at most 2000"),
    ],
)
def test_errors_are_shown_as_messages(server: str, browser: Browser, route, message: str) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    if route is not None:
        page.route("**/ask/stream", route)
    page.locator("#question").evaluate("box => { box.removeAttribute('maxlength'); }")
    visit.ask("x" * 2001 if route is None else MLOPS_QUESTION)
    error = page.locator(".turn .error[role=alert]")
    expect(error).to_contain_text(message)
    page.unroute("**/ask/stream")
    if route is not None:  # the server is fine again: "Try again" answers
        error.get_by_role("button", name="Try again").click()
        expect(page.locator(".turn .cite").first).to_be_visible(timeout=30_000)
    visit.context.close()


def sse(*events: tuple[str, dict]) -> str:
    return "".join(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n" for name, data in events)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (sse(("passages", {"passages": []}), ("delta", {"text": "Kubeflow is one. [1] "})),
         "The answer was cut off before it finished"),
        (sse(("passages", {"passages": []}), ("delta", {"text": "Kubeflow is one. [1] "}),
             ("error", {"error": "LLM server timed out"})),
         "The answer failed: LLM server timed out"),
    ],
)
def test_a_stream_that_breaks_off_keeps_its_text_and_says_why(server: str, browser: Browser, body: str, message: str) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    page.route("**/ask/stream", lambda r: r.fulfill(status=200, content_type="text/event-stream", body=body))
    visit.ask(MLOPS_QUESTION)
    expect(page.locator(".turn .text")).to_have_text("Kubeflow is one. [1]")
    expect(page.locator(".turn .text .marker")).to_have_text("[1]")  # no citations arrived: not a button
    expect(page.locator(".turn .error[role=alert]")).to_contain_text(message)
    visit.context.close()


LIST_QUESTION = "Which hyperparameter search methods should I know?"


def test_the_header_names_the_guides_and_editions_the_index_holds(server: str, service: QAService,
                                                                   browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    titles = [g.title for g in service.engine.index.guides]
    for title in titles:
        expect(page.locator("#tagline cite", has_text=title)).to_have_count(1)
    editions = sorted({g.edition for g in service.engine.index.guides if g.edition})
    expect(page.locator("input[name=edition]")).to_have_count(len(editions) + 1)
    expect(page.locator("#stale")).to_be_hidden()  # the index is current
    assert not visit.problems
    visit.context.close()


def test_a_list_answer_is_a_list(server: str, visit: Visit) -> None:
    page = visit.page
    page.goto(server)
    visit.ask(LIST_QUESTION)
    items = page.locator(".turn .answer .text ul.items li")
    assert items.count() >= 2
    assert not any(text.lstrip().startswith("-") for text in items.all_inner_texts())
    shot(visit, "6-list-answer")
    assert not visit.problems


def test_opening_a_citation_does_not_move_the_answer(server: str, browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    for question in (VECTOR_QUESTION, MLOPS_QUESTION):  # the second one's answer starts low in the window
        visit.ask(question)
        turn = page.locator(".turn").last
        answer = turn.locator(".answer")
        before = answer.evaluate("e => e.getBoundingClientRect().top")
        for cite in turn.locator(".cite").all():
            cite.click()
            expect(turn.locator(".passage")).to_be_visible()
            assert answer.evaluate("e => e.getBoundingClientRect().top") == before
    visit.context.close()


def test_list_lines_from_the_server_stay_text(server: str, browser: Browser) -> None:
    visit = Visit(browser, "desktop")
    page = visit.page
    page.goto(server)
    body = sse(("passages", {"passages": []}), ("delta", {"text": "Two:\n- <img src=x onerror=alert(1)> one [1]\n- two"}),
               ("error", {"error": "stopped"}))
    page.route("**/ask/stream", lambda r: r.fulfill(status=200, content_type="text/event-stream", body=body))
    visit.ask(MLOPS_QUESTION)
    items = page.locator(".turn .text li")
    expect(items).to_have_count(2)
    expect(items.first).to_have_text("<img src=x onerror=alert(1)> one [1]")
    expect(page.locator(".turn .text img")).to_have_count(0)
    visit.context.close()


def test_on_a_phone_the_ask_box_stays_in_view(server: str, browser: Browser) -> None:
    visit = Visit(browser, "phone")
    page = visit.page
    page.goto(server)
    visit.ask(LIST_QUESTION)
    page.evaluate("window.scrollTo(0, 0)")
    expect(page.locator("#question")).to_be_in_viewport()
    assert page.locator("#ask-form").evaluate("f => getComputedStyle(f).position") == "sticky"
    visit.context.close()


def test_other_documents_are_named_and_a_stale_index_is_announced(
    corpus_copy: Path, index_copy: Path, embedder, browser: Browser
) -> None:
    from rag.settings import Settings

    (corpus_copy / "kitchen.md").write_text(
        "# Kitchen Notes\n\n## Sourdough\n\nA sourdough starter needs feeding with flour and water every day. "
        "Keep the sourdough starter in a warm place so that it rises.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus_copy, index_dir=index_copy)
    own = QAService(settings, embedder)
    own.build()
    with running(create_app(settings, own)) as url:
        visit = Visit(browser, "desktop")
        page = visit.page
        page.goto(url)
        expect(page.locator("#tagline cite", has_text="Kitchen Notes")).to_have_count(1)
        visit.ask("What does a sourdough starter need?")
        sources = page.locator(".source").all_inner_texts()
        assert sources and any("Kitchen Notes" in s for s in sources), sources
        assert not any("guide ·" in s for s in sources if "Sourdough" in s), sources

        guide = corpus_copy / "000_66311b75d3a066c9.txt"
        guide.write_text(guide.read_text(encoding="utf-8") + "\n\nOne more closing line.\n", encoding="utf-8")
        page.reload()
        expect(page.locator("#stale")).to_be_visible()
        expect(page.locator("#stale")).to_contain_text("000_66311b75d3a066c9.txt")
        visit.context.close()
