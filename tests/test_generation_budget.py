"""Budget forcing (r1lab.generation.budget) over a scripted backend with a byte tokenizer (one token
per UTF-8 byte): the settings it accepts, the rounds it asks for, the text and counts it returns.
The same forcing on the real tiny model is tests/test_budget.py (slow)."""

from __future__ import annotations

import re

import pytest

from r1lab.errors import RecipeError
from r1lab.generation.base import Completion, Sampling, request_seed, think_prefix
from r1lab.generation.budget import (
    Budget,
    BudgetGenerator,
    capped,
    opening,
    spaced,
    wrap,
)

TAGS = {"<think>": 256, "</think>": 257}


def encode(text: str) -> list[int]:
    ids: list[int] = []
    for part in re.split("(</think>|<think>)", text):
        ids += [TAGS[part]] if part in TAGS else list(part.encode())
    return ids


def tokens(text: str) -> int:
    return len(encode(text))


class Bytes:
    """One token per UTF-8 byte, `<think>` and `</think>` one token each (as in R1's tokenizer);
    special tokens add a BOS (id 1); a chat turn renders as `<role>content` and opens the thinking
    (as R1-Distill's template does)."""

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        assert isinstance(add_special_tokens, bool)
        return {"input_ids": ([1] if add_special_tokens else []) + encode(text)}

    def decode(self, ids: list[int]) -> str:
        names = {v: k for k, v in TAGS.items()}
        out, run = "", b""
        for i in [*ids, None]:
            if i is None or i in names:
                out, run = out + run.decode(errors="replace") + names.get(i, ""), b""
            else:
                run += bytes([i])
        return out

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False) -> str:
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant><think>\n"


class Backend:
    """A raw-text backend: each request's sample gets the next scripted reply, which a stop string
    ends (kept, finish "stop") and max_new_tokens cuts (finish "length"); a reply given as
    (text, finish) is returned with that finish. Like vllm and hf, the rendered prompt's
    `think_prefix` is put in front of the text. Records every request."""

    def __init__(self, *replies) -> None:
        self.replies, self.calls, self.tokenizer = list(replies), [], Bytes()

    def generate(self, prompts, n, sampling, ids=None):
        self.calls.append({"prompts": list(prompts), "n": n, "sampling": sampling, "ids": ids})
        out = []
        for p in prompts:
            group = []
            for _ in range(n):
                reply = self.replies.pop(0)
                if isinstance(reply, tuple):
                    text, finish = reply
                else:
                    text, finish = reply, "stop"
                    for s in sampling.stop:
                        if s in text:
                            text = text[: text.index(s) + len(s)]
                    if tokens(text) > sampling.max_new_tokens:
                        text = self.tokenizer.decode(encode(text)[: sampling.max_new_tokens])
                        finish = "length"
                group.append(Completion(think_prefix(p) + text, finish, tokens(p), tokens(text)))
            out.append(group)
        return out


def forced(
    budget: Budget, *replies, prompts=("Q? ",), n=1, max_new_tokens=100, seed=None, ids=None
):
    backend = Backend(*replies)
    sampling = Sampling(max_new_tokens=max_new_tokens, seed=seed)
    out = BudgetGenerator(backend, budget).generate(list(prompts), n, sampling, ids)
    assert not backend.replies, f"replies never asked for: {backend.replies}"
    return out, backend.calls


# ---- the setting --------------------------------------------------------------------------------


def test_no_section_is_no_budget():
    assert Budget.parse(None, "hf") is None


def test_a_mapping_becomes_a_budget_with_its_values():
    budget = Budget.parse({"max_think_tokens": 300, "min_think_tokens": 20, "max_waits": 3}, "vllm")
    assert budget == Budget(
        max_think_tokens=300, min_think_tokens=20, wait_text="Wait", max_waits=3
    )


def test_a_budget_given_as_one_is_taken_as_is():
    budget = Budget(max_think_tokens=70, wait_text="Hmm")
    assert Budget.parse(budget, "hf") is budget


