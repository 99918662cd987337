"""Shared fixtures: the closed form of the schedule, a tiny randomly initialised OLMo-2 model and token
data, all offline. Test modules import from here, never from each other."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

ROOT = Path(__file__).resolve().parents[1]
# The benchmark harness lives outside the installed package (benchmarks/uba_bench).
sys.path.insert(0, str(ROOT / "benchmarks"))

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import Olmo2ForCausalLM  # noqa: E402

from uba_hf.callbacks import LRTraceCallback  # noqa: E402
from uba_hf.pretrain.models import preset_config  # noqa: E402

VOCAB = 64
SEQ = 16
# The one tiny test model: the "tiny" preset shrunk to width 32 and 2 layers.
TINY_MODEL = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)


def closed_form(s: int, W: int, N: int, phi: float, r: float) -> float:
    """The multiplier of docs/schedule.md, written independently of the implementation."""
    if s < W:
        return s / max(1, W)
    if s >= N:
        return r
    t, T = s - W, N - W
    c = 1 + math.cos(math.pi * t / T)
    return r + (1 - r) * 2 * c / (2 * phi + (2 - phi) * c)


def segment_closed_form(s: int, S: int, m: float, N: int, phi: float, r: float) -> float:
    """A re-budget segment of docs/schedule.md ("Re-budgeting"), written independently: from multiplier
    ``m`` at update ``S``, UBA decay with the same phi to the floor ``r`` at the new budget ``N``."""
    assert s >= S
    if s >= N:
        return r
    u = (1 + math.cos(math.pi * (s - S) / (N - S))) / 2  # the cosine factor, 1 -> 0
    return r + (m - r) * 2 * u / (2 * u + phi * (1 - u))  # f = 2u / (2u + phi (1 - u))


def tiny_olmo2(seed: int = 0, vocab_size: int = VOCAB, seq_len: int = SEQ, **overrides) -> Olmo2ForCausalLM:
    torch.manual_seed(seed)
    config = preset_config(
        "tiny", vocab_size=vocab_size, max_position_embeddings=seq_len, **{**TINY_MODEL, **overrides}
    )
    return Olmo2ForCausalLM(config)  # the plain constructor: no DeepSpeed ZeRO-3 init even if a test set one up


class TokenDataset(torch.utils.data.Dataset):
    """Fixed pseudo-random token blocks with a learnable pattern (next token = token + 1 mod V)."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, VOCAB, (n, 1), generator=g)
        self.blocks = (starts + torch.arange(SEQ)) % VOCAB

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


class LRRecorder(LRTraceCallback):
    """The package's LR trace, split into update indices and LRs for assertions."""

    @property
    def steps(self) -> list[int]:
        return [step for step, _ in self.trace]

    @property
    def lrs(self) -> list[float]:
        return [lr for _, lr in self.trace]


@pytest.fixture
def token_dataset() -> TokenDataset:
    return TokenDataset()
