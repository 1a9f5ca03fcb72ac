"""The openai backend (r1lab.generation.openai_client) against a scripted stand-in for the
`openai` package: the requests it sends, how it reads the answers, what it does when the server
refuses, fails or is not there. The real vLLM server is tests/test_generation_vllm.py (slow)."""

from __future__ import annotations

import asyncio
import sys
from types import ModuleType, SimpleNamespace

import pytest

from r1lab.errors import RecipeError
from r1lab.generation import Completion, Sampling, request_seed
from r1lab.generation.openai_client import SEED_SPACE, OpenAIGenerator, with_reasoning


class APIError(Exception):
    pass


class APIConnectionError(APIError):
    pass


class APIStatusError(APIError):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code, self.message = status_code, message


class Server:
    """What the stand-in client answers: `served` models, and `answer(kind, request)` for each
    completion request (kind "completions" or "chat"); records clients and requests."""

    def __init__(self, answer=None, served=("teacher",), listing=None) -> None:
        self.answer, self.served, self.listing = answer, list(served), listing
        self.clients, self.requests, self.closed = [], [], 0
        self.in_flight = self.most_in_flight = 0

    def module(self) -> ModuleType:
        server = self

        class Models:
            def list(self):
                if server.listing is not None:
                    raise server.listing
                return [SimpleNamespace(id=m) for m in server.served]

        class OpenAI:
            def __init__(self, **kwargs):
                server.clients.append(("sync", kwargs))
                self.models = Models()

        class Endpoint:
            def __init__(self, kind):
                self.kind = kind

            async def create(self, **request):
                server.requests.append((self.kind, request))
                server.in_flight += 1
                server.most_in_flight = max(server.most_in_flight, server.in_flight)
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                server.in_flight -= 1
                return server.answer(self.kind, request)

        class AsyncOpenAI:
            def __init__(self, **kwargs):
                server.clients.append(("async", kwargs))
                self.completions = Endpoint("completions")
                self.chat = SimpleNamespace(completions=Endpoint("chat"))

            async def close(self):
                server.closed += 1

        module = ModuleType("openai")
        module.OpenAI, module.AsyncOpenAI = OpenAI, AsyncOpenAI
        module.APIError, module.APIConnectionError = APIError, APIConnectionError
        module.APIStatusError = APIStatusError
        return module


def text_answer(kind, request):
    """A completion that names the prompt and the seed, its usage from their lengths."""
    text = f"re:{request['prompt']}@{request['seed']}"
    return SimpleNamespace(
        choices=[SimpleNamespace(text=text, finish_reason="length")],
        usage=SimpleNamespace(prompt_tokens=len(request["prompt"]), completion_tokens=len(text)),
    )


