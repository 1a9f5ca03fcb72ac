"""The reward registry: names, parameters, plug-ins, columns, TRL's calling convention."""

from __future__ import annotations

import pickle
import textwrap

import pytest

from r1lab.rewards import (
    RewardError,
    accepts,
    get_reward,
    is_verifier,
    registry,
    required_columns,
    reward_names,
    verifier_names,
)

ALL = [
    "accuracy",
    "choice",
    "code",
    "cosine",
    "countdown",
    "format",
    "language",
    "length",
    "reasoning_steps",
    "repetition",
    "soft_overlong",
    "tag_count",
]


def test_every_reward_of_the_design_is_registered():
    assert reward_names() == ALL


@pytest.mark.parametrize("name", ALL)
def test_name_is_the_metric_name(name):
    params = {"max_length": 8} if name == "soft_overlong" else {}
    assert get_reward(name, **params).__name__ == name


def test_unknown_name_lists_known_names():
    with pytest.raises(RewardError) as err:
        get_reward("acuracy")
    message = str(err.value)
    assert "did you mean 'accuracy'" in message
    assert f"known rewards: {', '.join(ALL)}, or a dotted path" in message


def test_verifiers_are_the_rewards_that_judge_the_answer():
    assert verifier_names() == ["accuracy", "choice", "code", "countdown"]
    assert is_verifier("countdown") is True
    assert is_verifier("cosine") is False


def test_accepts_says_which_parameters_a_registered_reward_takes(plugin):
    assert accepts("accuracy", "solution_column") is True
    assert accepts("accuracy", "max_len") is False
    assert accepts("nope", "solution_column") is False
    assert accepts(f"{plugin}:strict", "solution") is False


def test_repr_names_the_reward_and_its_parameters():
    assert repr(get_reward("format")) == "Reward(format)"
    assert repr(get_reward("cosine", max_len=10, solution_column="gold")) == (
        "Reward(cosine, max_len=10, solution_column='gold')"
    )


@pytest.fixture
def register():
    """`registry.register`, with whatever a test registers removed afterwards."""
    before = dict(registry._REGISTRY)
    yield registry.register
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def test_register_adds_a_reward_by_name(register):
    @register("loud", columns={"meta"})
    def loud(bonus: float = 0.0):
        def score(batch):
            return [float(t.isupper()) + bonus for t in batch.texts]

        return score

    @register("graded", columns=lambda params: {params.get("column", "gold")}, verifier=True)
    def graded(column: str = "gold"):
        def score(batch):
            return [float(t == g) for t, g in zip(batch.texts, batch.column(column), strict=True)]

        return score

    assert get_reward("loud", bonus=0.25)(["HI", "hi"], meta=[1, 2]) == [1.25, 0.25]
    assert required_columns("loud") == {"meta"}
    assert is_verifier("loud") is False
    with pytest.raises(RewardError, match="reward 'loud' has no parameter 'bonsu'"):
        get_reward("loud", bonsu=1.0)
    assert get_reward("graded", column="ref")(["a", "b"], ref=["a", "a"]) == [1.0, 0.0]
    assert required_columns("graded") == {"gold"}
    assert required_columns("graded", column="ref") == {"ref"}
    assert is_verifier("graded") is True
    assert "graded" in verifier_names() and "loud" not in verifier_names()


def test_reward_error_is_a_value_error():
    assert issubclass(RewardError, ValueError)


def test_unknown_parameter_is_named():
    with pytest.raises(RewardError, match="no parameter 'max_lenght'.*did you mean 'max_len'"):
        get_reward("cosine", max_lenght=10)


def test_unknown_parameter_error_lists_the_parameters_there_are():
    with pytest.raises(RewardError) as err:
        get_reward("repetition", ngram=2)
    assert str(err.value).endswith("its parameters: ngram_size, max_penalty")
    with pytest.raises(RewardError) as err:
        get_reward("format", strict=True)
    assert str(err.value).endswith("its parameters: none")


def test_positive_max_penalty_is_an_error_naming_it():
    with pytest.raises(RewardError, match="max_penalty"):
        get_reward("repetition", max_penalty=0.5)
    assert get_reward("repetition", max_penalty=0.0)(["a b c a b c"]) == [0.0]


