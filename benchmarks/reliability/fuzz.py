"""Fuzzed input: Hypothesis-generated ``lr_scheduler_kwargs``, ``uba-pretrain`` flags and recipe YAML (types, ranges,
unknown keys, odd numbers: NaN, inf, negative, huge, strings). Each input must either run or be refused with exit
code 2 and one line that names the argument, with no traceback and nothing written.

    nice -n 15 python benchmarks/reliability/fuzz.py --examples 150 --seed 0 \
        --results benchmarks/reliability/results/fuzz.json

Entry points, in this process (a subprocess per example would spend its time importing torch):

* ``kwargs``: ``UBATrainer(args=TrainingArguments(lr_scheduler_kwargs=KWARGS, max_steps=N, warmup_steps=W))`` and
  its scheduler (``create_optimizer_and_scheduler``), at a fuzzed warmup and budget. Accepted: the multiplier at
  the schedule's landmarks (0, warmup, half way, the last update, the budget, twice it) is finite and in [0, 1].
  Refused: a ``UBAConfigError`` (a ``ValueError``), one line, naming a key given or the argument.
* ``flags``: ``uba_hf.pretrain.cli.main(ARGV)`` (the ``uba-pretrain`` console script's function), the tiny recipe
  shrunk as in chaos.py on a small corpus, with 1-3 fuzzed flags on top. Accepted inputs really train: a callback
  appended to Transformers' ``DEFAULT_CALLBACKS`` stops training after its first optimizer update (so that a fuzzed
  budget of 10^12 updates still ends); the run then writes its outputs and returns 0. Refused: return 2, exactly one
  ``uba-pretrain: error: ...`` line on stderr that names a fuzzed argument, no traceback, ``output_dir`` not created.
* ``recipe``: the same, the fuzzed entries in a recipe YAML file (tiny.yaml's entries plus 1-3 fuzzed ones, or raw
  text: invalid YAML, a list, a scalar, tags), the fixed ones on the command line.

Outcomes per example: ``ran``, ``refused`` (all checks held), or a problem: ``traceback`` (an exception escaped),
``refused_unnamed`` (the line names no fuzzed argument), ``refused_not_one_line``, ``wrote_when_refused``,
``other_exit``, ``out_of_range`` (an accepted schedule with a multiplier outside [0, 1]). ``ran`` inputs that hold
NaN, inf, a negative number or a string where a number goes are listed as ``accepted_odd`` for review.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from chaos import SHRINK, TINY  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from uba_bench.corpus import small_text_corpus  # noqa: E402

NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 2, 3, 10**12, -(10**12), 2**63, 0.5, 1e-9, -0.5, 1.0, 0.999, 1e308]),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.integers(min_value=-100, max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
)
STRINGS = st.sampled_from(["", "auto", "nan", "inf", "-inf", "1e-3", "abc", "true", "none", "0x10", " 1", "1,5"])
SCALARS = st.one_of(NUMBERS, STRINGS, st.booleans(), st.none())
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2), st.dictionaries(st.sampled_from(["a", "phi"]), SCALARS))
KWARG_KEYS = st.one_of(
    st.sampled_from(["phi", "min_lr_ratio", "rebudget", "min_lr", "min_lr_rate", "Phi", "", "num_warmup_steps"]),
    st.text(max_size=6),
)

# Flags a user sets on uba-pretrain (the shrunk tiny recipe sets the rest), and typos.
NUMERIC_FLAGS = ["max_steps", "warmup_steps", "learning_rate", "phi", "min_lr_ratio", "save_steps", "logging_steps"]
NUMERIC_FLAGS += ["weight_decay", "max_grad_norm", "seed", "max_tokens", "tokens_per_param", "save_total_limit"]
NUMERIC_FLAGS += ["adam_beta1", "adam_beta2", "adam_epsilon", "max_eval_blocks", "num_train_epochs"]
SMALL_FLAGS = ["per_device_train_batch_size", "gradient_accumulation_steps", "block_size"]  # cost grows with value
OTHER_FLAGS = ["lr_scheduler_type", "lr_scheduler_kwargs", "model_preset", "rebudget", "streaming"]
TYPO_FLAGS = ["max_step", "phii", "min_lr", "lr", "warmup", "foo"]
SMALL_VALUES = st.one_of(st.integers(min_value=-2, max_value=8), STRINGS, st.sampled_from([math.nan, 0.5, 10**12]))
ODD = ("nan", "inf", "-")


def render(value) -> str:
    """A value as a user types it on a command line."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


