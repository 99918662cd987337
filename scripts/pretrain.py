#!/usr/bin/env python
"""Pretrain an OLMo-2 style model with the UBA schedule. See `uba_hf/pretrain/cli.py` for the logic.

python scripts/pretrain.py recipes/pretrain/tiny.yaml [--key value ...]
"""

from uba_hf_cli import pretrain_main  # answers --help without importing torch; imports uba_hf to run

if __name__ == "__main__":
    raise SystemExit(pretrain_main())