@pytest.mark.parametrize(
    "name, params, word",
    [
        ("cosine", {"max_len": 0}, "max_len"),
        ("cosine", {"min_value_correct": 2.0}, "min_value_correct"),
        ("cosine", {"min_value_wrong": float("nan")}, "min_value_wrong must be a finite number"),
        ("cosine", {"max_value_correct": True}, "max_value_correct must be a finite number"),
        ("cosine", {"max_len": True}, "max_len must be an integer >= 1"),
        ("repetition", {"ngram_size": 0}, "ngram_size"),
        ("soft_overlong", {}, "max_length"),
        ("soft_overlong", {"max_length": 10, "cache_length": 11}, "cache_length"),
        ("language", {"language": "klingon"}, "klingon"),
        ("accuracy", {"time_limit": 0}, "time_limit"),
        (
            "accuracy",
            {"time_limit": 600.5},
            "time_limit must be a number of seconds in \\(0, 600\\]",
        ),
        ("code", {"memory_mb": -1}, "memory_mb"),
        ("code", {"runner": "no_such_module:run"}, "no_such_module"),
    ],
)
def test_bad_values_are_reward_errors_naming_the_parameter(name, params, word):
    with pytest.raises(RewardError, match=word):
        get_reward(name, **params)


def test_time_limit_of_ten_minutes_is_accepted():
    assert get_reward("accuracy", time_limit=600)(["<answer>2</answer>"], solution=["2"]) == [1.0]


def test_required_columns():
    assert required_columns("accuracy") == {"solution"}
    assert required_columns("accuracy", solution_column="answer") == {"answer"}
    assert required_columns("length", solution_column="gold") == {"gold"}
    assert required_columns("cosine") == {"solution"}
    assert required_columns("countdown") == {"nums", "target"}
    assert required_columns("code") == {"test_cases"}
    assert required_columns("code", test_cases_column="tests") == {"tests"}
    assert required_columns("format") == set()
    with pytest.raises(RewardError):
        required_columns("nope")


def test_missing_column_at_call_time_is_a_clear_error():
    with pytest.raises(RewardError, match="'solution'"):
        get_reward("accuracy")(["<answer>1</answer>"], problem=["x"])


def test_missing_column_error_lists_the_columns_the_batch_has():
    accuracy = get_reward("accuracy")
    with pytest.raises(RewardError, match=r"\(columns: answer, problem\)$"):
        accuracy(["<answer>1</answer>"], problem=["x"], answer=["1"])
    with pytest.raises(RewardError, match=r"\(columns: none\)$"):
        accuracy(["<answer>1</answer>"])