@st.composite
def flag_sets(draw):
    """1-3 (flag, value-as-typed) pairs."""
    pairs = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        group = draw(st.sampled_from(["numeric", "numeric", "small", "other", "typo"]))
        if group == "numeric":
            pairs.append((draw(st.sampled_from(NUMERIC_FLAGS)), render(draw(st.one_of(NUMBERS, STRINGS)))))
        elif group == "small":
            pairs.append((draw(st.sampled_from(SMALL_FLAGS)), render(draw(SMALL_VALUES))))
        elif group == "typo":
            pairs.append((draw(st.sampled_from(TYPO_FLAGS)), render(draw(SCALARS))))
        else:
            flag = draw(st.sampled_from(OTHER_FLAGS))
            if flag == "lr_scheduler_kwargs":
                value = json.dumps(draw(st.dictionaries(KWARG_KEYS, SCALARS, max_size=2)), allow_nan=True)
                value = draw(st.sampled_from([value, value, "{", "[1]", "phi=1", ""]))
            elif flag == "lr_scheduler_type":
                value = draw(st.sampled_from(["uba", "UBA", "cosine", "linear", "wsd", "nonsense", ""]))
            elif flag == "model_preset":
                value = draw(st.sampled_from(["tiny", "huge", "", "TINY"]))
            else:
                value = render(draw(st.one_of(st.booleans(), STRINGS)))
            pairs.append((flag, value))
    return pairs


@st.composite
def recipes(draw):
    """(recipe text, names of the fuzzed entries)."""
    if draw(st.integers(min_value=0, max_value=5)) == 0:  # raw text
        text = draw(
            st.sampled_from(
                [
                    "max_steps: [1, 2",
                    "- 1\n- 2\n",
                    "42\n",
                    "",
                    "max_steps: !!python/object/apply:os.getcwd []\n",
                    "a: b: c\n",
                    "\t- bad indent\n",
                    "max_steps: 1\nmax_steps: 2\n",
                    "phi: .nan\n",
                    "learning_rate: .inf\n",
                ]
            )
        )
        return text, ["recipe", "yaml", "max_steps", "phi", "learning_rate", "mapping"]
    base = yaml.safe_load(Path(TINY).read_text())
    base.pop("output_dir")
    names = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from([*NUMERIC_FLAGS, *OTHER_FLAGS, *TYPO_FLAGS, "per_device_train_batch_size"]))
        value = draw(VALUES) if key != "per_device_train_batch_size" else draw(SMALL_VALUES)
        base[key] = value
        names.append(key)
    return yaml.safe_dump(base, allow_unicode=True), names