def test_a_section_that_is_no_mapping_is_refused_with_an_example():
    with pytest.raises(RecipeError) as err:
        Budget.parse(4096, "hf")
    assert str(err.value) == (
        "generate.budget=4096 must be a mapping, e.g. {max_think_tokens: 4096, min_think_tokens: "
        "1024, wait_text: Wait, max_waits: 2}"
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"max_think_tokens": True},
            "generate.budget.max_think_tokens=True must be a whole number",
        ),
        ({"max_think_tokens": 2.5}, "generate.budget.max_think_tokens=2.5 must be a whole number"),
        ({"min_think_tokens": "9"}, "generate.budget.min_think_tokens='9' must be a whole number"),
        (
            {"max_think_tokens": 9, "max_waits": None},
            "generate.budget.max_waits=None must be a whole",
        ),
        ({"max_think_tokens": 0}, "generate.budget.max_think_tokens=0 must be >= 1"),
        ({"min_think_tokens": -3}, "generate.budget.min_think_tokens=-3 must be >= 0"),
        ({"max_think_tokens": 9, "max_waits": -1}, "generate.budget.max_waits=-1 must be >= 0"),
        (
            {"max_think_tokens": 9, "wait_text": " \n"},
            r"generate.budget.wait_text=' \\n' must be some",
        ),
        ({"max_think_tokens": 9, "wait_text": 7}, "generate.budget.wait_text=7 must be some text"),
        ({"max_think_tokens": 9, "wait_text": "ok</think>"}, "wait_text must not hold </think>"),
    ],
)
def test_a_bad_budget_value_is_named_with_its_rule(section, message):
    with pytest.raises(RecipeError, match=message):
        Budget.parse(section, "hf")


def test_every_bad_budget_value_is_named_at_once():
    with pytest.raises(RecipeError) as err:
        Budget.parse({"max_think_tokens": 0, "min_think_tokens": -2, "max_waits": 1.5}, "hf")
    assert str(err.value) == (
        "generate.budget.max_think_tokens=0 must be >= 1; "
        "generate.budget.min_think_tokens=-2 must be >= 0; "
        "generate.budget.max_waits=1.5 must be a whole number"
    )


def test_a_minimum_of_zero_and_a_minimum_equal_to_the_maximum_are_allowed():
    assert (
        Budget.parse({"max_think_tokens": 30, "min_think_tokens": 30}, "hf").min_think_tokens == 30
    )
    assert Budget.parse({"max_think_tokens": 1, "min_think_tokens": 0}, "hf").max_think_tokens == 1
    assert Budget.parse({"min_think_tokens": 5, "max_waits": 0}, "hf").max_waits == 0


def test_a_minimum_over_the_maximum_is_refused():
    with pytest.raises(RecipeError) as err:
        Budget.parse({"max_think_tokens": 30, "min_think_tokens": 31}, "hf")
    assert str(err.value) == (
        "generate.budget.min_think_tokens=31 exceeds max_think_tokens=30: the thinking cannot be "
        "both longer and shorter"
    )


@pytest.mark.parametrize(
    "section", [{}, {"min_think_tokens": 0}, {"wait_text": "Hmm", "max_waits": 4}]
)
def test_a_budget_that_bounds_nothing_is_no_budget(section):
    assert Budget.parse(section, "openai") is None


@pytest.mark.parametrize("section", [{"max_think_tokens": 8}, {"min_think_tokens": 8}])
def test_a_budget_is_refused_on_the_openai_backend(section):
    with pytest.raises(RecipeError) as err:
        Budget.parse(section, "openai")
    assert str(err.value) == (
        "generate.budget: budget forcing runs on the vllm and hf backends, not openai (a served "
        "chat turn cannot be continued part-way, and the thinking's tokens are counted with the "
        "model's own tokenizer); use generate.backend=vllm or hf, or leave generate.budget out"
    )


def test_the_record_holds_every_setting():
    record = Budget(max_think_tokens=64, min_think_tokens=8, wait_text="Hm", max_waits=2).record()
    assert record == {
        "max_think_tokens": 64,
        "min_think_tokens": 8,
        "wait_text": "Hm",
        "max_waits": 2,
    }


