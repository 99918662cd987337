#!/usr/bin/env python
"""Run the curvature probe on a recipe's initial model and print kappa and the phi it suggests, without training.

    python scripts/estimate_phi.py recipes/pretrain/tiny.yaml [--num_probes 1] [--probe_batch_size 16]
        [--phi_probe_batches 4 --phi_probe_lanczos_steps 20]

Takes the same arguments as scripts/pretrain.py, plus the two above. The defaults are what
``--phi auto`` does at the start of training (one probe of ``phi_probe_lanczos_steps`` x
``phi_probe_batches`` Hessian-vector products on training batches of ``per_device_train_batch_size``
blocks), so the phi printed is the one training would choose. The cost is printed first and the
progress (with the time left) every few seconds on stderr; the result (JSON) goes to stdout. For a
quicker, rougher answer lower ``--phi_probe_lanczos_steps``, ``--phi_probe_batches`` or
``--probe_batch_size``. The rule mapping kappa to phi is this package's, not the paper's: see docs/phi.md.
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
        default=None,
        help="blocks per probe batch (default: per_device_train_batch_size)",
    )
    options, rest = parser.parse_known_args(argv)
    if options.num_probes < 1 or (options.probe_batch_size is not None and options.probe_batch_size < 1):
        raise UBAConfigError("--num_probes and --probe_batch_size must be >= 1.")
    return options, rest


class Progress:
    """Counts the model's forward passes (one per per-batch Hessian-vector product) and reports on stderr."""

    def __init__(self, total: int, every_seconds: float = 10.0) -> None:
        self.total, self.every, self.done = total, every_seconds, 0
        self.start = self.last = time.perf_counter()

    def __call__(self, module, inputs, output) -> None:
        self.done += 1
        now = time.perf_counter()
        elapsed = now - self.start
        if self.done == 1 or now - self.last >= self.every or self.done == self.total:
            self.last = now
            left = elapsed / self.done * max(self.total - self.done, 0)
            print(
                f"[estimate_phi] {self.done}/{self.total} HVPs, {elapsed:.0f} s elapsed, about {left:.0f} s left",
                file=sys.stderr,
                flush=True,
            )


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python scripts/estimate_phi.py RECIPE.yaml [--num_probes N] [...]  (--help)", file=sys.stderr)
        return 2
    try:
        options, rest = script_options(argv)
        model_args, data_args, uba_args, _, training = parse_args(rest)
        set_seed(training.seed)
        corpus = load_corpus(data_args)
        tokenizer = get_tokenizer(data_args, corpus)
        blocks = tokenize_and_pack(corpus["train"], tokenizer, data_args, max_blocks=None)
        model = build_model_for(model_args, tokenizer, data_args.block_size)
        size = options.probe_batch_size or training.per_device_train_batch_size
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
    hook = model.register_forward_hook(Progress(total))
    try:
        probe = probe_phi(model, batches, lanczos_steps=uba_args.phi_probe_lanczos_steps, num_probes=options.num_probes)
    finally:
        hook.remove()
    print(json.dumps(probe.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