class StopAfterFirstUpdate:
    """Appended to Transformers' DEFAULT_CALLBACKS: an accepted input trains one optimizer update, then ends."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                control.should_training_stop = True
                return control

        return _Stop


def odd(values: list[str]) -> bool:
    return any(
        isinstance(v, str) and (v.lower().lstrip().startswith(ODD) or v.lower() in ("true", "abc")) for v in values
    )


class CliFuzz:
    """Runs uba-pretrain's main() on fuzzed input and classifies the outcome."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.corpus = small_text_corpus(work / "corpus")
        self.count = 0
        self.records: list[dict] = []

    @contextlib.contextmanager
    def one_update_runs(self):
        """For one ``main()`` call: offline, a cache of its own, logs to a file, every Trainer ending after its first
        update; all put back afterwards, so that the process (a test session) goes on as it was."""
        import transformers.trainer

        env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        env["UBA_HF_CACHE"] = str(self.work / "cache")
        saved_env = {key: os.environ.get(key) for key in env}
        root = logging.getLogger()
        saved_logging = (root.handlers[:], root.level)
        stop = StopAfterFirstUpdate()
        os.environ.update(env)
        logging.basicConfig(handlers=[logging.FileHandler(self.work / "runs.log")], level=logging.WARNING, force=True)
        transformers.trainer.DEFAULT_CALLBACKS.append(stop)
        try:
            yield
        finally:
            transformers.trainer.DEFAULT_CALLBACKS.remove(stop)
            for handler in root.handlers:
                if handler not in saved_logging[0]:
                    handler.close()
            root.handlers[:], root.level = saved_logging
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def fixed(self, out: Path, with_recipe_values: bool) -> list[str]:
        argv = ["--output_dir", str(out), "--dataset_name", str(self.corpus), "--vocab_size", "512"]
        argv += ["--block_size", "64", "--eval_strategy", "no", "--save_strategy", "no", "--disable_tqdm", "true"]
        argv += ["--config_overrides", json.dumps(SHRINK), "--preprocessing_num_workers", "1"]
        if with_recipe_values:
            argv += ["--max_steps", "4", "--per_device_train_batch_size", "4", "--max_eval_blocks", "8"]
        return argv

    def run(self, kind: str, argv_front: list[str], names: list[str], shown: object, odd_input: bool) -> None:
        from uba_hf.pretrain.cli import main

        self.count += 1
        out = self.work / f"out{self.count}"
        argv = [*argv_front[:1], *self.fixed(out, kind == "flags"), *argv_front[1:]]
        stderr, stdout = io.StringIO(), io.StringIO()
        t0 = time.time()
        escaped = None
        with self.one_update_runs(), contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            try:
                code = main(argv)
            except SystemExit as exit_:  # argparse's --help and friends
                code = exit_.code
            except BaseException:  # noqa: BLE001 - an escaped exception is the finding
                code, escaped = None, traceback.format_exc()
        seconds = time.time() - t0
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("uba-pretrain: error:")]
        if escaped is not None or "Traceback (most recent call last)" in stderr.getvalue():
            outcome = "traceback"
        elif code == 0:
            outcome = "ran"
        elif code == 2:
            named = errors and any(name.lower() in errors[0].lower() for name in names)
            if len(errors) != 1:
                outcome = "refused_not_one_line"
            elif out.exists():
                outcome = "wrote_when_refused"
            elif not named:
                outcome = "refused_unnamed"
            else:
                outcome = "refused"
        else:
            outcome = "other_exit"
        record = {"kind": kind, "input": shown, "outcome": outcome, "exit": code, "seconds": round(seconds, 2)}
        if errors:
            record["line"] = errors[0][:300]
        if escaped:
            record["traceback"] = escaped.strip().splitlines()[-1][:300]
        if outcome == "ran" and odd_input:
            record["accepted_odd"] = True
        self.records.append(record)
        shutil.rmtree(out, ignore_errors=True)


