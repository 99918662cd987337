#!/usr/bin/env python
"""Pretrain an OLMo-2 style model with the UBA schedule. See `uba_hf/pretrain/cli.py` for the logic.

python scripts/pretrain.py recipes/pretrain/tiny.yaml [--key value ...]
"""

from uba_hf.pretrain.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
