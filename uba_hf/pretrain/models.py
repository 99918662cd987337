"""OLMo-2 presets by name, initialised from scratch, with parameter and FLOP counting.

Sizes in preset names count *non-embedding* parameters (transformer blocks and final norm), the
convention of scaling-law work: the embedding size depends on the tokenizer, which this package may
train itself. ``olmo2-1b`` and ``olmo2-7b`` have the shapes of OLMo-2 1B and 7B (with their 100,352
token vocabulary they have 1.48B and 7.30B parameters in all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, Olmo2Config, Olmo2ForCausalLM

from ..errors import UBAConfigError
from ..zero_config import count_parameters


@dataclass(frozen=True)
class Preset:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    nominal_params: float  # non-embedding parameters the name advertises
    max_position_embeddings: int = 4096
    vocab_size: int = 100_352  # OLMo-2's tokenizer; replaced by the tokenizer's size in build_model


PRESETS: dict[str, Preset] = {
    # The default of the embedded CPU run: about 1M non-embedding parameters.
    "tiny": Preset(128, 4, 4, 512, 1.0e6, max_position_embeddings=1024, vocab_size=8192),
    "olmo2-20m": Preset(384, 8, 6, 1536, 20e6),
    "olmo2-60m": Preset(512, 14, 8, 2048, 60e6),
    "olmo2-150m": Preset(768, 16, 12, 3072, 150e6),
    "olmo2-300m": Preset(1024, 18, 16, 4096, 300e6),
    "olmo2-1b": Preset(2048, 16, 16, 8192, 1.0e9),
    "olmo2-7b": Preset(4096, 32, 32, 11008, 7.0e9),
}


def preset_config(
    name: str, vocab_size: int | None = None, attn_implementation: str | None = None, **overrides: Any
) -> Olmo2Config:
    """An ``Olmo2Config`` for a preset; ``overrides`` replace any config field (validated by name).
    ``attn_implementation`` is Transformers' attention kernel (None: its default, sdpa where available)."""
    if name not in PRESETS:
        raise UBAConfigError(f"Unknown model preset {name!r}; valid presets: {', '.join(PRESETS)}.")
    p = PRESETS[name]
    fields = dict(
        hidden_size=p.hidden_size,
        num_hidden_layers=p.num_hidden_layers,
        num_attention_heads=p.num_attention_heads,
        num_key_value_heads=p.num_attention_heads,
        intermediate_size=p.intermediate_size,
        max_position_embeddings=p.max_position_embeddings,
        vocab_size=vocab_size or p.vocab_size,
        rope_parameters={"rope_type": "default", "rope_theta": 500_000.0},
        rms_norm_eps=1e-6,
        initializer_range=0.02,
        tie_word_embeddings=False,
    )
    known = set(Olmo2Config().to_dict()) | set(fields)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UBAConfigError(f"Unknown Olmo2Config field(s) in model overrides: {unknown}.")
    fields.update(overrides)
    return Olmo2Config(**fields, attn_implementation=attn_implementation)


def build_model(config: Olmo2Config, device: str | torch.device | None = None) -> Olmo2ForCausalLM:
    """A randomly initialised model (``device="meta"`` builds it without allocating memory)."""
    if device is not None and str(device) == "meta":
        with torch.device("meta"):
            return Olmo2ForCausalLM(config)
    # _from_config wraps construction in deepspeed.zero.Init under ZeRO-3, so weights are split as created.
    return Olmo2ForCausalLM._from_config(config)


def flops_per_token(config: Olmo2Config, seq_len: int) -> float:
    """Training FLOPs per token (forward + backward), the PaLM / Chinchilla convention.

    ``6 * N`` for the weight matmuls (non-embedding parameters plus the output projection; the input
    embedding is a lookup) plus ``12 * L * d * seq_len`` for attention scores and values.
    """
    d, L, ff = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    kv = config.num_key_value_heads or config.num_attention_heads
    head_dim = d // config.num_attention_heads
    per_layer = d * d * 2 + 2 * d * kv * head_dim + 3 * d * ff  # q, o, k, v, SwiGLU
    matmul_params = L * per_layer + d * config.vocab_size
    return 6.0 * matmul_params + 12.0 * L * d * seq_len


# Dense bf16 peak FLOP/s per device, from the vendors' data sheets (without sparsity), for MFU. The
# first name that appears in torch.cuda.get_device_name() wins, so specific names come first. A device
# not listed here (and every CPU) has no known peak: MFU is then not logged unless --peak_flops is given.
PEAK_FLOPS = {
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,  # SXM
    "H200": 989e12,
    "B200": 2250e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "MI300X": 1307e12,
}


def known_peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak FLOP/s of one accelerator, from :data:`PEAK_FLOPS` by name; None when unknown."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_FLOPS.items() if key in name), None)


def _config_overrides(model_args, block_size: int) -> dict[str, Any]:
    try:
        overrides = json.loads(model_args.config_overrides) if model_args.config_overrides else {}
    except json.JSONDecodeError as err:
        raise UBAConfigError(f"--config_overrides is not valid JSON: {err}.") from None
    preset_positions = PRESETS[model_args.model_preset].max_position_embeddings
    overrides.setdefault("max_position_embeddings", max(block_size, preset_positions))
    return overrides


def build_model_for(model_args, tokenizer, block_size: int):
    if model_args.model_name_or_path:
        return AutoModelForCausalLM.from_pretrained(
            model_args.model_name_or_path,
            trust_remote_code=model_args.trust_remote_code,
            attn_implementation=model_args.attn_implementation,
        )
    config = preset_config(
        model_args.model_preset,
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        attn_implementation=model_args.attn_implementation,
        **_config_overrides(model_args, block_size),
    )
    return build_model(config)


def planned_non_embedding_parameters(model_args, data_args) -> int:
    """The model's non-embedding parameter count before any data work: its config built on the meta device (no
    memory, no weights). The vocabulary (not known until the tokenizer exists) sizes only the embeddings, which
    this count leaves out, so it equals the count of the model trained later."""
    if model_args.model_name_or_path:
        config = AutoConfig.from_pretrained(
            model_args.model_name_or_path, trust_remote_code=model_args.trust_remote_code
        )
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=model_args.trust_remote_code)
    else:
        # No tokenizer yet: no special token ids (Olmo2Config's defaults lie outside a small vocabulary).
        special = dict(eos_token_id=None, pad_token_id=None, bos_token_id=None)
        overrides = {**special, **_config_overrides(model_args, data_args.block_size)}
        config = preset_config(model_args.model_preset, vocab_size=data_args.vocab_size, **overrides)
        model = build_model(config, device="meta")
    return count_parameters(model)["non_embedding"]
