"""Presets: parameter counts on the meta device (7B costs no memory), FLOPs, config overrides."""

from __future__ import annotations

import pytest
import torch

from uba_hf.pretrain.models import (
    PRESETS,
    build_model,
    flops_per_token,
    known_peak_flops,
    preset_config,
)
from uba_hf.zero_config import count_parameters


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_non_embedding_params_within_10_percent_of_name(name):
    model = build_model(preset_config(name), device="meta")
    counts = count_parameters(model)
    assert counts["non_embedding"] == pytest.approx(PRESETS[name].nominal_params, rel=0.10)
    assert counts["total"] == counts["embedding"] + counts["non_embedding"]
    assert next(model.parameters()).device.type == "meta"


@pytest.mark.parametrize("name,total", [("olmo2-1b", 1.48e9), ("olmo2-7b", 7.30e9)])
def test_1b_and_7b_match_olmo2_totals(name, total):
    assert count_parameters(build_model(preset_config(name), device="meta"))["total"] == pytest.approx(total, rel=0.01)


def test_flops_per_token_is_6n_plus_attention():
    cfg = preset_config("olmo2-150m", vocab_size=50_000)
    n = count_parameters(build_model(cfg, device="meta"))
    matmul_params = n["non_embedding"] + 50_000 * cfg.hidden_size  # + output projection
    fpt = flops_per_token(cfg, seq_len=2048)
    attention = 12 * cfg.num_hidden_layers * cfg.hidden_size * 2048
    # norms are parameters but not matmuls: within 0.1%
    assert fpt == pytest.approx(6 * matmul_params + attention, rel=1e-3)


def test_overrides_and_errors():
    cfg = preset_config("tiny", vocab_size=1000, num_hidden_layers=2)
    assert cfg.num_hidden_layers == 2 and cfg.vocab_size == 1000 and cfg.model_type == "olmo2"
    with pytest.raises(ValueError, match=r"Unknown model preset 'olmo2-3b'; valid presets: tiny, olmo2-20m"):
        preset_config("olmo2-3b")
    with pytest.raises(ValueError, match=r"Unknown Olmo2Config field\(s\).*\['num_layers'\]"):
        preset_config("tiny", num_layers=3)


@pytest.mark.parametrize(
    "name,peak",
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA H200", 989e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA L40S", 362e12),
        ("Tesla T4", None),  # not in the table: no made-up peak
    ],
)
def test_known_peak_flops_by_device_name(monkeypatch, name, peak):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    assert known_peak_flops(torch.device("cuda", 0)) == peak


def test_cpu_has_no_known_peak():
    assert known_peak_flops(torch.device("cpu")) is None
