"""phi="auto" at its defaults is cheap: few HVPs on small sub-batches cut from the first training batch (the
rows warmup trains on first), without moving the run's data order. Cost vs a main-job run:
benchmarks/probe_cost.md (``benchmarks/probe_cost.py``)."""

from __future__ import annotations

import torch
from conftest import TokenDataset, tiny_olmo2
from transformers import TrainingArguments

from uba_hf import UBAArguments, UBATrainer
from uba_hf.phi import PROBE_ROWS


def _trainer(tmp_path, uba: UBAArguments) -> UBATrainer:
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=6,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        lr_scheduler_type="uba",
        warmup_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=3,
        data_seed=3,
    )
    return UBATrainer(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(n=64), uba_args=uba)


def test_default_probe_is_small_and_uses_the_first_training_rows(tmp_path):
    uba = UBAArguments(phi="auto")
    assert uba.phi_probe_batches * uba.phi_probe_lanczos_steps <= 10 and PROBE_ROWS <= 4  # <= 10 HVPs of 4 rows
    trainer = _trainer(tmp_path, uba)
    probe_batches = trainer._probe_batches()
    first = next(iter(trainer.get_train_dataloader()))  # what the first update trains on
    assert len(probe_batches) == uba.phi_probe_batches
    assert all(len(b["input_ids"]) == PROBE_ROWS for b in probe_batches)
    assert torch.equal(torch.cat([b["input_ids"] for b in probe_batches]), first["input_ids"][:PROBE_ROWS])


def test_probe_sub_batches_span_training_batches_in_order(tmp_path):
    """More sub-batches than one training batch holds: cut in order across the first training batches."""
    trainer = _trainer(tmp_path, UBAArguments(phi="auto", phi_probe_batches=3))
    probe_batches = trainer._probe_batches()
    loader = iter(trainer.get_train_dataloader())
    rows = torch.cat([next(loader)["input_ids"], next(loader)["input_ids"]])
    assert [len(b["input_ids"]) for b in probe_batches] == [PROBE_ROWS] * 3
    assert torch.equal(torch.cat([b["input_ids"] for b in probe_batches]), rows[: 3 * PROBE_ROWS])


def test_default_probe_runs_ten_hvps_in_training(tmp_path):
    trainer = _trainer(tmp_path, UBAArguments(phi="auto"))
    trainer.train()
    assert trainer.phi_probe["num_hvps"] == UBAArguments().phi_probe_batches * UBAArguments().phi_probe_lanczos_steps
    assert trainer.phi_probe["num_hvps"] == 10 and 0.5 <= trainer.uba_kwargs["phi"] <= 4.0
