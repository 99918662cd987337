"""The main job: pretrain an OLMo-2 style decoder from scratch with the UBA schedule.

    python scripts/pretrain.py recipes/pretrain/tiny.yaml --max_steps 50 --output_dir out/x
    uba-pretrain recipes/pretrain/olmo2-150m.yaml --dataset_name my/corpus ...

A YAML recipe (first argument, optional) gives defaults; ``--key value`` flags after it win. Reads top
to bottom: arguments -> corpus -> tokenizer -> blocks -> model -> UBATrainer -> outputs.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import (
    HfArgumentParser,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import IntervalStrategy

from uba_hf_cli.usage import (
    HELP_ALL_FLAG,
    HELP_FLAGS,
    PRETRAIN_DESCRIPTION,
    PRETRAIN_HELP,
    PRETRAIN_NO_ARGUMENTS,
    PRETRAIN_USAGE,
)

from ..arguments import UBAArguments, validate_uba_args
from ..callbacks import PreemptionCallback
from ..errors import CheckpointWriteError, UBAConfigError
from ..registry import UBA_SCHEDULER_NAME
from ..trainer import UBATrainer
from ..zero_config import count_parameters
from .budget import (
    BudgetArguments,
    check_schedule_flags,
    check_warmup_fits,
    describe_budget,
    epoch_budget_at_most,
    recipe_without_replaced_budget,
    resolve_budget,
    schedule_advice,
)
from .collator import block_collator
from .commands import interrupted_message, resume_command, run_identity_of
from .data import DataArguments, get_tokenizer, load_corpus, tokenize_and_pack
from .models import PRESETS, build_model_for, flops_per_token, known_peak_flops, planned_non_embedding_parameters
from .numbers import check_training_numbers
from .outputs import report_preempted, write_run_clm_outputs
from .plotting import ResumableLRTrace, lr_points, plot_lr_schedule
from .preflight import (
    finished_budget,
    identity_sections,
    nothing_left_on_config_error,
    prepare_output_dir,
    pretrain_identity,
    quiet_logs,
    remove_stale_checkpoints,
    report_already_complete,
    resolve_resume,
    schedule_kwargs,
)
from .recipe_names import resolve_recipe

logger = logging.getLogger("uba_hf")


@dataclass
class ModelArguments:
    """Which model to train."""

    _argument_group_name = "model (ModelArguments)"

    model_preset: str = field(default="tiny", metadata={"help": f"OLMo-2 preset: {', '.join(PRESETS)}."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Hub name or local path of a model to continue training (overrides --model_preset)."},
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": "JSON of Olmo2Config fields to override, e.g. '{\"num_hidden_layers\": 2}'."}
    )
    trust_remote_code: bool = field(default=False, metadata={"help": "Allow hub code execution (off by default)."})
    attn_implementation: str | None = field(
        default=None,
        metadata={
            "help": "Transformers' attention kernel: sdpa, eager, flex_attention, flash_attention_2 (needs "
            "flash-attn). Default: Transformers' choice (sdpa where available)."
        },
    )


@dataclass
class RunArguments(BudgetArguments):
    """Run-level switches that TrainingArguments does not have (and the token budget, ``budget.py``)."""

    _argument_group_name = "run (RunArguments)"

    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow writing into an output_dir that already holds a run."}
    )
    peak_flops: float | None = field(
        default=None,
        metadata={
            "help": "Peak FLOP/s per device for MFU (default: the dense bf16 peak of a known GPU; "
            "unknown devices and CPUs log tokens/s only)."
        },
    )


ARGUMENT_CLASSES = (ModelArguments, DataArguments, UBAArguments, RunArguments, TrainingArguments)
RESUME_HELP = (
    "Continue a run: 'latest' resumes the newest complete checkpoint of this run in --output_dir (other runs' "
    "skipped, docs/reliability.md); or the path of a checkpoint-N folder. A run pre-empted or interrupted prints "
    "the command to paste."
)
HELP_WIDTH = 100


def _recipe_to_argv(recipe: dict[str, Any], known: set[str], path: str) -> list[str]:
    unknown = sorted(set(recipe) - known)
    if unknown:
        raise UBAConfigError(f"{path}: unknown key(s) {unknown}; see `uba-pretrain --help` for valid arguments.")
    argv: list[str] = []
    for key, value in recipe.items():
        if value is None:
            continue
        if isinstance(value, dict):
            argv += [f"--{key}", json.dumps(value)]
        elif isinstance(value, list):
            argv += [f"--{key}", *map(str, value)]
        elif isinstance(value, bool):
            argv += [f"--{key}", "true" if value else "false"]
        else:
            argv += [f"--{key}", str(value)]
    return argv


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Each flag once, at a fixed width. ``HfArgumentParser`` adds a dashed alias to every underscored flag
    (``--max-steps`` for ``--max_steps``): both work, the help shows the underscored one. The width does not
    follow the terminal, so ``--help-all`` reads the same in a log file and in any terminal."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=HELP_WIDTH)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        names = action.option_strings
        shown = [name for name in names if _underscored(name) == name or _underscored(name) not in names]
        if shown != names:
            action = copy.copy(action)
            action.option_strings = shown
        return super()._format_action_invocation(action)


def _underscored(flag: str) -> str:
    return "--" + flag[2:].replace("-", "_") if flag.startswith("--") else flag


class _Parser(HfArgumentParser):
    """argparse prints the full usage (hundreds of TrainingArguments flags) before an error; one line is enough."""

    def error(self, message: str):
        raise UBAConfigError(f"{message} (see `uba-pretrain --help`)")


def build_parser() -> _Parser:
    """The CLI's parser: a description, the recipe positional in the usage line, the job's options grouped
    before Transformers' ones, and no prefix matching (``--max_step`` must not silently mean ``--max_steps``)."""
    # Each of the job's dataclasses names its help section (``_argument_group_name``, HfArgumentParser's hook).
    parser = _Parser(
        ARGUMENT_CLASSES,
        prog="uba-pretrain",
        usage=PRETRAIN_USAGE,
        description=PRETRAIN_DESCRIPTION,
        allow_abbrev=False,
        formatter_class=_HelpFormatter,
    )
    # argparse lists sections in creation order; its default one (--help and TrainingArguments) goes last.
    default = parser._optionals
    default.title = "Transformers TrainingArguments"
    parser._action_groups.remove(default)
    parser._action_groups.append(default)
    # The job's schedule is UBA unless the user names another, so an explicit "linear" means linear.
    # One copy of each log line: processes other than the main one report errors only unless asked.
    parser.set_defaults(lr_scheduler_type=UBA_SCHEDULER_NAME, log_level_replica="error")
    # Transformers' text says the Trainer does not use this flag; this job does, and takes `latest`.
    resume = next(action for action in parser._actions if action.dest == "resume_from_checkpoint")
    resume.help = RESUME_HELP
    return parser


