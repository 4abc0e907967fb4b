"""What two editions say on a question's topic, read off the edition alignment (rag.index.alignment).

The topic is, in each edition, the lists the answer quoted items of (or, when it quoted
no item, the sections of its sentences). Over the aligned items of the topic, the
comparison states:
- what both editions name: matched items whose name is in both matched texts;
- what changed: two list items matched only to each other, named differently, where
  one's text holds every content word of the other's name ("Azure AI" → "Microsoft
  Azure: … Azure AI …");
- what only one edition has: list items the alignment matches to nothing, whose name
  the other edition does not mention anywhere, and that no item name of the other
  edition contains or is part of ("Model Quantization" is not new beside "Quantization").
Names are whole item names (a list item's term), never words picked out of prose. Each
claim carries the items it rests on, so the answer cites each name into its own edition,
and the names it attributes to each edition (rag.answer.attribution checks them).
Matched nodes that do not meet these tests are not stated at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rag.answer.attribution import mentions
from rag.core.text import terms
from rag.index.alignment import EditionPair, Node

MAX_NAMES = 5
MAX_CHANGES = 3


@dataclass(frozen=True)
class Topic:
    """Where in one edition the question's answer lies: the lists it quoted items of, or else
    the sections of the sentences it quoted."""

    blocks: frozenset[int]
    sections: frozenset[str]

    @classmethod
    def of(cls, places: Iterable[tuple[str, int, bool]]) -> Topic:
        """From the quoted sentences' (section, block, is a list item)."""
        places = list(places)
        return cls(frozenset(b for _, b, item in places if item), frozenset(s for s, _, _ in places))

    def holds(self, node: Node) -> bool:
        return node.block in self.blocks if self.blocks else node.section in self.sections


@dataclass(frozen=True)
class Claim:
    """One generated sentence (without markers), the names it attributes to each edition, and the
    items it rests on (to be cited, each into its own edition)."""

    kind: str  # "both", "changed" or "only"
    text: str
    names: dict[str, tuple[str, ...]]
    nodes: tuple[Node, ...]


def compare(pair: EditionPair, older: Topic, newer: Topic, guide_text: Callable[[str], str],
            max_names: int | None = MAX_NAMES, citable: Callable[[Node], bool] = lambda node: True,
            asked: frozenset[str] = frozenset()) -> list[Claim]:
    """The claims the alignment supports about the topic, naming at most `max_names` items a claim
    (None: all) and only `citable` items; `guide_text(doc)` is a whole guide's text. A name made only
    of the question's own terms (`asked`) is not said to be in both: "Which ETL tools …?" → "Both
    guides name ETL." tells the reader nothing."""
    shared: list[tuple[str, Node, Node]] = []
    changed: list[tuple[Node, Node]] = []
    alone: dict[str, list[Node]] = {pair.older: [], pair.newer: []}
    names = {doc: {x.name for m in pair.items for x in (m.older, m.newer) if x and x.doc == doc and x.is_list_item}
             for doc in (pair.older_doc, pair.newer_doc)}
    for m in pair.items:
        o, n = m.older, m.newer
        if not ((o is not None and older.holds(o)) or (n is not None and newer.holds(n))):
            continue
        if not all(citable(x) for x in (o, n) if x is not None):
            continue
        if o is not None and n is not None:
            name = next((x.name for x in (o, n) if x.name and mentions(o.text, x.name) and mentions(n.text, x.name)), None)
            if name and not set(terms([name])[0]) <= asked:
                shared.append((name, o, n))
            elif _renamed(pair, o, n):
                changed.append((o, n))
        else:
            node = o or n
            other = pair.newer_doc if o is not None else pair.older_doc
            if node is not None and node.is_list_item and not _known(node.name or "", guide_text(other), names[other]):
                alone[node.edition].append(node)
    return _claims(pair, shared, changed, alone, max_names)


def _claims(pair: EditionPair, shared: list[tuple[str, Node, Node]], changed: list[tuple[Node, Node]],
            alone: dict[str, list[Node]], max_names: int | None) -> list[Claim]:
    claims = []
    shared = _distinct_names(shared)[:max_names]
    if shared:
        names = tuple(name for name, _, _ in shared)
        claims.append(Claim("both", f"Both guides name {_join(names)}.", {pair.older: names, pair.newer: names},
                            tuple(x for _, o, n in shared for x in (o, n))))
    for o, n in changed[:max_names and MAX_CHANGES]:
        claims.append(Claim("changed", f"What the {pair.older} guide calls {o.name}, the {pair.newer} guide covers as {n.name}.",
                            {pair.older: (o.name or "",), pair.newer: (n.name or "",)}, (o, n)))
    for edition, verb in ((pair.older, "names"), (pair.newer, "adds" if shared or changed else "names")):
        nodes = alone[edition][:max_names]
        if nodes:
            names = tuple(x.name or "" for x in nodes)
            claims.append(Claim("only", f"Only the {edition} guide {verb} {_join(names)}.", {edition: names}, tuple(nodes)))
    return claims


def _distinct_names(shared: list[tuple[str, Node, Node]]) -> list[tuple[str, Node, Node]]:
    seen: set[str] = set()
    kept = []
    for entry in shared:
        if entry[0].casefold() not in seen:
            seen.add(entry[0].casefold())
            kept.append(entry)
    return kept


def _renamed(pair: EditionPair, o: Node, n: Node) -> bool:
    """Two list items matched only to each other, where one's text holds every content word of
    the other's name."""
    if not (o.is_list_item and n.is_list_item) or pair.partners(o) != [n] or pair.partners(n) != [o]:
        return False
    old_name, new_name, old_text, new_text = (set(t) for t in terms([o.name or "", n.name or "", o.text, n.text]))
    return bool(old_name) and bool(new_name) and (old_name <= new_text or new_name <= old_text)


def _known(name: str, other_text: str, other_names: set[str | None]) -> bool:
    """Whether the other edition names `name`: in its text, or as (part of) one of its item names."""
    return mentions(other_text, name) or any(x and (mentions(name, x) or mentions(x, name)) for x in other_names)


def _join(names: Iterable[str]) -> str:
    """"A, B and C"; "A; B; and C" when a name has an "and" of its own."""
    names = list(names)
    if len(names) == 1:
        return names[0]
    if any(" and " in n for n in names):
        return f"{'; '.join(names[:-1])}; and {names[-1]}"
    return f"{', '.join(names[:-1])} and {names[-1]}"
