// guides-qa web page: asks POST /ask/stream, shows the answer as it arrives, its [n]
// markers as buttons that open the cited passage. No framework, no build step.
// Server text is only ever put on the page as text nodes (never as HTML).
"use strict";

const MAX_HISTORY = 20; // turns sent with a follow-up (the API's limit)
const form = document.getElementById("ask-form");
const box = document.getElementById("question");
const askButton = document.getElementById("ask");
const conversationEl = document.getElementById("conversation");
const intro = document.getElementById("intro");
let history = []; // [{role, content}], oldest first: what follow-ups are read with
let inFlight = null; // the AbortController of the question being answered
let turnCount = 0;
let guides = new Map(); // doc -> {doc, title, edition, series}: the guides the index holds (GET /health)

// ---------------------------------------------------------------- small DOM helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// What a passage of `doc` is called: "2024 guide" when its series has several editions in the
// index, else the guide's title, else its file name.
function docLabel(doc, edition) {
  const guide = guides.get(doc);
  if (!guide) return edition ? `${edition} guide` : doc;
  const editions = [...guides.values()].filter((g) => g.series === guide.series && g.edition);
  if (guide.edition && editions.length > 1) return `${guide.edition} guide`;
  return guide.title || doc;
}

function sectionLabel(section) {
  return section.split(" > ").join(" › ");
}

function guideLink(passage, quotes = []) {
  const params = new URLSearchParams({ start: passage.start, end: passage.end });
  for (const q of quotes) params.append("q", `${q.start}-${q.end}`);
  return `/guides/${encodeURIComponent(passage.doc)}?${params}#passage`;
}

function questionLink(question, edition) {
  const params = new URLSearchParams({ q: question });
  if (edition) params.set("edition", edition);
  return `/?${params}`;
}

// ---------------------------------------------------------------- answer text with [n] markers

const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]/g;

const ITEM = /^\s*[-*•]\s+/;

// Paragraphs of `text`, its "- " lines as list items; each [n] becomes a button when `onCite` knows
// citation n. Text goes in as text nodes only.
function renderAnswerText(container, text, citations, onCite) {
  container.replaceChildren();
  for (const paragraph of text.split(/\n{2,}/)) {
    let lines = [];
    let list = null;
    const flush = () => {
      if (lines.length) container.append(withMarkers(el("p"), lines.join("\n"), citations, onCite));
      lines = [];
    };
    for (const line of paragraph.split("\n")) {
      if (ITEM.test(line)) {
        flush();
        if (!list) container.append((list = el("ul", { class: "items" })));
        list.append(withMarkers(el("li"), line.replace(ITEM, ""), citations, onCite));
      } else if (line.trim()) {
        list = null;
        lines.push(line);
      }
    }
    flush();
  }
}

function withMarkers(node, text, citations, onCite) {
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    node.append(text.slice(last, match.index));
    for (const n of match[1].split(",").map((s) => Number(s.trim()))) {
      const citation = citations && citations.get(n);
      node.append(citation ? citeButton(citation, onCite) : el("span", { class: "marker", text: `[${n}]` }));
    }
    last = match.index + match[0].length;
  }
  node.append(text.slice(last));
  return node;
}

function citeButton(citation, onCite) {
  return el("button", {
    type: "button",
    class: "cite",
    text: `[${citation.n}]`,
    "aria-label": `Source ${citation.n}: ${docLabel(citation.doc, citation.edition)}, ${sectionLabel(citation.section)}`,
    "data-n": citation.n,
    onclick: () => onCite(citation),
  });
}

// The passage text with each quoted sentence in a <mark>; quotes are found by their text.
function markedPassage(text, quotes) {
  const block = el("blockquote", { class: "passage-text" });
  let from = 0;
  for (const quote of quotes) {
    const at = text.indexOf(quote.text, from);
    if (at < 0) continue;
    block.append(text.slice(from, at), el("mark", { text: quote.text }));
    from = at + quote.text.length;
  }
  block.append(text.slice(from));
  return block;
}

// ---------------------------------------------------------------- one question and its answer

class Turn {
  constructor(question, edition) {
    this.question = question;
    this.edition = edition;
    this.id = ++turnCount;
    this.text = "";
    const scope = edition ? el("span", { class: "scope", text: `${edition} guide only` }) : null;
    this.heading = el("h2", { class: "question", id: `q${this.id}`, text: question }, scope);
    this.status = el("p", { class: "status", text: "Searching the guides…" });
    this.textEl = el("div", { class: "text" });
    this.answerEl = el("div", { class: "answer", "aria-live": "polite", "aria-busy": "true" }, this.status, this.textEl);
    this.passageEl = el("section", { class: "passage", hidden: true, tabindex: "-1", "aria-label": "Cited passage",
      onkeydown: (event) => event.key === "Escape" && this.closePassage() });
    this.link = el("a", { class: "permalink", href: questionLink(question, edition),
      text: history.length ? "Link to this question (asked alone)" : "Link to this question" });
    this.el = el("article", { class: "turn", "aria-labelledby": this.heading.id }, this.heading, this.answerEl, this.passageEl);
  }

