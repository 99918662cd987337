#!/usr/bin/env python
"""Run the curvature probe on a recipe's initial model and print kappa and the phi it suggests, without training.

    python scripts/estimate_phi.py recipes/pretrain/tiny.yaml [--num_probes 1] [--probe_batch_size 4]
        [--phi_probe_batches 4 --phi_probe_lanczos_steps 20]

Takes the same arguments as scripts/pretrain.py, plus the two above. One probe of
``phi_probe_lanczos_steps`` x ``phi_probe_batches`` Hessian-vector products (HVPs), as ``--phi auto``
does at the start of training, but on batches of ``--probe_batch_size`` blocks (default 4, a quarter
of the tiny recipe's batch, to keep the default short on a CPU); ``--probe_batch_size`` equal to
``per_device_train_batch_size`` reproduces what training would compute. The cost is printed first and
the progress (with the time left) every 10 s on stderr; the result (JSON) goes to stdout. The rule
mapping kappa to phi is this package's, not the paper's: see docs/phi.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from transformers import default_data_collator, set_seed

from uba_hf.errors import UBAConfigError
from uba_hf.phi import probe_phi
from uba_hf.pretrain.cli import build_model_for, parse_args
from uba_hf.pretrain.data import get_tokenizer, load_corpus, tokenize_and_pack
from uba_hf.pretrain.preflight import quiet_logs


def script_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This script's own flags; everything else goes to the pretraining parser."""
    parser = argparse.ArgumentParser(
        prog="estimate_phi.py",
        usage="python scripts/estimate_phi.py [RECIPE.yaml] [--num_probes N] [--probe_batch_size B] "
        "[pretraining --key value ...]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--num_probes", type=int, default=1, help="random Lanczos starts (default 1, as --phi auto)")
    parser.add_argument(
        "--probe_batch_size",
        type=int,
        default=4,
        help="blocks per probe batch (training's own probe uses per_device_train_batch_size)",
    )
    options, rest = parser.parse_known_args(argv)
    if options.num_probes < 1 or options.probe_batch_size < 1:
        raise UBAConfigError("--num_probes and --probe_batch_size must be >= 1.")
    return options, rest


class Progress:
    """Counts the model's forward passes (each starts one per-batch HVP, so at the i-th, i - 1 are done) and
    reports on stderr: after the first HVP (with the estimate for all), then every ``every_seconds``."""

    def __init__(self, total: int, every_seconds: float = 10.0) -> None:
        self.total, self.every, self.started = total, every_seconds, 0
        self.start = self.last = time.perf_counter()

    def report(self, done: int) -> None:
        now = time.perf_counter()
        elapsed = now - self.start
        left = elapsed / max(done, 1) * max(self.total - done, 0)
        self.last = now
        print(
            f"[estimate_phi] {done}/{self.total} HVPs done, {elapsed:.0f} s elapsed, about {left:.0f} s left",
            file=sys.stderr,
            flush=True,
        )

    def __call__(self, module, inputs, output) -> None:
        self.started += 1
        done = self.started - 1
        if done == 1 or (done > 1 and time.perf_counter() - self.last >= self.every):
            self.report(done)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python scripts/estimate_phi.py RECIPE.yaml [--num_probes N] [...]  (--help)", file=sys.stderr)
        return 2
    try:
        options, rest = script_options(argv)
        model_args, data_args, uba_args, _, training = parse_args(rest)
        quiet_logs(training)  # no progress-bar redraws when stderr is a file
        set_seed(training.seed)
        corpus = load_corpus(data_args)
        tokenizer = get_tokenizer(data_args, corpus)
        blocks = tokenize_and_pack(corpus["train"], tokenizer, data_args, max_blocks=None)
        model = build_model_for(model_args, tokenizer, data_args.block_size)
        size = options.probe_batch_size
        if len(blocks) < size * uba_args.phi_probe_batches:
            raise UBAConfigError(
                f"The corpus has {len(blocks)} blocks; the probe needs --phi_probe_batches x --probe_batch_size = "
                f"{size * uba_args.phi_probe_batches}. Lower either."
            )
    except UBAConfigError as err:
        print(f"estimate_phi.py: error: {err}", file=sys.stderr)
        return 2
    batches = [
        default_data_collator([blocks[j] for j in range(i * size, (i + 1) * size)])
        for i in range(uba_args.phi_probe_batches)
    ]
    total = options.num_probes * uba_args.phi_probe_lanczos_steps * uba_args.phi_probe_batches
    print(
        f"[estimate_phi] probing the initial model: {options.num_probes} probe(s) x {uba_args.phi_probe_lanczos_steps} "
        f"Lanczos steps x {uba_args.phi_probe_batches} batches of {size} x {data_args.block_size} tokens = {total} "
        "Hessian-vector products (each about 2-3 training steps of that batch)",
        file=sys.stderr,
        flush=True,
    )
    tracker = Progress(total)
    hook = model.register_forward_hook(tracker)
    try:
        probe = probe_phi(model, batches, lanczos_steps=uba_args.phi_probe_lanczos_steps, num_probes=options.num_probes)
    finally:
        hook.remove()
    tracker.report(probe.num_hvps)
    print(json.dumps(probe.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