def parse_args(argv: list[str]) -> tuple[Any, ...]:
    """Recipe YAML (optional first argument) then ``--key value`` overrides; the overrides win."""
    parser = build_parser()
    if argv and (path := resolve_recipe(argv[0])) is not None:  # a YAML path or a shipped recipe's name
        argv = argv[1:]
        if not os.path.isfile(path):
            raise UBAConfigError(f"Recipe {path!r} does not exist.")
        try:
            with open(path, encoding="utf-8") as f:
                recipe = yaml.safe_load(f) or {}  # safe_load: a recipe can never construct objects or run code
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise UBAConfigError(f"{path}: not a valid YAML recipe: {' '.join(str(err).split())}") from None
        if not isinstance(recipe, dict):
            raise UBAConfigError(f"{path}: a recipe must be a mapping of argument names to values.")
        known = {action.dest for action in parser._actions}
        recipe = recipe_without_replaced_budget(recipe, argv)  # a command-line budget replaces the recipe's
        argv = _recipe_to_argv(recipe, known, path) + argv
    # The budget and schedule flags, by the names the user typed, before the dataclasses check them in their own
    # terms (`num_training_steps`, a ValueError from TrainingArguments).
    check_schedule_flags(vars(parser.parse_known_args(argv)[0]))
    *parsed, remaining = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if remaining:
        raise UBAConfigError(f"unrecognized arguments: {' '.join(remaining)} (see `uba-pretrain --help`)")
    return tuple(parsed)


