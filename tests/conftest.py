"""Shared fixtures: a tiny randomly initialised OLMo-2 model and token data, all offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import Olmo2Config, Olmo2ForCausalLM  # noqa: E402

from uba_hf.trainer import LRTraceCallback  # noqa: E402

VOCAB = 64
SEQ = 16


def tiny_olmo2(seed: int = 0) -> Olmo2ForCausalLM:
    torch.manual_seed(seed)
    config = Olmo2Config(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=SEQ,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return Olmo2ForCausalLM(config)


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
