"""Where the schedule's INFO lines go: the ``uba_hf`` logger where the user's logging shows it, else Transformers'.

A stock ``Trainer`` run (``lr_scheduler_type="uba"``) configures no logging but Transformers' own: its messages go
to Transformers' handler (stderr) at the verbosity ``TrainingArguments.log_level`` sets (``log_level_replica`` on
the other processes; ``TRANSFORMERS_VERBOSITY`` or ``transformers.logging.set_verbosity`` outside the Trainer). A
line on the ``uba_hf`` logger, which has no handler and Python's default WARNING level, would show nowhere. So
:func:`log_info` sends a line to ``uba_hf`` when the user's logging would show it there (``logging.basicConfig``,
``uba-pretrain``, pytest's ``caplog``), and otherwise to a child of Transformers' logger, where it shows beside the
Trainer's own messages exactly when they do. A line goes to one of the two, never both: no duplicates.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("uba_hf")


def _shown(log: logging.Logger, level: int) -> bool:
    """Whether a record of ``level`` on ``log`` reaches a handler that emits it (as ``Logger.callHandlers`` walks)."""
    if not log.isEnabledFor(level):
        return False
    current: logging.Logger | None = log
    while current is not None:
        if any(level >= handler.level for handler in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def log_info(message: str) -> None:
    """Log ``message`` at INFO where the user sees it: the ``uba_hf`` logger if it is shown, else Transformers'."""
    if _shown(logger, logging.INFO):
        logger.info(message)
    else:  # imported here: the schedule's module imports nothing from Transformers
        from transformers.utils import logging as transformers_logging

        transformers_logging.get_logger("transformers.uba_hf").info(message)