def test_capped_keeps_the_budgets_other_settings():
    base = Budget(max_think_tokens=900, min_think_tokens=50, wait_text="Hmm", max_waits=3)
    assert capped(base, 200, "hf") == Budget(200, 50, "Hmm", 3)
    assert capped(None, 120, "vllm") == Budget(max_think_tokens=120)


def test_a_cap_under_the_minimum_is_refused():
    with pytest.raises(RecipeError, match="exceeds"):
        capped(Budget(min_think_tokens=50), 40, "hf")


def test_spaced_ends_a_thought_in_whitespace():
    assert spaced("so 6") == "so 6 "
    assert spaced("so 6\n") == "so 6\n"
    assert spaced("") == ""


def test_opening_splits_off_the_models_own_think_tag_with_its_space():
    assert opening(" \n<think>so 6") == (" \n<think>", "so 6")
    assert opening("so <think> 6") == ("", "so <think> 6")


def test_wrap_without_a_budget_is_the_generator_itself():
    backend = Backend()
    assert wrap(backend, None) is backend
    held = wrap(backend, Budget(max_think_tokens=5))
    assert isinstance(held, BudgetGenerator) and held.inner is backend
    assert held.budget == Budget(max_think_tokens=5)


def test_cut_keeps_the_first_tokens_and_never_half_a_character():
    gen = BudgetGenerator(Backend(), Budget(max_think_tokens=5))
    assert gen.cut("abcdef", 4) == "abcd"
    assert gen.cut("abé", 4) == "abé"  # é is two bytes
    assert gen.cut("abé", 3) == "ab"  # half of é would decode to U+FFFD, three bytes
    assert gen.cut("abc", -2) == ""


# ---- the rounds ---------------------------------------------------------------------------------


def test_thinking_is_cut_at_the_maximum_then_closed_and_answered():
    out, calls = forced(Budget(max_think_tokens=10), "abc def ghi jkl</think>", " 42")
    # 10 tokens of thinking ("abc def gh"), then `</think>` as a word of its own within them
    text = "abc def g </think> 42"
    assert out == [[Completion(text, "stop", tokens("Q? "), tokens(text) + 1)]]  # + end of sequence
    first, second = calls
    assert (first["sampling"].max_new_tokens, first["sampling"].stop) == (10, ("</think>",))
    assert second["prompts"] == ["Q? abc def g </think>"]
    assert (second["sampling"].max_new_tokens, second["sampling"].stop) == (
        100 - tokens("abc def g </think>"),
        (),
    )


def test_an_early_end_of_thinking_is_replaced_by_the_wait_text_max_waits_times():
    budget = Budget(min_think_tokens=40, wait_text="Wait", max_waits=2)
    out, calls = forced(budget, "ab</think>x", "cd</think>y", "ef</think>z", " done")
    assert [c.text for c in out[0]] == ["abWaitcdWaitef </think> done"]
    assert [c["prompts"][0][len("Q? ") :] for c in calls] == [
        "",
        "abWait",
        "abWaitcdWait",
        "abWaitcdWaitef </think>",
    ]


def test_a_thought_long_enough_keeps_its_end():
    out, calls = forced(Budget(min_think_tokens=3), "abc</think>", " 7")
    assert out[0][0].text == "abc </think> 7" and len(calls) == 2


@pytest.mark.parametrize(("high", "text"), [(8, "abcWait </think> 9"), (7, "abc </think> 9")])
def test_the_wait_text_is_added_only_where_it_fits_the_maximum(high, text):
    budget = Budget(max_think_tokens=high, min_think_tokens=5, wait_text="Wait ")
    out, _ = forced(budget, "abc</think>", " 9")  # "abcWait " is 8 tokens
    assert out[0][0].text == text


def test_the_models_own_think_tag_is_no_thinking():
    out, calls = forced(Budget(max_think_tokens=10), "<think>abcdefghijkl", "jklm", " ok")
    assert out[0][0].text == "<think>abcdefghi </think> ok"
    assert calls[1]["sampling"].max_new_tokens == 1  # 10 - "abcdefghi"


