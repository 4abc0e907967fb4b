"""`rag mcp` through the official MCP SDK's own stdio client: a real subprocess, the real index."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parents[1]


def call_server(index: Path, calls: list[tuple[str, dict]]):
    """Start `rag mcp` over stdio, list its tools, make `calls`; returns (tools, results, its instructions, its version)."""

    async def session() -> tuple:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "cli.main", "mcp", "--index", str(index), "--corpus", str(ROOT / "corpus")],
            env=env, cwd=str(ROOT),
        )
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as client:
                init = await client.initialize()
                tools = (await client.list_tools()).tools
                results = [await client.call_tool(name, arguments) for name, arguments in calls]
        return tools, results, init.instructions, init.server_info.version

    return anyio.run(session)


@pytest.fixture(scope="module")
def session(built_index: Path):
    calls = [
        ("search_guides", {"query": "vector databases", "k": 3}),
        ("ask_guides", {"question": "Which MLOps tools should I learn?"}),
        ("ask_guides", {"question": "Is Rust good for machine learning?"}),
        ("search_guides", {"query": "vector databases", "k": 0}),
        ("search_guides", {"k": 3}),
        ("ask_guides", {"question": "   "}),
        ("ask_guides", {"question": "Which ones does it name?",
                        "earlier_questions": ["What does the 2024 guide say about vector databases?"]}),
        ("ask_guides", {"question": "Which ones does it name?", "earlier_questions": "vector databases"}),
        ("ask_guides", {"question": "\u0085\u00a0"}),
        ("search_guides", {"query": "vector databases", "k": 51}),
    ]
    return call_server(built_index, calls)


def test_lists_both_tools_with_schemas(session) -> None:
    tools, *_ = session
    by_name = {t.name: t for t in tools}
    assert set(by_name) == {"search_guides", "ask_guides"}
    assert by_name["search_guides"].input_schema["required"] == ["query"]
    assert "k" in by_name["search_guides"].input_schema["properties"]
    assert by_name["ask_guides"].input_schema["required"] == ["question"]
    assert "citations" in by_name["ask_guides"].output_schema["properties"]


def test_search_returns_passages_as_text_and_structured(session) -> None:
    _, (search, *_), _, _ = session
    assert not search.is_error
    results = search.structured_content["results"]
    assert len(results) == 3
    assert any("Pinecone" in r["text"] for r in results)
    assert results[0]["text"] in search.content[0].text and results[0]["section"] in search.content[0].text


def test_ask_returns_a_cited_answer(session) -> None:
    _, (_, ask, *_), _, _ = session
    data = ask.structured_content
    assert not ask.is_error and not data["abstained"]
    assert "[1]" in data["answer"] and data["citations"][0]["n"] == 1
    assert ask.content[0].text.startswith(data["answer"])
    assert "kubernetes" in data["answer"].lower() or "mlflow" in data["answer"].lower()


def test_ask_abstains_with_the_nearest_passages(session) -> None:
    _, (_, _, rust, *_), _, _ = session
    assert not rust.is_error
    assert rust.structured_content["abstained"] and rust.structured_content["nearest"]
    assert "Rust" in rust.content[0].text


def test_ask_reads_a_follow_up_in_the_context_of_the_earlier_questions(session) -> None:
    _, results, *_ = session
    followup = results[6].structured_content
    assert not results[6].is_error and not followup["abstained"]
    assert "pinecone" in followup["answer"].lower()
    assert {c["edition"] for c in followup["citations"]} == {"2024"}


@pytest.mark.parametrize(("position", "says"), [(3, "k"), (4, "query"), (5, "empty"), (7, "earlier_questions"),
                                               (8, "empty"), (9, "less than or equal to 50")])
def test_bad_arguments_are_tool_errors_that_say_what_is_wrong(session, position: int, says: str) -> None:
    _, results, *_ = session
    bad = results[position]
    assert bad.is_error
    assert says in bad.content[0].text
    assert "errors.pydantic.dev" not in bad.content[0].text


def test_the_server_reports_the_project_version(session) -> None:
    *_, version = session
    assert version == importlib.metadata.version("guides-qa")


def test_the_instructions_name_the_indexed_guides(session) -> None:
    *_, instructions, _ = session
    assert "Essential Machine Learning Skills" in instructions and "2026" in instructions


def test_a_line_that_is_not_json_rpc_gets_a_json_rpc_error(built_index: Path) -> None:
    """Malformed JSON and a lone surrogate (valid JSON to Python, not to the SDK) each get an error reply."""
    lines = [b"this is not json\n",
             b'{"jsonrpc": "2.0", "id": 7, "method": "ping", "params": {"x": "\\ud800"}}\n',
             b'{"jsonrpc": "2.0", "id": 8, "method": "ping"}\n']
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    # stdin stays open until the three replies are read: at end of input the server stops, and a
    # request still in flight when it does would go unanswered (that is not what is tested here).
    with subprocess.Popen([sys.executable, "-m", "cli.main", "mcp", "--index", str(built_index),
                           "--corpus", str(ROOT / "corpus")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=env, cwd=str(ROOT)) as server:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(b"".join(lines))
        server.stdin.flush()
        replies = [json.loads(server.stdout.readline()) for _ in lines]
        server.stdin.close()
        server.wait(timeout=60)
    assert [r.get("id") for r in replies] == [None, 7, 8], replies
    assert replies[0]["error"]["code"] == -32700 and replies[1]["error"]["code"] == -32700
    assert "jsonrpc" in replies[2]  # the server still answers after both