def fuzz_kwargs(examples: int, seed: int) -> list[dict]:
    """``UBATrainer(args=TrainingArguments(lr_scheduler_kwargs=KWARGS, ...))``, then its scheduler at the fuzzed
    budget (``create_optimizer_and_scheduler``): what a Trainer user's ``lr_scheduler_kwargs`` goes through."""
    import torch
    from transformers import TrainingArguments

    from uba_hf import UBAConfigError, UBATrainer

    records: list[dict] = []
    model = torch.nn.Linear(2, 2)
    work = tempfile.mkdtemp(prefix="uba_fuzz_kwargs_")

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        kwargs=st.dictionaries(KWARG_KEYS, VALUES, max_size=3),
        budget=st.one_of(st.integers(min_value=1, max_value=10**7), st.sampled_from([1, 2])),
        warmup_share=st.floats(min_value=0, max_value=1.2),
    )
    def one(kwargs, budget, warmup_share):
        warmup = int(warmup_share * budget)
        shown = {"kwargs": repr(kwargs), "max_steps": budget, "warmup_steps": warmup}
        try:
            args = TrainingArguments(
                output_dir=work, max_steps=budget, warmup_steps=warmup, lr_scheduler_kwargs=kwargs,
                learning_rate=1.0, report_to=[], use_cpu=True, save_strategy="no",
            )  # fmt: skip
            trainer = UBATrainer(model=model, args=args)
            trainer.create_optimizer_and_scheduler(num_training_steps=budget)
        except UBAConfigError as err:
            message = str(err)
            names = [*map(str, kwargs), "lr_scheduler_kwargs", "num_warmup_steps", "num_training_steps", "warmup"]
            named = any(n in message for n in names if n)
            outcome = "refused" if "\n" not in message and named else "refused_unnamed"
            records.append({"kind": "kwargs", "input": shown, "outcome": outcome, "line": message[:300]})
            return
        except Exception as err:  # noqa: BLE001 - an exception other than the one-line error is the finding
            records.append({"kind": "kwargs", "input": shown, "outcome": "traceback", "traceback": repr(err)[:300]})
            return
        fn = trainer.lr_scheduler.lr_lambdas[0]
        marks = sorted({0, warmup, budget // 2, max(0, budget - 1), budget, 2 * budget})
        values = [fn(s) for s in marks]
        ok = all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values)
        record = {"kind": "kwargs", "input": shown, "outcome": "ran" if ok else "out_of_range"}
        odd_kw = [v for v in kwargs.values() if isinstance(v, (str, bool)) or v is None]
        odd_kw += [v for v in kwargs.values() if isinstance(v, float) and not math.isfinite(v)]
        if odd_kw:
            record["accepted_odd"] = True
        records.append(record)

    one()
    shutil.rmtree(work, ignore_errors=True)
    return records


def fuzz_cli(kind: str, examples: int, seed: int, fuzzer: CliFuzz) -> None:
    if kind == "flags":

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(pairs=flag_sets())
        def one(pairs):
            argv = [TINY]
            for flag, value in pairs:
                argv += [f"--{flag}", value]
            names = [flag for flag, _ in pairs] + ["unrecognized arguments"]
            fuzzer.run("flags", argv, names, [f"--{f} {v}" for f, v in pairs], odd([v for _, v in pairs]))

    else:

        @hypothesis_seed(seed)
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(recipe=recipes())
        def one(recipe):
            text, names = recipe
            path = fuzzer.work / f"recipe{fuzzer.count + 1}.yaml"
            path.write_text(text)
            try:
                fuzzed = {k: v for k, v in (yaml.safe_load(text) or {}).items() if k in names}
            except Exception:  # noqa: BLE001 - raw text: shown as written
                fuzzed = text
            shown = text if not isinstance(fuzzed, dict) else repr(fuzzed)
            odd_input = isinstance(fuzzed, dict) and odd([render(v) for v in fuzzed.values()])
            fuzzer.run("recipe", [str(path)], [*names, str(path)], shown[:300], odd_input)

    one()


def summarize(records: list[dict]) -> dict:
    by_kind: dict[str, dict] = {}
    for kind in ("kwargs", "flags", "recipe"):
        mine = [r for r in records if r["kind"] == kind]
        if not mine:
            continue
        counts = Counter(r["outcome"] for r in mine)
        by_kind[kind] = {
            "tried": len(mine),
            "outcomes": dict(sorted(counts.items())),
            "accepted_odd": sum(1 for r in mine if r.get("accepted_odd")),
            "seconds": round(sum(r.get("seconds", 0) for r in mine), 1),
        }
    return by_kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="per entry point (kwargs get 10x)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["kwargs", "flags", "recipe"], action="append")
    parser.add_argument("--results", type=Path)
    opts = parser.parse_args()
    t0 = time.time()
    records: list[dict] = []
    kinds = opts.only or ["kwargs", "flags", "recipe"]
    if "kwargs" in kinds:
        records += fuzz_kwargs(10 * opts.examples, opts.seed)
    with tempfile.TemporaryDirectory(prefix="uba_fuzz_") as tmp:
        fuzzer = CliFuzz(Path(tmp))
        for kind in ("flags", "recipe"):
            if kind in kinds:
                fuzz_cli(kind, opts.examples, opts.seed, fuzzer)
        records += fuzzer.records
    summary = {"seed": opts.seed, "examples": opts.examples, "by_kind": summarize(records)}
    problems = [r for r in records if r["outcome"] not in ("ran", "refused")]
    summary["problems"] = problems[:40]
    summary["accepted_odd"] = [r["input"] for r in records if r.get("accepted_odd")][:60]
    summary["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps({k: v for k, v in summary.items() if k != "accepted_odd"}, indent=1, default=str))
    if opts.results:
        opts.results.parent.mkdir(parents=True, exist_ok=True)
        # Every CLI input with its outcome; of the (many, cheap) kwargs inputs, only the problems.
        kept = [r for r in records if r["kind"] != "kwargs" or r["outcome"] not in ("ran", "refused")]
        lines = ",\n".join(json.dumps(r, default=str) for r in kept)
        head = json.dumps(summary, indent=1, default=str)[:-2]
        opts.results.write_text(f'{head},\n "records": [\n{lines}\n ]\n}}\n')
    return 0 if not problems else 1


if __name__ == "__main__":
    raise SystemExit(main())