class PretrainTrainer(UBATrainer):
    """UBATrainer that adds tokens/s (and MFU where the peak is known) to every training log (packed
    blocks: no padding)."""

    def __init__(self, *args: Any, token_budget, flops_per_token: float, peak_flops: float | None, **kwargs):
        super().__init__(*args, default_to_uba=False, **kwargs)
        self.token_budget = token_budget
        self.tokens_per_update = token_budget.tokens_per_update
        self.model_flops_per_token = flops_per_token
        self.peak_flops = peak_flops
        self._last_log = (time.perf_counter(), 0)
        self.add_callback(_StartThroughputClock(self))

    def uba_schedule_record(self, num_training_steps: int) -> dict[str, Any]:
        """The schedule record with the budget in tokens too (``uba_schedule.json``)."""
        return {**super().uba_schedule_record(num_training_steps), **self.token_budget.record(num_training_steps)}

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        now, step = time.perf_counter(), self.state.global_step
        last_time, last_step = self._last_log
        if "loss" in logs and step > last_step:
            tokens_per_second = (step - last_step) * self.tokens_per_update / max(now - last_time, 1e-9)
            logs["tokens_per_second"] = round(tokens_per_second, 1)
            if self.peak_flops:
                logs["mfu"] = round(
                    tokens_per_second * self.model_flops_per_token / (self.peak_flops * self.args.world_size), 5
                )
            logs["tokens_seen"] = step * self.tokens_per_update
            self._last_log = (now, step)
        super().log(logs, start_time)


class _StartThroughputClock(TrainerCallback):
    """Start the tokens/s clock at the first update of every ``train()`` call: not at construction (the
    initial evaluation would count as training time) and not at update 0 after a resume (the updates
    before the checkpoint would count as done in this run)."""

    def __init__(self, trainer: PretrainTrainer) -> None:
        self.trainer = trainer
        self.started = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = False

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.started:
            self.trainer._last_log = (time.perf_counter(), state.global_step)
            self.started = True


def _check_output_dir(training: TrainingArguments, run: RunArguments) -> None:
    out = Path(training.output_dir)
    resuming = training.resume_from_checkpoint is not None
    if out.is_dir() and any(out.iterdir()) and not resuming and not run.overwrite_output_dir:
        raise UBAConfigError(
            f"output_dir {str(out)!r} already holds files. Pass --resume_from_checkpoint to continue it, "
            "--overwrite_output_dir to train over it, or another --output_dir."
        )


def evaluation_at_last_update(trainer: UBATrainer) -> dict[str, float] | None:
    """The evaluation the Trainer ran at the last update (``--eval_steps`` dividing the budget), as
    ``trainer.evaluate()`` returns it; None when it ran none there. The model has not changed since, so
    evaluating again would only cost time."""
    for entry in reversed(trainer.state.log_history):
        if entry.get("step") != trainer.state.global_step:
            break
        if "eval_loss" in entry:
            return {key: value for key, value in entry.items() if key != "step"}
    return None


