"""The pretraining job's budget in tokens: ``--max_tokens N`` or ``--tokens_per_param X``.

Pretraining is planned in tokens (20 tokens per parameter is the Chinchilla convention), but the UBA
budget is counted in optimizer updates. The conversion is

    max_steps = ceil(tokens / tokens_per_update),
    tokens_per_update = block_size x per-device batch x gradient accumulation x processes

(packed blocks: no padding), with ``tokens = X x non-embedding parameters`` for ``--tokens_per_param``.
Exactly one of ``--max_steps``, ``--max_tokens`` and ``--tokens_per_param`` may be given. A budget on
the command line replaces the recipe's, whichever unit each is in (recipes state ``max_steps``), so
``--max_tokens`` after a recipe needs no ``--max_steps -1``. Without any, the Trainer derives the
budget from ``num_train_epochs`` as before.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..arguments import PHI_AUTO, parse_phi
from ..errors import UBAConfigError
from ..zero_config import zero_config_schedule

BUDGET_KEYS = ("max_steps", "max_tokens", "tokens_per_param")


@dataclass
class BudgetArguments:
    """The budget in tokens (the alternative to ``--max_steps``, which counts optimizer updates)."""

    max_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Budget in training tokens: max_steps = ceil(max_tokens / tokens per update), tokens per "
            "update = block_size x per-device batch x gradient accumulation x processes. Replaces the recipe's "
            "max_steps; exclusive with --max_steps and --tokens_per_param."
        },
    )
    tokens_per_param: float | None = field(
        default=None,
        metadata={
            "help": "Budget as a multiple of the model's non-embedding parameters (20 = Chinchilla): "
            "max_tokens = tokens_per_param x non-embedding parameters. Exclusive with --max_steps and --max_tokens."
        },
    )


def recipe_without_replaced_budget(recipe: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    """The recipe without its budget when the command line gives one (in any unit): the command line wins."""
    flags = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    if flags & {f"--{key}" for key in BUDGET_KEYS}:
        return {key: value for key, value in recipe.items() if key not in BUDGET_KEYS}
    return recipe


def check_schedule_flags(values: dict[str, Any]) -> None:
    """The budget and schedule flags as parsed from the recipe and the command line (``values``: the parser's
    namespace as a dict), checked before any dataclass is built; each error names the flag as the user types it.
    ``max_steps`` -1 (Transformers' default) means "not given": the budget then comes from ``--max_tokens``,
    ``--tokens_per_param`` or ``--num_train_epochs``."""
    max_steps = values.get("max_steps", -1)
    if max_steps != -1 and max_steps < 1:
        raise UBAConfigError(
            f"--max_steps must be a number of optimizer updates >= 1 (or -1: the budget from --num_train_epochs); "
            f"got {max_steps!r}."
        )
    epochs = values.get("num_train_epochs", 1.0)
    no_budget = max_steps == -1 and values.get("max_tokens") is None and values.get("tokens_per_param") is None
    if no_budget and not (math.isfinite(epochs) and epochs > 0):
        raise UBAConfigError(
            f"--num_train_epochs must be a number > 0 (the budget when no --max_steps, --max_tokens or "
            f"--tokens_per_param is given); got {epochs!r}."
        )
    warmup = values.get("warmup_steps", 0)
    if not (math.isfinite(warmup) and warmup >= 0):
        raise UBAConfigError(
            f"--warmup_steps must be >= 0: a number of updates, or a fraction < 1 of the budget; got {warmup!r}."
        )
    phi = values.get("phi")
    if phi is not None:
        try:
            parse_phi(phi)
        except UBAConfigError:
            raise UBAConfigError(
                f"--phi must be a finite number > 0 (2 = cosine; < 2 keeps the LR high longer) or '{PHI_AUTO}'; "
                f"got {phi!r}."
            ) from None
    floor = values.get("min_lr_ratio")
    if floor is not None and not 0.0 <= floor < 1.0:  # also rejects NaN
        raise UBAConfigError(
            f"--min_lr_ratio must be a number in [0, 1): the final LR as a fraction of the peak LR; got {floor!r}."
        )


def check_warmup_fits(training, budget: TokenBudget, num_training_steps: int | None = None) -> None:
    """``--warmup_steps`` within the budget (the warmup is part of it), once the budget in updates is known:
    ``training.max_steps``, or ``num_training_steps`` for a budget in epochs."""
    steps = training.max_steps if num_training_steps is None else num_training_steps
    warmup = training.get_warmup_steps(steps)
    if warmup > steps:
        updates = f"{steps:,} update{'' if steps == 1 else 's'}"
        raise UBAConfigError(
            f"--warmup_steps {warmup} is longer than the budget of {updates} ({budget_source(budget)}): the warmup "
            "is part of the budget. Shorten the warmup or raise the budget."
        )


def epoch_budget_at_most(training, num_blocks: int) -> int:
    """The most optimizer updates ``--num_train_epochs`` can give over ``num_blocks`` training blocks: Transformers'
    count for one process (more processes, or ``--dataloader_drop_last``, give fewer), so a warmup longer than
    this is longer than the budget whatever the launch."""
    batches = math.ceil(num_blocks / training.per_device_train_batch_size)
    per_epoch = max(math.ceil(batches / training.gradient_accumulation_steps), 1)
    return math.ceil(training.num_train_epochs * per_epoch)


def tokens_per_update(training, block_size: int) -> int:
    """Tokens one optimizer update consumes (packed blocks, so every position is a training token)."""
    return (
        training.per_device_train_batch_size * training.gradient_accumulation_steps * training.world_size * block_size
    )


@dataclass
class TokenBudget:
    """How the run's budget was given, and its size in tokens; ``record`` goes to metrics.json and the
    checkpoint's ``uba_schedule.json``."""

    tokens_per_update: int
    given: str  # "max_steps", "max_tokens", "tokens_per_param" or "epochs"
    max_tokens: int | None = None
    tokens_per_param: float | None = None
    non_embedding_parameters: int | None = None

    def with_parameters(self, training, non_embedding_parameters: int) -> TokenBudget:
        """For ``--tokens_per_param``: the token budget of this model, set as ``training.max_steps``."""
        if self.given != "tokens_per_param":
            return self
        max_tokens = math.ceil(self.tokens_per_param * non_embedding_parameters)
        training.max_steps = math.ceil(max_tokens / self.tokens_per_update)
        return dataclasses.replace(self, max_tokens=max_tokens, non_embedding_parameters=non_embedding_parameters)

    def record(self, num_training_steps: int) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.given in ("max_tokens", "tokens_per_param"):
            extra["max_tokens"] = self.max_tokens
        if self.given == "tokens_per_param":
            extra.update(tokens_per_param=self.tokens_per_param, non_embedding_parameters=self.non_embedding_parameters)
        return {
            "budget_from": self.given,
            "tokens_per_update": self.tokens_per_update,
            "num_training_tokens": int(num_training_steps) * self.tokens_per_update,
            **extra,
        }


def resolve_budget(budget_args: BudgetArguments, training, block_size: int) -> TokenBudget:
    """Check that at most one budget is given and turn ``--max_tokens`` into ``training.max_steps`` (in place).

    ``--tokens_per_param`` needs the model's non-embedding parameter count: it is converted by
    :meth:`TokenBudget.with_parameters`, which the job calls with the count of the model's config built on the meta
    device (no weights), still before any data work. Called before any data or model work.
    """
    given = {"max_steps": training.max_steps} if training.max_steps > 0 else {}
    given.update({key: getattr(budget_args, key) for key in BUDGET_KEYS[1:] if getattr(budget_args, key) is not None})
    if len(given) > 1:
        both = " and ".join(f"--{key} {value}" for key, value in given.items())
        raise UBAConfigError(f"Give one budget, not {both}: they are alternatives.")
    max_tokens, tokens_per_param = budget_args.max_tokens, budget_args.tokens_per_param
    if max_tokens is not None and max_tokens < 1:
        raise UBAConfigError(f"--max_tokens must be a number of tokens >= 1; got {max_tokens!r}.")
    if tokens_per_param is not None and not (math.isfinite(tokens_per_param) and tokens_per_param > 0):
        raise UBAConfigError(
            f"--tokens_per_param must be a finite number > 0 (20 = Chinchilla); got {tokens_per_param!r}."
        )
    budget = TokenBudget(
        tokens_per_update(training, block_size),
        next(iter(given), "epochs"),
        max_tokens=max_tokens,
        tokens_per_param=tokens_per_param,
    )
    if max_tokens is not None:
        training.max_steps = math.ceil(max_tokens / budget.tokens_per_update)
    return budget


def schedule_advice(uba_kwargs: dict[str, Any], num_training_steps: int, learning_rate: float) -> str | None:
    """A note when the run gives ``phi`` / ``min_lr_ratio`` that differ from the zero-config choice at its budget and
    peak LR (:func:`uba_hf.zero_config_schedule`); None when they match, when no phi is given (the choice itself is
    logged then) or without UBA."""
    phi = parse_phi(uba_kwargs.get("phi"))  # None: not given ("auto" the same)
    if phi is None:
        return None
    chosen = zero_config_schedule(num_training_steps, learning_rate)
    floor = uba_kwargs.get("min_lr_ratio")
    floor = chosen["min_lr_ratio"] if floor is None else floor
    if (float(phi), float(floor)) == (chosen["phi"], chosen["min_lr_ratio"]):
        return None
    return (
        f"This run trains with phi={float(phi):g}, min_lr_ratio={float(floor):g} (as given). Without --phi the "
        f"zero-config choice would be phi={chosen['phi']:g}, min_lr_ratio={chosen['min_lr_ratio']:g}, from "
        f"{chosen['reason']} (docs/phi.md)."
    )


def budget_source(budget: TokenBudget) -> str:
    """Where the budget came from, by the flag the user gave: ``from --max_tokens 61,440``."""
    if budget.given == "max_tokens":
        source = f"--max_tokens {budget.max_tokens:,}"
    elif budget.given == "tokens_per_param":
        source = (
            f"--tokens_per_param {budget.tokens_per_param:g} x {budget.non_embedding_parameters:,} non-embedding "
            f"parameters = {budget.max_tokens:,} tokens"
        )
    else:
        source = f"--{'num_train_epochs' if budget.given == 'epochs' else budget.given}"
    return f"from {source}"


def describe_budget(budget: TokenBudget, num_training_steps: int) -> str:
    """One log line: the budget in both units and where it came from."""
    tokens = num_training_steps * budget.tokens_per_update
    return (
        f"Budget: {num_training_steps:,} optimizer updates x {budget.tokens_per_update:,} tokens per update = "
        f"{tokens:,} tokens ({budget_source(budget)})"
    )
