// The /changes page: GET /diff, rendered as text nodes only (guide text is never parsed as HTML).
"use strict";

const form = document.getElementById("filter");
const input = document.getElementById("section");
const statusLine = document.getElementById("status");
const list = document.getElementById("sections");

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function itemLink(item) {
  const link = element("a", `${item.label} (${item.edition})`);
  link.href = `/guides/${encodeURIComponent(item.doc)}?start=${item.start}&end=${item.end}#passage`;
  const li = element("li");
  li.append(link, element("span", ` · ${item.section}`, "meta"));
  return li;
}

function render(sections) {
  list.replaceChildren();
  for (const group of sections) {
    const section = element("section", undefined, "section-changes");
    const older = group.older_sections.join(" | ") || "(none)";
    const newer = group.newer_sections.join(" | ") || "(none)";
    section.append(element("h2", `${group.older}: ${older} → ${group.newer}: ${newer}`));
    for (const change of group.changes) {
      const block = element("div", undefined, `change ${change.kind}`);
      const items = element("ul");
      items.append(...change.items.map(itemLink));
      block.append(element("p", change.text), items);
      section.append(block);
    }
    list.append(section);
  }
}

async function load(section) {
  statusLine.textContent = "Loading…";
  const query = section ? `?section=${encodeURIComponent(section)}` : "";
  try {
    const response = await fetch(`/diff${query}`);
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    render(body.sections);
    const count = body.sections.length;
    statusLine.textContent = count ? `${count} section${count === 1 ? "" : "s"} with changes` : "No changes found.";
  } catch (error) {
    list.replaceChildren();
    statusLine.textContent = `Could not load the changes: ${error.message}`;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const section = input.value.trim();
  history.replaceState(null, "", section ? `?section=${encodeURIComponent(section)}` : "/changes");
  load(section);
});

input.value = new URLSearchParams(location.search).get("section") || "";
load(input.value.trim());
