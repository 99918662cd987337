#!/usr/bin/env python
"""What phi="auto" costs at its default settings, next to the main job's run.

Trains the main job's model and data (``uba_bench.main_job_config``: recipes/pretrain/tiny.yaml) with
``UBATrainer`` and ``UBAArguments(phi="auto")`` at the package defaults for a few updates, one torch
thread, and reports the probe's seconds (``trainer.phi_probe["seconds"]``, the probe as the trainer runs
it) against the seconds of the recipe's 400-update run, extrapolated from the measured seconds per update
of the same process (training only, no evaluation: the ratio is an upper bound).

    nice -n 5 python benchmarks/probe_cost.py --seeds 0,1,2     # -> benchmarks/probe_cost.md
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def measure(cfg, data, seed: int, updates: int) -> dict:
    from transformers import default_data_collator
    from uba_bench import make_model, training_arguments

    from uba_hf import UBAArguments, UBATrainer

    uba = UBAArguments(phi="auto")
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(cfg, "uba-default", updates, 3e-3, seed, out)
        args.lr_scheduler_kwargs = {}
        trainer = UBATrainer(
            model=make_model(cfg, data, seed),
            args=args,
            train_dataset=data.train,
            data_collator=default_data_collator,
            uba_args=uba,
        )
        start = time.perf_counter()
        trainer.train()
        total = time.perf_counter() - start
    probe = trainer.phi_probe
    return {
        "seed": seed,
        "probe_s": probe["seconds"],
        "hvps": probe["num_hvps"],
        "kappa": probe["condition_number"],
        "phi": probe["phi"],
        "s_per_update": (total - probe["seconds"]) / updates,
        "defaults": f"{uba.phi_probe_batches} batch(es), {uba.phi_probe_lanczos_steps} Lanczos steps",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--updates", type=int, default=20, help="updates timed per seed")
    parser.add_argument("--budget", type=int, default=400, help="the run the probe is compared with")
    parser.add_argument("--out", default="benchmarks/probe_cost.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from uba_bench import main_job_config, prepare_data

    from uba_hf.phi import PROBE_ROWS

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(1)
    cfg = main_job_config()
    data = prepare_data(cfg)
    rows = [measure(cfg, data, int(s), args.updates) for s in args.seeds.split(",")]
    lines = [
        "# phi='auto': probe cost at the package defaults vs the main job's run",
        "",
        f"Main job's model and data (`main_job_config`, {cfg.batch_size} x {cfg.block_size} tokens per update), "
        f"`UBATrainer` + `UBAArguments(phi='auto')` at its defaults ({rows[0]['defaults']} of "
        f"`PROBE_ROWS` = {PROBE_ROWS} rows), one torch thread, machine shared with other jobs. "
        f"Run = {args.budget} updates x the seconds per update measured over {args.updates} updates of the same "
        "process (training only).",
        "",
        f"| seed | HVPs | probe s | s / update | {args.budget}-update run s | probe / run | kappa | phi |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        run = args.budget * r["s_per_update"]
        kappa = f"{r['kappa']:.4g}" if r["kappa"] is not None else "n/a"
        lines.append(
            f"| {r['seed']} | {r['hvps']} | {r['probe_s']:.1f} | {r['s_per_update']:.3f} | {run:.0f} | "
            f"{r['probe_s'] / run:.1%} | {kappa} | {r['phi']:.3f} |"
        )
    lines += ["", f"Command: `nice -n 5 python benchmarks/probe_cost.py --seeds {args.seeds}`", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
