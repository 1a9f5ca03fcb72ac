"""Exact values for each row of the reward table (DESIGN.md section 3, docs/rewards.md)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r1lab.rewards import get_reward
from r1lab.rewards.answers import extract_answer, last_boxed, plain_number, tag_block, thinking
from r1lab.rewards.text import completion_text, lengths


def one(name, text, **columns):
    params = columns.pop("params", {})
    return get_reward(name, **params)([text], **{k: [v] for k, v in columns.items()})[0]


# ---- answer extraction -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, answer",
    [
        ("<think>x</think> <answer> 46 </answer>", "46"),
        ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("<answer> so \\boxed{3} </answer>", "3"),
        ("\\boxed{3} <answer>5</answer>", "3"),  # the last \boxed wins over the <answer> block
        ("<answer>1</answer> <answer> 2 </answer>", "2"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("\\boxed{a{b}c} and \\boxed{unclosed", "a{b}c"),
        ("\\boxed{\\left\\{ x \\right.}", "\\left\\{ x \\right."),  # an escaped brace is literal
        ("\\fbox{7}", "7"),
        ("<answer>unclosed", None),
        ("no answer at all", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_unclosed_braces_are_linear():
    assert last_boxed("\\boxed{" * 5000) is None
    assert last_boxed("\\boxed{" + "{" * 100_000 + "}" * 100_001) == "{" * 100_000 + "}" * 100_000


def test_thinking_and_plain_numbers():
    assert thinking("<think> a b </think><answer>c</answer>") == " a b "
    assert thinking("<think> open") == " open"
    assert thinking("no tags") == "no tags"
    assert plain_number(" 46.0 ") == plain_number("46")
    assert plain_number("1e5") is None and plain_number("1/2") is None


def test_thinking_is_the_first_think_block():
    assert thinking("preamble <think> a </think> b") == " a "
    assert thinking("<think> a </think> b </think>") == " a "
    assert thinking("<think> a </think><think> b </think>") == " a "
    assert thinking("</think> stray <think> a </think>") == " a "


def test_thinking_without_an_opening_tag_ends_at_the_first_close():
    # chat templates that open <think> in the prompt: the completion starts inside the block
    assert thinking("a b </think><answer>c</answer>") == "a b "
    assert thinking("a </think> b </think>") == "a "
    assert thinking("</think><answer>c</answer>") == ""


# ---- completion text and lengths -----------------------------------------------------------


def test_completion_text_is_the_assistants_text_only():
    messages = [
        {"role": "user", "content": "question"},
        {"role": "assistant", "content": "one "},
        {"content": "two"},  # no role: TRL's completions are the assistant's
    ]
    assert completion_text(messages) == "one two"
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    parts = [{"type": "text", "text": "a "}, {"type": "image"}, "b", {"type": "text", "text": 3}]
    assert completion_text([{"role": "assistant", "content": parts}]) == "a b"
    assert completion_text([{"role": "assistant", "content": None}, "not a message"]) == ""
    assert completion_text({"content": 7}) == "7"
    assert completion_text(None) == ""
    assert completion_text(42) == "42"


def test_lengths_are_tokens_where_ids_are_given_else_characters():
    assert lengths(["abc", "de"], [[1, 2, 3, 4], None]) == [4, 2]
    assert lengths(["abc", "de"], [[1]]) == [3, 2]  # ids for another batch: characters
    assert lengths(["abc", "de"], None) == [3, 2]


# ---- accuracy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion, solution, expected",
    [
        ("<think> 12 + 34 = 46 </think> <answer> 46 </answer>", "46", 1.0),
        ("<answer>46.0</answer>", "46", 1.0),
        ("<answer>-7</answer>", "-7", 1.0),
        ("<answer>7</answer>", "-7", 0.0),
        ("<answer>\\frac{92}{2}</answer>", "46", 1.0),
        ("<answer>2\\sqrt{3}</answer>", "\\sqrt{12}", 1.0),  # bare LaTeX reference
        ("<answer>\\{2, 1\\}</answer>", "\\{1,2\\}", 1.0),
        ("<answer>\\{1, 3\\}</answer>", "\\{1,2\\}", 0.0),
        ("The answer is $\\boxed{\\dfrac{1}{2}}$.", "0.5", 1.0),
        ("\\boxed{3} ... <answer>4</answer>", "4", 0.0),
        ("<answer>[0,1)</answer>", "[0,1)", 1.0),
        ("<answer>(0,1)</answer>", "[0,1)", 0.0),
        ("<answer>1000</answer>", "1,000", 1.0),
        ("<answer>x = 3</answer>", "3", 1.0),
        ("I think it is 46.", "46", 0.0),  # no \boxed, no <answer>: nothing to check
        ("<answer></answer>", "\\frac{1}{2}", 0.0),
        ("<answer>1</answer>", "$\\frac{2}{2}$", 1.0),  # references with their own delimiters
        ("<answer>3</answer>", "\\boxed{3}", 1.0),
    ],
)
def test_accuracy(completion, solution, expected):
    assert one("accuracy", completion, solution=solution) == expected


@pytest.mark.parametrize(
    "completion, solution, expected",
    [
        ("<answer> 1 000 </answer>", "1000", 1.0),  # math-verify's own tests: 1 000 == 1000
        ("<answer>12 000</answer>", "12000", 1.0),
        ("<answer>-1 000 000</answer>", "-1000000", 1.0),
        ("\\boxed{1\\,000}", "1000", 1.0),  # LaTeX thin space between digit groups
        ("<answer>1000</answer>", "1 000", 1.0),  # a grouped reference, too
        ("<answer>1000</answer>", "10^3", 1.0),  # not a simple rational: math-verify decides
        ("<answer>1 000</answer>", "10^3", 1.0),
        ("<answer> 1 000 </answer>", "0", 0.0),  # was read as the product 1 * 000
        ("<answer>1 2</answer>", "12", 0.0),  # two numbers, not a thousands group
        ("<answer>1 00</answer>", "100", 0.0),  # groups after the first have exactly 3 digits
        ("<answer>1000 000</answer>", "1000000", 0.0),  # the first group has at most 3
    ],
)
def test_accuracy_space_grouped_thousands(completion, solution, expected):
    assert one("accuracy", completion, solution=solution) == expected


def test_accuracy_none_only_for_unparseable_reference_and_warns_once(caplog):
    from r1lab.rewards import accuracy

    accuracy._warned.clear()
    reward = get_reward("accuracy")
    texts = ["<answer>1</answer>", "<answer>2</answer>", "<answer>3</answer>"]
    with caplog.at_level("WARNING", logger="r1lab.rewards"):
        assert reward(texts, solution=["\\frac{", "", "3"]) == [None, None, 1.0]
        assert reward(texts, solution=["\\frac{", "\\frac{", "\\frac{"]) == [None, None, None]
    warnings = [r for r in caplog.records if "cannot be parsed" in r.getMessage()]
    assert len(warnings) == 1
    # it says how many references of the batch and shows the first of them
    assert "2 reference answer(s) in this batch cannot be parsed (e.g. '\\\\frac{')" in (
        warnings[0].getMessage()
    )


def test_accuracy_of_a_missing_reference_is_none():
    assert get_reward("accuracy")(["<answer>1</answer>"], solution=[None]) == [None]


def test_accuracy_reads_the_configured_column():
    reward = get_reward("accuracy", solution_column="answer")
    assert reward(["<answer>5</answer>"], answer=["5"], solution=["6"]) == [1.0]


# ---- format, tag_count, reasoning_steps ----------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>reason</think><answer>42</answer>", 1.0),
        (" <think> reason </think>\n\n<answer> 42 </answer>\n", 1.0),
        ("<think>reason</think> so <answer>42</answer>", 0.0),  # text between the blocks
        ("<think>reason</think><answer>42</answer> extra", 0.0),  # something after
        ("preamble <think>reason</think><answer>42</answer>", 0.0),
        ("<answer>42</answer><think>reason</think>", 0.0),
        ("<think>a</think><think>b</think><answer>42</answer>", 0.0),
        ("<think>reason<answer>42</answer>", 0.0),
        ("<think>reason</think>x<answer>42</answer>", 0.0),  # one character between the blocks
        ("", 0.0),
    ],
)
def test_format(text, expected):
    assert one("format", text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>a</think><answer>b</answer>", 1.0),
        ("<think>a</think>", 0.5),
        ("<think>a</think><think>b</think><answer>c</answer>", 0.5),
        ("<answer>", 0.25),
        ("nothing", 0.0),
    ],
)
def test_tag_count(text, expected):
    assert one("tag_count", text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Step 1: add", 1 / 3),
        ("Step 1: add. Step 2: carry.", 2 / 3),
        ("1. one\n2. two\n3. three\n4. four", 1.0),
        ("- a\n* b", 2 / 3),
        ("First, x. Next, y. Finally, z.", 1.0),
        ("just an answer: 12.5", 0.0),
    ],
)
def test_reasoning_steps(text, expected):
    assert one("reasoning_steps", text) == pytest.approx(expected)


# ---- length (Kimi 1.5) ---------------------------------------------------------------------


def test_length_within_each_prompt_group():
    reward = get_reward("length")
    texts = ["<answer>4</answer>", "<answer>4</answer>xxxxxxxxxx", "<answer>5</answer>xxxxx"]
    texts += ["<answer>1</answer>", "<answer>2</answer>"]  # a second prompt, equal lengths
    out = reward(
        texts,
        prompts=["p", "p", "p", "q", "q"],
        completion_ids=[[0] * 10, [0] * 30, [0] * 20, [0] * 7, [0] * 7],
        solution=["4", "4", "4", "1", "1"],
    )
    # min 10, max 30: lambda = 0.5 - (len - 10) / 20
    assert out == [0.5, -0.5, 0.0, 0.0, 0.0]
    wrong_short = reward(
        ["<answer>5</answer>", "<answer>4</answer>"],
        prompts=["p", "p"],
        completion_ids=[[0] * 10, [0] * 30],
        solution=["4", "4"],
    )
    assert wrong_short == [0.0, -0.5]  # wrong: min(0, 0.5) = 0; correct and longest: -0.5


def test_length_groups_conversational_prompts_by_their_content():
    reward = get_reward("length")
    texts = ["<answer>4</answer>", "<answer>4</answer>xxxxxxxxxx", "<answer>5</answer>xxxxx"]
    texts += ["<answer>1</answer>", "<answer>2</answer>"]
    prompts = [[{"role": "user", "content": c}] for c in "pppqq"]  # equal, not the same lists
    out = reward(
        texts,
        prompts=prompts,
        completion_ids=[[0] * 10, [0] * 30, [0] * 20, [0] * 7, [0] * 7],
        solution=["4", "4", "4", "1", "1"],
    )
    assert out == [0.5, -0.5, 0.0, 0.0, 0.0]


def test_length_without_prompts_is_one_group():
    reward = get_reward("length")
    texts = ["<answer>4</answer>", "<answer>4</answer>xxxxxxxxxx", "<answer>5</answer>xxxxx"]
    # 18, 28 and 23 characters: lambda = 0.5 - (len - 18) / 10
    assert reward(texts, solution=["4", "4", "4"]) == [0.5, -0.5, 0.0]
    # prompts that do not match the completions one to one: one group as well
    assert reward(texts, prompts=["p"], solution=["4", "4", "4"]) == [0.5, -0.5, 0.0]


def test_length_counts_characters_without_ids():
    out = get_reward("length")(
        ["<answer>4</answer>", "<answer>4</answer>" + "x" * 18],
        prompts=["p", "p"],
        solution=["4"] * 2,
    )
    assert out == [0.5, -0.5]


# ---- cosine --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, correct, expected",
    [
        (0, True, 1.0),
        (50, True, 0.75),
        (100, True, 0.5),
        (250, True, 0.5),  # clamped: open-r1 wraps around to 1.0 at 2 * max_len
        (200, True, 0.5),
        (0, False, -1.0),
        (50, False, -0.75),
        (100, False, -0.5),
        (200, False, -0.5),
    ],
)
def test_cosine(size, correct, expected):
    reward = get_reward("cosine", max_len=100)
    text = "<answer>4</answer>" if correct else "<answer>5</answer>"
    out = reward([text], completion_ids=[[1] * size], solution=["4"])[0]
    assert out == pytest.approx(expected)


def test_cosine_custom_range_and_none():
    reward = get_reward(
        "cosine",
        min_value_wrong=-2.0,
        max_value_wrong=0.0,
        min_value_correct=1.0,
        max_value_correct=3.0,
        max_len=10,
    )
    out = reward(
        ["<answer>4</answer>"] * 3, completion_ids=[[1] * 5] * 3, solution=["4", "5", "\\frac{"]
    )
    assert out == [pytest.approx(2.0), pytest.approx(-1.0), None]


# ---- repetition ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, params, expected",
    [
        ("a b a b a b", {"ngram_size": 2}, -0.6),  # 5 bigrams, 2 distinct
        ("a b c d e", {"ngram_size": 2}, 0.0),
        ("a b", {"ngram_size": 3}, 0.0),  # shorter than n
        ("", {}, 0.0),
        ("go go go go", {"ngram_size": 1, "max_penalty": -0.5}, -0.375),
        ("Go GO go", {"ngram_size": 1}, -2 / 3),  # lowercased
        ("好好好好", {"ngram_size": 1}, -0.75),  # Han characters are tokens
    ],
)
def test_repetition(text, params, expected):
    assert one("repetition", text, params=params) == pytest.approx(expected)


def test_repetition_of_text_shorter_than_n_is_zero_beside_longer_text():
    # "a b c a b c": 4 trigrams, 3 distinct
    assert get_reward("repetition")(["a b", "a b c a b c"]) == [0.0, -0.25]


# ---- soft_overlong (DAPO) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, expected",
    [(0, 0.0), (6, 0.0), (7, -0.25), (8, -0.5), (10, -1.0), (11, -1.0), (99, -1.0)],
)
def test_soft_overlong_tokens(size, expected):
    reward = get_reward("soft_overlong", max_length=10, cache_length=4)
    assert reward(["x"], completion_ids=[[0] * size]) == [pytest.approx(expected)]


def test_soft_overlong_characters_and_default_cache():
    reward = get_reward("soft_overlong", max_length=10)  # cache 2: free up to 8
    assert reward(["x" * 8, "x" * 9, "x" * 12]) == [0.0, -0.5, -1.0]


# ---- language ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, language, expected",
    [
        ("<think>we add the numbers</think><answer>5</answer>", "en", 1.0),
        ("<think>we add 数字</think><answer>ignored words here</answer>", "en", 0.5),
        ("<think>we add 数字</think>", "zh", 0.5),
        ("<think>先计算 then add</think>", "zh", 0.6),  # 3 Han words of 5
        ("<think>ひらがな と 漢字 and</think>", "ja", 7 / 8),
        ("<think>日本 Xenon</think>", "ja", 2 / 3),  # a Latin word is not Japanese
        ("<think>안녕하세요 world</think>", "ko", 0.5),
        ("<think>привет мир hello</think>", "ru", 2 / 3),
        ("<think>12 + 34 = 46</think>", "en", 0.0),  # no words at all
        ("no think block: english words only", "en", 1.0),
    ],
)
def test_language(text, language, expected):
    assert one("language", text, params={"language": language}) == pytest.approx(expected)


# ---- countdown (TinyZero) ------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("<answer> ( 3 + 4 ) * 2 </answer>", 1.0),
        ("<answer>2*(4+3) = 14</answer>", 1.0),
        ("<answer>(3+4)*2*1</answer>", 0.1),  # uses a number not given
        ("<answer>(3+4)+2</answer>", 0.1),  # each once, wrong value
        ("<answer>(3+4)*2+4-4</answer>", 0.1),  # right value, but 4 is used twice
        ("<answer>(3+4)*2+2-2</answer>", 0.1),  # right value, but 2 is used three times
        ("<answer>3*4</answer>", 0.1),  # misses a number
        ("<answer>3/(4-4)*2</answer>", 0.1),  # division by zero: well-formed, wrong
        ("<answer>28/2</answer>", 0.1),
        ("<answer>(3+4)*x</answer>", 0.0),  # not arithmetic over numbers
        ("<answer>3**4</answer>", 0.0),
        ("<answer></answer>", 0.0),
        ("no answer", 0.0),
        ("\\boxed{(3+4)*2}", 1.0),
    ],
)
def test_countdown(answer, expected):
    assert one("countdown", answer, nums=[2, 3, 4], target=14) == expected


@pytest.mark.parametrize(
    "answer, nums, target, expected",
    [
        ("<answer>((3+4)*2)/1</answer>", [1, 2, 3, 4], 14, 1.0),  # dividing by 1 is fine
        ("<answer>-(3-4)*2</answer>", [2, 3, 4], 2, 1.0),  # unary minus
        ("<answer>+(3+4)*2</answer>", [2, 3, 4], 14, 1.0),  # unary plus
        ("<answer>(3+4)\u00d72</answer>", [2, 3, 4], 14, 1.0),  # multiplication sign
        ("<answer>8\u00f72\u22123</answer>", [2, 3, 8], 1, 1.0),  # division sign, minus sign
        ("<answer>(3+4)*2 = 14 = 14</answer>", [2, 3, 4], 14, 1.0),  # only the first = counts
        ("<answer>(3+4)*2</answer>", [2, 3, 4], "fourteen", 0.0),  # a target that is no number
        ("<answer>(3+4)*2</answer>", ["x", 3, 4], 14, 0.0),  # numbers that are no numbers
    ],
)
def test_countdown_operators_and_odd_rows(answer, nums, target, expected):
    assert one("countdown", answer, nums=nums, target=target) == expected


def test_countdown_equation_length_limit():
    """Up to 500 characters an equation is judged (here wrong: it uses 0); longer is no equation."""
    at_limit = "(3+4)*2" + "+0" * 245 + "+00"  # 500 characters
    assert len(at_limit) == 500
    assert one("countdown", f"<answer>{at_limit}</answer>", nums=[2, 3, 4], target=14) == 0.1
    over = at_limit + "0"
    assert one("countdown", f"<answer>{over}</answer>", nums=[2, 3, 4], target=14) == 0.0


def test_countdown_reads_the_configured_columns():
    from r1lab.rewards import required_columns

    params = {"nums_column": "numbers", "target_column": "goal"}
    assert required_columns("countdown", **params) == {"numbers", "goal"}
    text = "<answer>(3+4)*2</answer>"
    assert one("countdown", text, numbers=[2, 3, 4], goal=14, params=params) == 1.0


def test_countdown_exact_fractions():
    # 8 / (3 - 8/3) = 24 exactly; floating point would give 23.99999...
    assert one("countdown", "<answer>8/(3-8/3)</answer>", nums=[8, 3, 8, 3], target=24) == 1.0
    # a repeated number must be used as often as it is given, not just once
    assert one("countdown", "<answer>8/(3-8/3)</answer>", nums=[8, 3, 8, 3, 3], target=24) == 0.1


def test_all_values_finite_on_empty_batch():
    for name in ("format", "tag_count", "repetition", "language"):
        assert get_reward(name)([]) == []
    assert get_reward("accuracy")([], solution=[]) == []
    assert not any(math.isnan(v) for v in get_reward("format")(["x"]))


# ---- the exact fast path agrees with math-verify -------------------------------------------


@pytest.mark.parametrize(
    "answer, reference, expected",
    [
        ("\\frac{92}{2}", "46", "correct"),
        ("3/4", "\\dfrac{3}{4}", "correct"),
        ("0.5", "\\frac{1}{2}", "correct"),
        ("-\\frac{1}{2}", "-0.5", "correct"),
        ("\\frac{1}{2}", "\\frac{1}{3}", "wrong"),
        ("46.5", "46", "wrong"),
        (None, "46", "wrong"),
        ("\\frac{1}{3}", "0.333333", None),  # math-verify rounds: its call
        ("x", "46", None),
        ("1/0", "1", None),
    ],
)
def test_exact_fast_path(answer, reference, expected):
    from r1lab.rewards.verify import CORRECT, WRONG, _exact

    assert _exact(answer, reference) == {"correct": CORRECT, "wrong": WRONG, None: None}[expected]


_RATIONAL_FORMS = [
    lambda p, q: f"\\frac{{{p}}}{{{q}}}",
    lambda p, q: f"{p}/{q}",
    lambda p, q: str(p // q) if p % q == 0 else f"{p}/{q}",
    lambda p, q: f"{p / q:.3f}" if (p * 1000) % q == 0 else f"\\dfrac{{{p}}}{{{q}}}",
]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 60),
    st.integers(1, 12),
    st.integers(0, 60),
    st.integers(1, 12),
    st.integers(0, len(_RATIONAL_FORMS) - 1),
    st.integers(0, len(_RATIONAL_FORMS) - 1),
)
def test_exact_fast_path_agrees_with_math_verify(p, q, r, s, form_a, form_b):
    from r1lab.rewards import _mvworker
    from r1lab.rewards.verify import _exact

    answer, reference = _RATIONAL_FORMS[form_a](p, q), _RATIONAL_FORMS[form_b](r, s)
    quick = _exact(answer, reference)
    # Every form is a simple rational, so the fast path must decide, except an unequal decimal
    # against a fraction (math-verify rounds: its call). A fast path that decides nothing fails.
    both = answer + reference
    decimal_meets_fraction = "." in both and ("/" in both or "frac" in both)
    if Fraction(p, q) == Fraction(r, s) or not decimal_meets_fraction:
        assert quick is not None, (answer, reference)
    if quick is not None:
        _mvworker.quiet_math_verify()
        assert quick == _mvworker.check(answer, reference), (answer, reference)


class _NoPool:
    """A pool that fails the test if anything reaches it."""

    def check(self, pairs, time_limit):
        raise AssertionError(f"reached math-verify: {pairs}")


def test_simple_rationals_are_judged_without_math_verify():
    from r1lab.rewards.verify import CORRECT, WRONG, judge

    answers = ["46", "-7", None, "\\frac{92}{2}"]
    references = ["46.0", "7", "3", "46"]
    assert judge(answers, references, pool=_NoPool()) == [CORRECT, WRONG, WRONG, CORRECT]


def test_judge_refuses_answers_and_references_of_different_lengths():
    """A length mismatch is a bug upstream; scoring only the pairs that line up would hide it."""
    from r1lab.rewards.verify import judge

    with pytest.raises(ValueError):
        judge(["1", "2"], ["1"], pool=_NoPool())


def test_answers_and_references_longer_than_max_chars_are_not_judged():
    """Up to MAX_CHARS characters (here padding after a 5) a text is judged; one more and a
    reference cannot be parsed (None), an answer is wrong."""
    from r1lab.rewards.verify import CORRECT, MAX_CHARS, UNPARSEABLE_REFERENCE, WRONG, judge

    at, over = "5" + " " * (MAX_CHARS - 1), "5" + " " * MAX_CHARS
    assert judge([at, over], ["5", "5"], pool=_NoPool()) == [CORRECT, WRONG]
    assert judge(["5", "5"], [at, over], pool=_NoPool()) == [CORRECT, UNPARSEABLE_REFERENCE]


def test_a_missing_and_a_given_answer_to_the_same_reference_in_one_batch():
    """Pairs for math-verify are ordered by reference only: a missing answer (None) is never
    compared with a given one."""
    from r1lab.rewards.verify import CORRECT, WRONG, judge

    out = judge([None, "\\sqrt{2}", "\\sqrt{3}", None], ["\\sqrt{2}"] * 3 + ["\\pi"])
    assert out == [WRONG, CORRECT, WRONG, WRONG]


def test_answer_block_is_the_last_closed_one():
    """An `<answer>` opened after the last `</answer>` (cut off, or a second try never closed)
    does not hide the closed block before it; no closed block is no answer."""
    assert tag_block("<answer> 5 </answer> then <answer> 7", "answer") == "5"
    assert extract_answer("<answer> 5 </answer> then <answer> 7") == "5"
    assert tag_block("</answer> <answer> 7", "answer") is None
