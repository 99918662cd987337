"""Numbers of ``TrainingArguments`` that Transformers takes as given and that fail only later, after the corpus and
the model are loaded, with a traceback (the optimizer's ``Invalid beta parameter``, the data loader's
``batch_size should be a positive integer``, ``OverflowError`` on an infinite logging interval) or not at all (an
infinite learning rate trains on NaN). Found by fuzzing ``uba-pretrain`` (benchmarks/reliability/fuzz.py): refused
here in one line that names the flag, before anything is read or written."""

from __future__ import annotations

import math
from typing import Any

from ..errors import UBAConfigError


def _number(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False, high_open=True):
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise UBAConfigError(f"--{name} must be a finite number in {left}{low:g}, {high:g}{right}; got {value!r}.")


def check_training_numbers(training) -> None:
    """Refuse what the optimizer, the data loader or the logger would refuse later with a traceback (the budget's
    flags, ``--max_steps`` among them, are ``budget.check_schedule_flags``')."""
    _number("learning_rate", training.learning_rate, 0.0)
    _number("adam_beta1", training.adam_beta1, 0.0, 1.0)
    _number("adam_beta2", training.adam_beta2, 0.0, 1.0)
    _number("adam_epsilon", training.adam_epsilon, 0.0)
    _number("weight_decay", training.weight_decay, 0.0)
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size"):
        if getattr(training, name) < 1:
            raise UBAConfigError(f"--{name} must be at least 1; got {getattr(training, name)!r}.")
    for name in ("logging_steps", "save_steps", "eval_steps"):
        value = getattr(training, name)
        if value is not None:
            _number(name, value, 0.0, low_open=True)