def test_round_zero_asks_once_with_the_runs_seed_later_rounds_per_sample():
    out, calls = forced(
        Budget(max_think_tokens=3),
        *["abcd", "efgh", "ijkl", "mnop", " 1", " 2", " 3", " 4"],
        prompts=("P? ", "R? "),
        n=2,
        seed=5,
        ids=[7, 3],
    )
    assert [[c.text for c in g] for g in out] == [
        ["ab </think> 1", "ef </think> 2"],
        ["ij </think> 3", "mn </think> 4"],
    ]
    first, second = calls
    assert (first["prompts"], first["n"], first["ids"], first["sampling"].seed) == (
        ["P? ", "R? "],
        2,
        [7, 3],
        5,
    )
    assert second["prompts"] == [
        "P? ab </think>",
        "P? ef </think>",
        "R? ij </think>",
        "R? mn </think>",
    ]
    assert (second["n"], second["ids"]) == (1, [14, 15, 6, 7])
    assert second["sampling"].seed == request_seed(5, 1) != 5


def test_unseeded_rounds_stay_unseeded():
    _, calls = forced(Budget(max_think_tokens=3), "abcd", " 1")
    assert [c["sampling"].seed for c in calls] == [None, None]


def test_ids_default_to_the_prompts_positions():
    _, calls = forced(
        Budget(max_think_tokens=3), "abcd", "efgh", " 1", " 2", prompts=("P? ", "R? "), seed=1
    )
    assert calls[0]["ids"] == [0, 1] and calls[1]["ids"] == [0, 1]


def test_a_chat_prompt_is_rendered_and_its_opened_thinking_given_back():
    chat = [{"role": "user", "content": "2+2?"}]
    rendered = "<user>2+2?<assistant><think>\n"
    out, calls = forced(Budget(max_think_tokens=4), "four!", " 4", prompts=(chat,))
    assert calls[0]["prompts"] == [rendered]
    # 4 thinking tokens, the space before `</think>` among them
    text = "fou </think> 4"
    assert out == [[Completion("<think>\n" + text, "stop", tokens(rendered), tokens(text) + 1)]]


def test_a_sequence_ended_inside_the_thinking_ends_the_sample():
    out, calls = forced(Budget(max_think_tokens=50), "abc")
    assert out == [[Completion("abc", "stop", 3, 4)]] and len(calls) == 1  # + the end of sequence


def test_a_sample_out_of_new_tokens_while_thinking_ends_cut():
    out, calls = forced(Budget(max_think_tokens=50), "abcdefghij", max_new_tokens=6)
    assert out == [[Completion("abcdef", "length", 3, 6)]] and len(calls) == 1


def test_an_answer_cut_at_max_new_tokens_ends_cut_without_an_end_of_sequence():
    out, _ = forced(Budget(max_think_tokens=2), "abc", " the answer", max_new_tokens=9)
    # "a </think>" is 3 tokens: 6 of the 9 are left for the answer
    assert out == [[Completion("a </think> the a", "length", 3, 9)]]


def test_a_thinking_budget_spent_with_no_tokens_left_ends_cut():
    # 5 tokens of thinking spend all 5 new tokens; no room for `</think>`
    out, calls = forced(Budget(max_think_tokens=5), "abcdefgh", max_new_tokens=5)
    assert out == [[Completion("abcd </think>", "length", 3, 6)]] and len(calls) == 1


def test_out_of_rounds_is_out_of_tokens():
    out, calls = forced(
        Budget(max_think_tokens=1000, max_waits=2), *[("ab", "length")] * 10, max_new_tokens=1000
    )
    assert out == [[Completion("ab" * 10, "length", 3, 20)]] and len(calls) == 2 + 8


