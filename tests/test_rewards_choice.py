"""choice: the letter a completion answers (GPQA-Diamond), and the reward that checks it."""

from __future__ import annotations

import time

import pytest

from r1lab.rewards import RewardError, get_reward, is_verifier, required_columns
from r1lab.rewards.choice import extract_choice


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("So the answer follows.\nAnswer: C", "C"),  # simple-evals' pattern
        ("answer: C", "C"),  # the label in any case...
        ("ANSWER : D", "D"),
        ("answer: c", None),  # ...but the letter is uppercase
        ("Answer: $C$", "C"),
        ("Answer: (B)", "B"),
        ("Answer: A.", "A"),
        ("**Answer:** C", "C"),  # markdown bold
        ("**Answer**: B", "B"),
        ("Answer: Because the field vanishes", None),  # a letter inside a word is no answer
        ("Answer: E", None),  # not one of the letters
        ("Answer: A then, on reflection, Answer: B", "B"),  # the last match wins
        ("\\boxed{C}", "C"),
        ("\\boxed{\\text{D}}", "D"),
        ("$\\boxed{(A)}$", "A"),
        ("\\boxed{Cat}", None),
        ("The answer is (C).", "C"),
        ("so the answer is D", "D"),
        ("Thus the correct option is B.", "B"),
        ("the answer is Because", None),
        ("no letter at all", None),
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text) == letter


def test_patterns_are_tried_in_priority_order():
    # a later `\boxed` or "answer is" does not beat an earlier `Answer:`, nor "answer is" a box
    assert extract_choice("Answer: B\nThe answer is (C), \\boxed{D}") == "B"
    assert extract_choice("\\boxed{A} ... the answer is (C)") == "A"
    assert extract_choice("The answer is (C), not \\boxed{D} as I first wrote") == "D"


def test_only_the_text_after_the_reasoning_counts():
    assert extract_choice("<think>Answer: A? no.</think>\nAnswer: B") == "B"
    assert extract_choice("<think>Answer: A</think>\nI cannot decide.") is None
    assert extract_choice("<think>a</think><think>Answer: C</think>Answer: D") == "D"
    assert extract_choice("<think>Answer: A and I ran out of tokens") is None  # never answered
    assert extract_choice("reasoning without tags... Answer: C") == "C"
    # the reasoning's last line is not the answer, nor is text before the last </think>
    assert extract_choice("<think>so Answer:A</think> the answer is (B)") == "B"
    assert extract_choice("<think>x</think> Answer: B </think> so the answer is C") == "C"


def test_other_letter_sets():
    assert extract_choice("Answer: F", letters="ABCDEFGHIJ") == "F"
    assert extract_choice("Answer: F") is None
    assert extract_choice("Answer: C", letters="AB") is None


@pytest.mark.parametrize(
    "text",
    [
        "Answer" + " \t*" * 50_000 + "x",
        "Answer:" + " " * 100_000 + "$(",
        "\\boxed{\\text{" * 20_000,
        "the answer is " * 10_000 + "a",
        "Answer: " * 20_000 + "Because",
    ],
    ids=["label-run", "colon-run", "boxes", "answer-is", "labels"],
)
def test_extraction_is_linear_in_time(text):
    start = time.monotonic()
    assert extract_choice(text) is None
    assert time.monotonic() - start < 0.5


def test_reward_scores_against_the_gold_letter():
    reward = get_reward("choice")
    texts = ["Answer: C", "Answer: B", "I am not sure.", "Answer: C", "Answer: C", "Answer: C"]
    golds = ["C", "C", "C", " c\n", "E", None]
    assert reward(completions=texts, answer=golds) == [1.0, 0.0, 0.0, 1.0, None, None]


def test_reward_reads_the_configured_column_and_letters():
    reward = get_reward("choice", answer_column="gold", letters="ABCDE")
    assert reward(completions=["\\boxed{E}", "the answer is (A)"], gold=["E", "B"]) == [1.0, 0.0]
    assert required_columns("choice", answer_column="gold") == {"gold"}
    assert required_columns("choice") == {"answer"}
    with pytest.raises(RewardError, match="'answer'"):
        get_reward("choice")(completions=["Answer: A"], gold=["A"])


def test_choice_is_a_verifier():
    assert is_verifier("choice")


@pytest.mark.parametrize(
    ("letters", "problem"),
    [
        ("A", "2 to 26"),
        ("abcd", "uppercase"),
        ("ABCA", "repeated: A\\)"),
        ("ABAB", "repeated: AB\\)"),
        ("AB1", "uppercase"),
        (5, "must be a string such as 'ABCD', got 5"),
    ],
)
def test_bad_letters_are_named(letters, problem):
    with pytest.raises(RewardError, match=problem):
        get_reward("choice", letters=letters)


@pytest.mark.parametrize("letters", ["AB", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"])
def test_two_to_twenty_six_letters_are_accepted(letters):
    reward = get_reward("choice", letters=letters)
    assert reward(["Answer: B"], answer=["B"]) == [1.0]