def test_column_of_the_wrong_length_is_an_error():
    with pytest.raises(RewardError, match="column 'solution' has 1 values for 2"):
        get_reward("accuracy")(["<answer>1</answer>", "<answer>2</answer>"], solution=["1"])


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        textwrap.dedent(
            """
            def shout(completions, difficulty, bonus=0.0, **kwargs):
                return [float(c.isupper()) + bonus * d for c, d in zip(completions, difficulty)]

            def declared(completions, **kwargs):
                return [0.0] * len(completions)
            declared.required_columns = {"meta"}

            def strict(completions, solution):
                return [float(c == s) for c, s in zip(completions, solution)]

            def buggy(completions, **kwargs):
                raise KeyError("a bug in the user's reward")

            def unbounded(completions, **kwargs):
                return [float("nan"), float("inf"), 0.5][: len(completions)]

            def judge(completions, solution):
                return [float(c == s) for c, s in zip(completions, solution)]
            judge.verifier = True

            class Compiled:  # like a C or Cython function: inspect.signature cannot read it
                __signature__ = "unreadable"

                def __call__(self, completions, **kwargs):
                    return [0.5] * len(completions)
            opaque = Compiled()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_rewards"


def test_plugin_by_dotted_path(plugin):
    reward = get_reward(f"{plugin}:shout", bonus=0.5)
    assert reward.__name__ == f"{plugin}:shout"
    assert reward(["HI", "hi"], difficulty=[1, 2], prompts=["p", "p"]) == [1.5, 1.0]
    assert get_reward(f"{plugin}.shout")(["HI"], difficulty=[0]) == [1.0]
    assert required_columns(f"{plugin}:shout") == {"difficulty"}
    assert required_columns(f"{plugin}:declared") == {"meta"}


def test_plugin_errors_list_known_names(plugin):
    with pytest.raises(RewardError) as err:
        get_reward(f"{plugin}:missing")
    assert "accuracy" in str(err.value) and "missing" in str(err.value)
    assert "dotted path 'my_pkg.module:function' importable from the run" in str(err.value)
    with pytest.raises(
        RewardError, match="no parameter 'nope'; its parameters: completions, solution$"
    ):
        get_reward(f"{plugin}:strict", nope=1)
    assert get_reward(f"{plugin}:strict")(completions=["a", "b"], solution=["a", "a"]) == [1.0, 0.0]


def test_plugin_rewards_get_the_safety_net_of_built_in_ones(plugin, caplog):
    """A plug-in that raises scores 0.0 (logged, failed_frac) instead of ending the run; NaN and
    inf become 0.0; a wrong number of values is an error naming the reward."""
    metrics: dict[str, float] = {}
    log = lambda key, value: metrics.__setitem__(key, value)  # noqa: E731
    buggy = get_reward(f"{plugin}:buggy")
    assert buggy(completions=["a", "b"], prompts=["p", "p"], log_metric=log) == [0.0, 0.0]
    assert metrics == {f"rewards/{plugin}:buggy/failed_frac": 1.0}
    assert "a bug in the user's reward" in caplog.text
    assert f"reward '{plugin}:buggy' failed on a batch; scoring it 0.0" in caplog.text
    unbounded = get_reward(f"{plugin}:unbounded")
    assert unbounded(completions=["a", "b", "c"]) == [0.0, 0.0, 0.5]
    with pytest.raises(RewardError, match=f"reward '{plugin}:unbounded' returned 3 values for 4"):
        unbounded(completions=["a", "b", "c", "d"])


def test_plugin_taking_kwargs_receives_any_parameter(plugin):
    reward = get_reward(f"{plugin}:declared", scale=2)
    assert reward.params == {"scale": 2}
    assert reward(["a", "b"]) == [0.0, 0.0]


def test_plugin_says_whether_it_is_a_verifier(plugin):
    assert is_verifier(f"{plugin}:judge") is True
    assert is_verifier(f"{plugin}:strict") is False


def test_plugin_whose_signature_cannot_be_read_still_loads(plugin):
    assert get_reward(f"{plugin}:opaque")(["a", "b"]) == [0.5, 0.5]
    assert required_columns(f"{plugin}:opaque") == set()


def test_trl_calling_convention_and_metrics():
    """Called the way GRPOTrainer._calculate_rewards calls it, extra kwargs included."""
    logged = {}
    reward = get_reward("accuracy")
    out = reward(
        prompts=["p1", "p2"],
        completions=["<think>a</think> <answer> 46 </answer>", "<answer>-7</answer>"],
        completion_ids=[[1, 2, 3], [4]],
        solution=["46", "7"],
        question=["q1", "q2"],
        trainer_state=object(),
        log_extra=lambda column, values: None,
        log_metric=lambda name, value: logged.setdefault(name, value),
    )
    assert out == [1.0, 0.0]
    assert logged == {"rewards/accuracy/timeout_frac": 0.0}


def test_conversational_completions_score_like_strings():
    text = "<think> 12 + 34 = 46 </think> <answer> 46 </answer>"
    conversational = [[{"role": "assistant", "content": text}]]
    parts = [[{"role": "assistant", "content": [{"type": "text", "text": text}]}]]
    for name in ("format", "tag_count", "accuracy"):
        reward = get_reward(name)
        plain = reward([text], solution=["46"])
        assert reward(conversational, solution=["46"]) == plain
        assert reward(parts, solution=["46"]) == plain


def test_rewards_pickle():
    reward = pickle.loads(pickle.dumps(get_reward("format")))
    assert reward.__name__ == "format"
    assert reward(["<think>a</think><answer>b</answer>"]) == [1.0]


def test_pickled_reward_keeps_its_parameters():
    original = get_reward("soft_overlong", max_length=10, cache_length=4)
    reward = pickle.loads(pickle.dumps(original))
    texts = ["x" * 5, "x" * 8, "x" * 12]
    assert reward(texts) == original(texts) == [0.0, -0.5, -1.0]