  found(passages, readInContext) {
    if (readInContext) this.answerEl.prepend(el("p", { class: "read-in-context", text: `Read with the earlier question: ${readInContext}` }));
    const n = passages.length;
    this.status.textContent = n ? `Found ${n} passage${n === 1 ? "" : "s"}. Writing the answer…` : "No passages found.";
  }

  delta(text) {
    this.text += text;
    renderAnswerText(this.textEl, this.text, null);
  }

  done(response) {
    this.status.remove();
    this.answerEl.setAttribute("aria-busy", "false");
    const citations = new Map(response.citations.map((c) => [c.n, c]));
    if (response.abstained) this.answerEl.classList.add("abstained");
    renderAnswerText(this.textEl, response.answer, citations, (c) => this.showPassage(c));
    if (response.notice) this.answerEl.append(el("p", { class: "notice", text: response.notice }));
    showStale(response.stale_index);
    if (response.citations.length) this.answerEl.append(this.sources(response.citations));
    if (response.abstained && response.nearest.length) this.answerEl.append(this.nearest(response.nearest));
    this.answerEl.append(el("p", { class: "turn-links" }, this.link));
    this.bringIntoView();
  }

  // A finished answer that runs below the window is scrolled up to its question.
  bringIntoView() {
    if (this.el.getBoundingClientRect().bottom > window.innerHeight) this.el.scrollIntoView({ block: "start" });
  }

  sources(citations) {
    const list = el("ol", { class: "source-list" });
    for (const c of citations) {
      list.append(el("li", {}, el("button", {
        type: "button", class: "source", "data-n": c.n, onclick: () => this.showPassage(c),
      }, el("span", { class: "n", text: `[${c.n}]` }), ` ${docLabel(c.doc, c.edition)} · ${sectionLabel(c.section)}`)));
    }
    return el("div", { class: "sources" }, el("h3", { text: "Sources" }), list);
  }

  nearest(passages) {
    const list = el("ul", { class: "nearest-list" });
    for (const p of passages) {
      list.append(el("li", {},
        el("p", { class: "meta", text: `${docLabel(p.doc, p.edition)} · ${sectionLabel(p.section)}` }),
        el("blockquote", { class: "passage-text", text: p.text }),
        el("a", { href: guideLink(p), target: "_blank", rel: "noopener", text: "Open the guide at this passage" })));
    }
    return el("div", { class: "nearest" }, el("h3", { text: "The nearest passages (they do not answer it)" }), list);
  }

  showPassage(c) {
    const title = el("h3", { id: `p${this.id}-title` },
      el("span", { class: "n", text: `[${c.n}] ` }), `${docLabel(c.doc, c.edition)} · ${sectionLabel(c.section)}`);
    const close = el("button", { type: "button", class: "close", "aria-label": "Close the passage", text: "×",
      onclick: () => this.closePassage() });
    const quoted = c.quotes.length ? "the sentences the answer quotes are highlighted" : "";
    this.passageEl.replaceChildren(
      el("div", { class: "passage-head" }, title, close),
      markedPassage(c.text, c.quotes),
      el("p", { class: "passage-links" },
        el("a", { href: guideLink(c, c.quotes), target: "_blank", rel: "noopener", text: `Open the whole ${docLabel(c.doc, c.edition)} at this passage` }),
        quoted ? el("span", { class: "hint", text: ` · ${quoted}` }) : null));
    this.passageEl.setAttribute("aria-labelledby", title.id);
    this.passageEl.hidden = false;
    this.markCurrent(c.n);
    this.passageEl.focus({ preventScroll: true });
    // Scrolled to only when its top is out of sight (below the answer on a narrow screen): beside the
    // answer it is already in view, and scrolling would move the answer being read.
    const top = this.passageEl.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight - 96) this.passageEl.scrollIntoView({ block: "nearest" });
  }

  closePassage() {
    this.passageEl.hidden = true;
    this.markCurrent(null);
    box.focus();
  }

  // The markers and source of the passage on show look pressed.
  markCurrent(n) {
    for (const button of this.answerEl.querySelectorAll("[data-n]")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.n) === n));
    }
  }

  fail(message, retry) {
    this.status.remove();
    this.answerEl.setAttribute("aria-busy", "false");
    this.answerEl.append(el("div", { class: "error", role: "alert" },
      el("p", { text: message }),
      el("button", { type: "button", class: "secondary", text: "Try again", onclick: retry })));
  }
}

// ---------------------------------------------------------------- talking to the server

