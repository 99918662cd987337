#!/usr/bin/env python
"""Run the curvature probe on a recipe's initial model and print kappa and the phi it suggests, without training.

    python scripts/estimate_phi.py recipes/pretrain/tiny.yaml [--phi_probe_batches 4 --phi_probe_lanczos_steps 20]

Takes the same arguments as scripts/pretrain.py. The rule mapping kappa to phi is this package's, not
the paper's: see docs/phi.md.
"""

import json
import sys

from transformers import default_data_collator, set_seed

from uba_hf.phi import probe_phi
from uba_hf.pretrain.cli import build_model_for, parse_args
from uba_hf.pretrain.data import get_tokenizer, load_corpus, tokenize_and_pack


def main(argv: list[str]) -> None:
    model_args, data_args, uba_args, _, training = parse_args(argv)
    set_seed(training.seed)
    corpus = load_corpus(data_args)
    tokenizer = get_tokenizer(data_args, corpus)
    blocks = tokenize_and_pack(corpus["train"], tokenizer, data_args, max_blocks=None)
    model = build_model_for(model_args, tokenizer, data_args.block_size)
    size = training.per_device_train_batch_size
    batches = [
        default_data_collator([blocks[j] for j in range(i * size, (i + 1) * size)])
        for i in range(uba_args.phi_probe_batches)
    ]
    probe = probe_phi(model, batches, lanczos_steps=uba_args.phi_probe_lanczos_steps, num_probes=3)
    print(json.dumps(probe.to_dict(), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