@pytest.fixture
def serve(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def start(server: Server, **options) -> OpenAIGenerator:
        monkeypatch.setitem(sys.modules, "openai", server.module())
        return OpenAIGenerator("teacher", **options)

    return start


# ---- the server check ---------------------------------------------------------------------------


def test_the_server_is_asked_for_its_models_once_quickly(serve, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-1")
    server = Server()
    gen = serve(
        server, base_url="http://h:9/v1/", api_key_env="MY_KEY", timeout=30.0, max_retries=3
    )
    assert gen.base_url == "http://h:9/v1"
    assert server.clients == [
        (
            "sync",
            {"base_url": "http://h:9/v1", "api_key": "sk-1", "timeout": 10.0, "max_retries": 1},
        )
    ]


def test_a_local_server_gets_a_placeholder_key(serve):
    server = Server()
    serve(server)
    assert server.clients[0][1]["api_key"] == "EMPTY"
    assert server.clients[0][1]["base_url"] == "http://localhost:8000/v1"


def test_nothing_answering_says_how_to_start_a_server(serve):
    cause = ConnectionRefusedError("refused")
    err = APIConnectionError("Connection error.")
    err.__cause__ = cause
    with pytest.raises(RecipeError) as raised:
        serve(Server(listing=err), base_url="http://h:9/v1")
    message = str(raised.value)
    assert message.startswith("no OpenAI-compatible server answers at http://h:9/v1 (refused). ")
    assert "--model teacher` (or `vllm serve teacher`)" in message


def test_nothing_answering_without_a_cause_names_the_error(serve):
    with pytest.raises(RecipeError, match=r"answers at http://h/v1 \(Connection error.\)"):
        serve(Server(listing=APIConnectionError("Connection error.")), base_url="http://h/v1")


def test_a_server_refusing_the_model_list_names_the_status(serve):
    with pytest.raises(RecipeError) as raised:
        serve(Server(listing=APIStatusError(401, "bad key")), base_url="http://h/v1")
    assert str(raised.value) == (
        "the server at http://h/v1 refused to list its models: HTTP 401 bad key; check "
        "generate.api_key_env and the URL"
    )


def test_a_server_serving_other_models_names_them(serve):
    with pytest.raises(RecipeError) as err:
        serve(Server(served=["a", "b"]), base_url="http://h/v1")
    assert str(err.value) == (
        "the server at http://h/v1 serves ['a', 'b'], not 'teacher'; set "
        "model.model_name_or_path to the served name"
    )


def test_a_server_listing_no_model_is_taken_at_its_word(serve):
    serve(Server(served=[]))


# ---- requests and answers -----------------------------------------------------------------------


def test_each_sample_is_one_request_seeded_per_prompt_and_sample(serve):
    server = Server(text_answer)
    gen = serve(server, base_url="http://h/v1", api_key_env="NONE", timeout=12.5, max_retries=4)
    out = gen.generate(["ab", "cde"], 2, Sampling(0.7, 0.8, 33, seed=5), ids=[9, 4])
    seeds = [[(request_seed(5, i) + j) % (1 << 63) for j in range(2)] for i in (9, 4)]
    assert out == [
        [Completion(f"re:{p}@{s}", "length", len(p), len(f"re:{p}@{s}")) for s in group]
        for p, group in zip(["ab", "cde"], seeds, strict=True)
    ]
    first = server.requests[0]
    assert first == (
        "completions",
        {
            "model": "teacher",
            "n": 1,
            "max_tokens": 33,
            "temperature": 0.7,
            "top_p": 0.8,
            "seed": seeds[0][0],
            "prompt": "ab",
        },
    )
    assert server.clients[1] == (
        "async",
        {"base_url": "http://h/v1", "api_key": "EMPTY", "timeout": 12.5, "max_retries": 4},
    )
    assert server.closed == 1


def test_seeds_wrap_into_the_servers_signed_64_bits(serve, monkeypatch):
    top = (1 << 63) - 2  # a prompt seed two under vLLM's limit: its samples 2 and 3 wrap
    monkeypatch.setattr("r1lab.generation.openai_client.request_seed", lambda seed, pid: top)
    server = Server(text_answer)
    serve(server).generate(["x"], 4, Sampling(seed=3))
    assert [r["seed"] for _, r in server.requests] == [top, top + 1, 0, 1]
    assert SEED_SPACE == 1 << 63


def test_ids_default_to_positions_and_no_seed_sends_none(serve):
    server = Server(text_answer)
    gen = serve(server)
    gen.generate(["a", "b"], 1, Sampling(seed=2))
    assert [r["seed"] for _, r in server.requests] == [request_seed(2, 0), request_seed(2, 1)]
    gen.generate(["a"], 1, Sampling())
    assert server.requests[-1][1]["seed"] is None


def test_greedy_asks_temperature_0_and_top_p_1(serve):
    server = Server(text_answer)
    serve(server).generate(["a"], 1, Sampling(temperature=0.6, top_p=0.5, greedy=True))
    assert (server.requests[0][1]["temperature"], server.requests[0][1]["top_p"]) == (0.0, 1.0)


def test_a_prompt_that_opens_the_thinking_gets_it_back(serve):
    server = Server(text_answer)
    out = serve(server).generate(["Q<think>\n"], 1, Sampling())
    assert out[0][0].text == "<think>\nre:Q<think>\n@None"


def test_missing_usage_and_finish_reason_read_as_zero_and_stop(serve):
    def bare(kind, request):
        return SimpleNamespace(choices=[SimpleNamespace(text="hi", finish_reason=None)], usage=None)

    assert serve(Server(bare)).generate(["a"], 1, Sampling()) == [[Completion("hi", "stop", 0, 0)]]


def chat_answer(**message):
    def answer(kind, request):
        assert kind == "chat"
        return SimpleNamespace(
            choices=[SimpleNamespace(message=SimpleNamespace(**message), finish_reason="stop")],
            usage=SimpleNamespace(prompt_tokens=7, completion_tokens=11),
        )

    return answer


def test_chat_prompts_go_to_the_chat_endpoint_as_messages(serve):
    server = Server(chat_answer(content="4"))
    chat = [{"role": "user", "content": "2+2?"}]
    out = serve(server).generate([chat], 1, Sampling(max_new_tokens=9))
    assert out == [[Completion("4", "stop", 7, 11)]]
    assert server.requests[0][1] == {
        "messages": chat,
        "model": "teacher",
        "n": 1,
        "max_tokens": 9,
        "temperature": 1.0,
        "top_p": 1.0,
        "seed": None,
    }


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_split_out_by_the_server_is_put_back(serve, field):
    server = Server(chat_answer(content=" 4", **{field: " so 4\n"}))
    out = serve(server).generate([[{"role": "user", "content": "2+2?"}]], 1, Sampling())
    assert out[0][0].text == "<think>\nso 4\n</think>\n\n4"


def test_with_reasoning_keeps_a_plain_answer_and_tolerates_none():
    assert with_reasoning("the answer", None) == "the answer"
    assert with_reasoning(None, "") == ""
    assert with_reasoning(None, "why") == "<think>\nwhy\n</think>\n\n"


def test_at_most_concurrency_requests_are_in_flight(serve):
    server = Server(text_answer)
    serve(server, concurrency=3).generate(["a", "b", "c", "d"], 2, Sampling())
    assert len(server.requests) == 8 and server.most_in_flight == 3


# ---- refusals and failures ----------------------------------------------------------------------


def refusing(status: int, message: str, prompts=("bad",)):
    """Refuses the `prompts` with `message` (and, from the second refusal on, its number)."""
    refused = []

    def answer(kind, request):
        if request["prompt"] in prompts:
            refused.append(request)
            raise APIStatusError(
                status, message + (f" #{len(refused)}" if len(refused) > 1 else "")
            )
        return text_answer(kind, request)

    return answer


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_refused_request_is_an_empty_error_sample_and_counted(serve, capsys, status):
    server = Server(refusing(status, "prompt too long"))
    out = serve(server, base_url="http://h/v1").generate(["ok", "bad"], 2, Sampling())
    assert [c.text[:3] for c in out[0]] == ["re:", "re:"]
    assert out[1] == [Completion("", "error", 0, 0)] * 2  # not the server's message
    assert capsys.readouterr().out == (
        "[r1lab] 2 of 4 requests refused by http://h/v1, kept as empty samples "
        f"(finish_reason=error); first: HTTP {status}: prompt too long\n"
    )


def test_the_default_key_variable_retries_and_concurrency(serve, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-default")
    server = Server(text_answer)
    serve(server).generate([f"p{i}" for i in range(70)], 1, Sampling())
    assert server.clients[1] == (
        "async",
        {
            "base_url": "http://localhost:8000/v1",
            "api_key": "sk-default",
            "timeout": 600.0,
            "max_retries": 5,
        },
    )
    assert server.most_in_flight == 64


def test_all_answered_prints_nothing(serve, capsys):
    serve(Server(text_answer)).generate(["a"], 2, Sampling())
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_a_request_failing_after_its_retries_stops_the_shard_with_how_to_resume(serve, status):
    server = Server(refusing(status, "busy"))
    gen = serve(server, base_url="http://h/v1", max_retries=2)
    with pytest.raises(RecipeError) as raised:
        gen.generate(["ok", "bad"], 1, Sampling())
    assert str(raised.value) == (
        f"the server at http://h/v1 answered HTTP {status} after 2 retries: busy. Samples of "
        "finished shards are kept; rerun the same command to resume"
    )
    assert server.closed == 1


def test_a_server_that_stops_answering_stops_the_shard_with_how_to_resume(serve):
    def gone(kind, request):
        raise APIConnectionError("Connection error.")

    server = Server(gone)
    with pytest.raises(RecipeError) as raised:
        serve(server, base_url="http://h/v1", max_retries=6).generate(["a"], 1, Sampling())
    assert str(raised.value) == (
        "the server at http://h/v1 stopped answering (Connection error.) after 6 retries. Samples "
        "of finished shards are kept; rerun the same command to resume"
    )
    assert server.closed == 1