// Server-sent events from a fetch() response: yields {event, data}.
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r\n\r\n|\n\n|\r\r/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n\r\n", end) ? 4 : 2));
      const event = { event: "message", data: [] };
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event.event = text;
        else if (field === "data") event.data.push(text);
      }
      if (event.data.length) yield { event: event.event, data: JSON.parse(event.data.join("\n")) };
    }
  }
}

async function errorMessage(response) {
  let detail = "";
  try {
    const body = await response.json();
    detail = body.error || "";
    if (body.details) detail += ": " + body.details.map((d) => `${d.field} ${d.problem}`).join("; ");
  } catch {
    detail = response.statusText;
  }
  if (response.status === 503) return `The service can't answer right now (503): ${detail}. Try again in a moment.`;
  if (response.status === 429) return `Too many questions at once (429): ${detail}. Try again in a moment.`;
  if (response.status >= 500) return `The server failed (${response.status}): ${detail}`;
  return `The question was not accepted (${response.status}): ${detail}`;
}

async function ask(question, edition) {
  question = question.trim();
  if (!question || inFlight) return;
  const controller = (inFlight = new AbortController());
  askButton.disabled = true;
  intro.hidden = true;
  const turn = new Turn(question, edition);
  conversationEl.append(turn.el);
  turn.el.scrollIntoView({ block: "start" });
  const retry = () => { turn.el.remove(); ask(question, edition); };
  const body = { question, history: history.slice(-MAX_HISTORY) };
  if (edition) body.editions = [edition];
  try {
    const response = await fetch("/ask/stream", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) return turn.fail(await errorMessage(response), retry);
    for await (const { event, data } of readEvents(response)) {
      if (event === "passages") turn.found(data.passages, data.read_in_context);
      else if (event === "delta") turn.delta(data.text);
      else if (event === "error") return turn.fail(`The answer failed: ${data.error}`, retry);
      else if (event === "done") {
        turn.done(data);
        history.push({ role: "user", content: question }, { role: "assistant", content: data.answer });
        return;
      }
    }
    turn.fail("The answer was cut off before it finished. The server may have stopped.", retry);
  } catch (error) {
    if (error.name !== "AbortError") turn.fail(`Could not reach the server (${error.message}). Is it running?`, retry);
  } finally {
    inFlight = null;
    askButton.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring

function selectedEdition() {
  return form.querySelector("input[name=edition]:checked").value;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (inFlight || !box.value.trim()) {
    box.focus();
    return;
  }
  const question = box.value;
  box.value = "";
  ask(question, selectedEdition());
});

box.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

for (const button of document.querySelectorAll(".example")) {
  button.addEventListener("click", () => ask(button.textContent, selectedEdition()));
}

document.getElementById("new-conversation").addEventListener("click", () => {
  if (inFlight) inFlight.abort(); // the server stops writing the answer
  history = [];
  for (const turn of conversationEl.querySelectorAll(".turn")) turn.remove();
  intro.hidden = false;
  box.focus();
});

// ---------------------------------------------------------------- what the index holds

// "The index is older than the corpus (…)": from /health, and again with every answer.
function showStale(stale) {
  const banner = document.getElementById("stale");
  banner.textContent = stale ? `Note: ${stale.message}` : "";
  banner.hidden = !stale;
}

// The header names the guides the index holds; the edition choice offers the editions it holds.
function showGuides(list) {
  guides = new Map(list.map((g) => [g.doc, g]));
  const tagline = document.getElementById("tagline");
  const shown = list.slice(0, 3);
  const parts = ["Cited answers from "];
  shown.forEach((g, i) => {
    if (i) parts.push(i === shown.length - 1 && list.length <= 3 ? " and " : ", ");
    parts.push(el("cite", { text: g.title || g.doc }));
    if (g.edition && !(g.title || "").includes(g.edition)) parts.push(` (${g.edition})`);
  });
  if (list.length > 3) parts.push(` and ${list.length - 3} more`);
  if (list.length) tagline.replaceChildren(...parts);
  const editions = [...new Set(list.map((g) => g.edition).filter(Boolean))].sort();
  const fieldset = document.getElementById("editions");
  for (const edition of editions) {
    fieldset.append(el("label", {}, el("input", { type: "radio", name: "edition", value: edition }), ` ${edition}`));
  }
  fieldset.hidden = editions.length < 2;
}

async function start() {
  try {
    const response = await fetch("/health");
    if (response.ok) {
      const health = await response.json();
      showGuides(health.guides || []);
      showStale(health.stale_index);
    }
  } catch {
    // The page still asks; labels fall back to file names.
  }
  const params = new URLSearchParams(location.search);
  const edition = params.get("edition");
  if (edition) {
    const radio = form.querySelector(`input[name=edition][value="${CSS.escape(edition)}"]`);
    if (radio) radio.checked = true;
  }
  if (params.get("q")) ask(params.get("q"), selectedEdition());
  else box.focus();
}

start();