def test_thinking_and_answering_samples_are_asked_apart_each_cut_at_its_own_budget():
    out, calls = forced(
        Budget(max_think_tokens=6),
        "ab</think>",  # sample 0 closes its thinking: it answers next
        ("abc", "length"),  # sample 1 has 3 thinking tokens left
        "defghij",  # sample 1's thinking: 3 tokens
        " x",  # sample 0's answer
        " y",  # sample 1's answer
        n=2,
    )
    assert [c.text for c in out[0]] == ["ab </think> x", "abcde </think> y"]
    thinking, answering = calls[1], calls[2]
    assert (thinking["sampling"].stop, thinking["sampling"].max_new_tokens) == (("</think>",), 3)
    assert (answering["sampling"].stop, answering["sampling"].max_new_tokens) == (
        (),
        100 - tokens("ab </think>"),
    )
    assert (thinking["ids"], answering["ids"]) == ([1], [0])


def test_a_round_asks_for_the_most_any_sample_has_left_and_cuts_the_others():
    out, calls = forced(
        Budget(max_think_tokens=8),
        ("abcde", "length"),  # 3 left
        ("a", "length"),  # 7 left
        "fghijkl",  # cut at 3
        "bcdefghij",  # cut at 7
        " 1",
        " 2",
        n=2,
    )
    assert calls[1]["sampling"].max_new_tokens == 7
    assert [c.text for c in out[0]] == ["abcdefg </think> 1", "abcdefg </think> 2"]


def test_an_unknown_budget_key_is_named_with_its_section():
    with pytest.raises(RecipeError, match="^generate.budget.max_tokens: unknown key"):
        Budget.parse({"max_tokens": 9}, "hf")


def test_cut_to_less_than_a_character_is_empty():
    assert BudgetGenerator(Backend(), Budget(max_think_tokens=5)).cut("éa", 1) == ""


@pytest.mark.parametrize(("max_new_tokens", "text"), [(5, "abc </think>"), (6, "abc </think> ")])
def test_the_answer_gets_exactly_the_tokens_left(max_new_tokens, text):
    # "abc </think>" is 5 tokens: none left for the answer, or one
    replies = ["abc</think>"] + ([" 42"] if max_new_tokens == 6 else [])
    out, calls = forced(Budget(max_think_tokens=50), *replies, max_new_tokens=max_new_tokens)
    assert out == [[Completion(text, "length", 3, tokens(text))]]
    assert len(calls) == len(replies)


def test_a_thinking_sample_with_one_token_left_is_asked_for_it():
    out, calls = forced(Budget(max_think_tokens=50), ("abcd", "length"), "efg", max_new_tokens=5)
    assert out == [[Completion("abcde", "length", 3, 5)]]
    assert calls[1]["sampling"].max_new_tokens == 1


def test_a_sample_out_of_tokens_does_not_hold_up_the_others_in_its_round():
    out, calls = forced(
        Budget(max_think_tokens=50),
        "abc</think>",  # sample 0: "abc </think>" spends its 5 tokens
        ("ab", "length"),  # sample 1 thinks on
        "c</think>",
        n=2,
        max_new_tokens=5,
        seed=4,
    )
    assert [c.text for c in out[0]] == ["abc </think>", "abc </think>"]
    assert [c["sampling"].seed for c in calls] == [4, request_seed(4, 1)]


def test_an_empty_thought_without_a_minimum_stands():
    out, _ = forced(Budget(max_think_tokens=20), "</think>", " 3")
    assert out[0][0].text == "</think> 3"


@pytest.mark.parametrize(
    ("reply", "text"),
    [
        ("ghij</think>", "abcdefghij </think>"),  # its thought ends on its last token: closed
        ("ghijkl", "abcdefghij"),  # cut at its last token: no room to close it
    ],
)
def test_a_sample_with_fewer_tokens_left_than_its_round_is_cut_at_its_own(reply, text):
    out, calls = forced(
        Budget(max_think_tokens=100),
        ("abcdef", "length"),  # sample 0: 4 tokens left
        ("ab", "length"),  # sample 1: 8 left, what the round asks for
        reply,
        "cd</think>",
        " 5",
        n=2,
        max_new_tokens=10,
    )
    assert calls[1]["sampling"].max_new_tokens == 8
    assert out[0][0] == Completion(text, "length", 3, tokens(text))
    assert out[0][1].text == "abcd </think> 5"
