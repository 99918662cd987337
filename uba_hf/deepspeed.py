"""DeepSpeed configs: a ``scheduler`` block would silently replace the UBA schedule.

With a ``scheduler`` block, Transformers lets DeepSpeed build and step its own scheduler and never
calls ``create_scheduler``: the run trains on another curve and exits 0. Both ``UBATrainer`` and
``uba-run`` refuse such a config when UBA is asked for, with this one message.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import UBAConfigError

__all__ = ["check_no_scheduler_block", "load_deepspeed_config"]


def load_deepspeed_config(value: str | dict) -> dict[str, Any]:
    """``--deepspeed`` as Transformers takes it: a dict, a path to a JSON file, or a JSON string."""
    if isinstance(value, dict):
        return value
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            return json.load(f)
    try:
        config = json.loads(value)
    except json.JSONDecodeError:
        raise UBAConfigError(f"--deepspeed {value!r}: neither a file nor a JSON object.") from None
    if not isinstance(config, dict):
        raise UBAConfigError(f"--deepspeed {value!r}: a DeepSpeed config must be a JSON object.")
    return config


def check_no_scheduler_block(config: dict[str, Any]) -> None:
    """Raise :class:`UBAConfigError` if the DeepSpeed ``config`` has its own ``scheduler`` block."""
    if "scheduler" in config:
        kind = config["scheduler"].get("type", "?") if isinstance(config["scheduler"], dict) else "?"
        raise UBAConfigError(
            f"The DeepSpeed config has a 'scheduler' block ({kind}), which would replace the UBA schedule. "
            "Remove the 'scheduler' block (the recipes in recipes/deepspeed/ have none) or pick that "
            "schedule explicitly with another --lr_scheduler_type."
        )