def run(
    model_args, data_args, uba_args, run_args, training: TrainingArguments, argv: list[str] | None = None
) -> dict[str, Any]:
    """Train and write every output; returns the final metrics. ``argv`` (the command line, as ``main`` got it)
    makes the resume command printed after a pre-emption one to paste."""
    wall_start = time.time()
    quiet_logs(training)
    check_training_numbers(training)  # what the optimizer / data loader / logger would refuse later with a traceback
    try:  # a bad --lr_scheduler_kwargs fails here, not after tokenizing
        uba_kwargs = schedule_kwargs(training, uba_args)
    except UBAConfigError as err:
        raise UBAConfigError(f"--lr_scheduler_kwargs {json.dumps(training.lr_scheduler_kwargs)}: {err}") from None
    resume = resolve_resume(training, pretrain_identity(model_args, data_args, training, uba_kwargs))
    if model_args.model_name_or_path is None and model_args.model_preset not in PRESETS:
        raise UBAConfigError(
            f"Unknown --model_preset {model_args.model_preset!r}; valid presets: {', '.join(PRESETS)}."
        )
    token_budget = resolve_budget(run_args, training, data_args.block_size)  # --max_tokens -> max_steps
    if token_budget.given == "tokens_per_param":  # -> max_steps, from the parameter count of the model's config
        token_budget = token_budget.with_parameters(training, planned_non_embedding_parameters(model_args, data_args))
    if (done := finished_budget(resume, training)) is not None:  # a finished run is a no-op
        return report_already_complete(resume, *done, training)
    _check_output_dir(training, run_args)
    if data_args.streaming and token_budget.given == "epochs":
        raise UBAConfigError(
            "--streaming needs --max_steps (or --max_tokens / --tokens_per_param): a streamed corpus has no "
            "length to derive the budget from."
        )
    if training.max_steps > 0:
        # Fail before any data or model work when the budget is known up front (every budget but epochs).
        check_warmup_fits(training, token_budget)
        validate_uba_args(
            uba_args.phi, uba_args.min_lr_ratio, training.get_warmup_steps(training.max_steps), training.max_steps
        )
    prepare_output_dir(training)
    set_seed(training.seed)

    corpus = load_corpus(data_args)
    tokenizer = get_tokenizer(
        data_args, corpus, output_dir=training.output_dir, trust_remote_code=model_args.trust_remote_code
    )
    train_blocks = tokenize_and_pack(corpus["train"], tokenizer, data_args)
    eval_blocks = tokenize_and_pack(corpus["validation"], tokenizer, data_args, max_blocks=data_args.max_eval_blocks)
    if token_budget.given == "epochs":  # the budget is known now, from the corpus: still before the model
        check_warmup_fits(training, token_budget, epoch_budget_at_most(training, len(train_blocks)))

    model = build_model_for(model_args, tokenizer, data_args.block_size)
    params = count_parameters(model)
    fpt = (
        flops_per_token(model.config, data_args.block_size)
        if hasattr(model.config, "intermediate_size")
        else (6.0 * params["total"])
    )
    peak = run_args.peak_flops or known_peak_flops(training.device)
    if peak is None:
        logger.info("MFU unknown: no peak FLOP/s is known for %s; pass --peak_flops to log it.", training.device)
    tokens_per_update = token_budget.tokens_per_update
    logger.info(
        "Model: %s, %.2fM parameters (%.2fM non-embedding), %.3g FLOPs/token; %d tokens per update",
        model_args.model_name_or_path or model_args.model_preset,
        params["total"] / 1e6,
        params["non_embedding"] / 1e6,
        fpt,
        tokens_per_update,
    )
    if training.max_steps > 0:
        logger.info(describe_budget(token_budget, training.max_steps))
        advice = schedule_advice(uba_kwargs, training.max_steps, training.learning_rate)
        if training.process_index == 0 and advice:
            logger.info(advice)  # a note, not a warning: on some models a phi off the rule did better

    if resume is None and run_args.overwrite_output_dir:  # last, so that a failure before training keeps them
        remove_stale_checkpoints(training)
    trainer = PretrainTrainer(
        model=model,
        args=training,
        uba_args=uba_args,
        train_dataset=train_blocks,
        eval_dataset=eval_blocks,
        data_collator=block_collator(data_args, tokenizer.eos_token_id, model.config._attn_implementation),
        processing_class=tokenizer,
        token_budget=token_budget,
        flops_per_token=fpt,
        peak_flops=peak,
        callbacks=[lr_trace := ResumableLRTrace(), preemption := PreemptionCallback()],
        run_identity=identity_sections(model_args, data_args),
    )

    metrics: dict[str, Any] = {}
    evaluate = training.eval_strategy != IntervalStrategy.NO
    if resume is None and evaluate:
        metrics["eval_loss_init"] = trainer.evaluate(metric_key_prefix="eval")["eval_loss"]
        logger.info("Eval loss at initialisation: %.4f", metrics["eval_loss_init"])
    train_start = time.time()
    try:
        train_out = trainer.train(resume_from_checkpoint=resume)
    finally:  # after a crash, Ctrl-C must not go to a callback that stops nothing
        preemption.restore_signal_handlers()
    train_seconds = time.time() - train_start
    if preemption.preempted:
        return report_preempted(trainer, preemption.stop_signal, resume_command(argv) if argv is not None else None)
    eval_metrics = (evaluation_at_last_update(trainer) or trainer.evaluate()) if evaluate else {}
    trainer.save_model(training.output_dir)
    trainer.save_state()

    budget = trainer.state.max_steps
    schedule = trainer.uba_schedule_record(budget) if trainer.uses_uba else {}
    updates_run = trainer.state.global_step - (int(Path(resume).name.rsplit("-", 1)[-1]) if resume else 0)
    # --tokens_per_param's record repeats the non-embedding parameter count, given once below.
    budget_record = {k: v for k, v in token_budget.record(budget).items() if k != "non_embedding_parameters"}
    tokens_this_run = updates_run * tokens_per_update
    metrics.update(
        train_loss=train_out.training_loss,
        final_train_loss=next((h["loss"] for h in reversed(trainer.state.log_history) if "loss" in h), None),
        eval_loss=eval_metrics.get("eval_loss"),
        perplexity=math.exp(min(eval_metrics["eval_loss"], 50.0)) if eval_metrics else None,
        tokens_seen=trainer.state.global_step * tokens_per_update,
        wall_seconds=round(time.time() - wall_start, 2),
        train_seconds=round(train_seconds, 2),
        tokens_per_second=round(tokens_this_run / max(train_seconds, 1e-9), 1),
        world_size=training.world_size,
        global_step=trainer.state.global_step,
        budget=budget,
        **budget_record,
        num_warmup_steps=schedule.get("num_warmup_steps", training.get_warmup_steps(budget)),
        segments=schedule.get("segments"),
        lr_scheduler_type=trainer.args.lr_scheduler_type.value,
        phi=trainer.uba_kwargs.get("phi"),
        min_lr_ratio=trainer.uba_kwargs.get("min_lr_ratio"),
        zero_config=trainer.zero_config,
        learning_rate=training.learning_rate,
        parameters=params["total"],
        non_embedding_parameters=params["non_embedding"],
        flops_per_token=fpt,
        resumed_from=resume,
    )
    if trainer.is_world_process_zero():
        with open(os.path.join(training.output_dir, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        write_run_clm_outputs(trainer, train_out, eval_metrics, metrics, model_args, data_args)
        if trainer.uses_uba:
            plot_lr_schedule(
                os.path.join(training.output_dir, "lr_schedule.png"),
                lr_points(trainer.state.log_history, lr_trace.trace),
                training.learning_rate,
                budget,
                metrics["num_warmup_steps"],
                metrics["phi"],
                metrics["min_lr_ratio"],
                segments=metrics["segments"],
            )
        init = metrics.get("eval_loss_init")
        start = f"{init:.4f} -> " if init is not None else ""
        result = (
            f"eval loss {start}{metrics['eval_loss']:.4f} (perplexity {metrics['perplexity']:.2f})"
            if eval_metrics
            else "no evaluation (--eval_strategy no)"
        )
        print(
            f"[uba-pretrain] {result} after {metrics['global_step']}/{budget} updates, "
            f"{metrics['tokens_seen']:,} tokens, {metrics['tokens_per_second']:,.0f} tokens/s; "
            f"outputs in {training.output_dir}",
            flush=True,
        )
    return metrics


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    logger.setLevel(logging.INFO)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # a run needs at least a recipe or an --output_dir: say how, rather than train a default
        print(PRETRAIN_NO_ARGUMENTS, file=sys.stderr)
        return 2
    if HELP_ALL_FLAG in argv:  # every option, with the installed Transformers' TrainingArguments
        print(build_parser().format_help(), end="")
        return 0
    if any(arg in HELP_FLAGS for arg in argv):  # the same short help as the console script's
        print(PRETRAIN_HELP, end="")
        return 0
    args, identity, held_files_before = None, None, False
    try:
        args = parse_args(argv)
        identity = run_identity_of(args)
        out = args[-1].output_dir
        held_files_before = out is not None and os.path.isdir(out) and any(Path(out).iterdir())
        with nothing_left_on_config_error(out):
            metrics = run(*args, argv=argv)
    except UBAConfigError as err:
        if os.environ.get("UBA_HF_DEBUG"):
            raise
        print(f"uba-pretrain: error: {err}", file=sys.stderr)
        return 2
    except CheckpointWriteError as err:  # disk full, storage turned read-only: the cause is the storage, not a bug
        if os.environ.get("UBA_HF_DEBUG"):
            raise
        print(f"uba-pretrain: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C outside training, or a second Ctrl-C during it (abort without saving)
        if os.environ.get("RANK", "0") == "0":  # one message, from the main process
            print(interrupted_message(argv, args, identity, held_files_before), file=sys.stderr)
        return 130
    finally:
        _shutdown_distributed()
    return 128 + int(metrics["signal"]) if metrics.get("preempted") else 0  # as if the signal had ended the job


def _shutdown_distributed() -> None:
    """Free the trainer's reference cycles, then destroy the process group while the interpreter is alive:
    left to interpreter exit, a gloo worker still releasing a finished collective's tensors can abort."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
