#!/usr/bin/env python
"""UBA through LLaMA-Factory's and axolotl's own CLIs (issue 29): a tiny offline pretraining job, launched
with ``uba-run``, its LR checked at every update against the closed form, and a resume with another budget
refused by the scheduler's state check.

Each framework pins its own Transformers, so each runs in its own virtual environment, made by
``benchmarks/frameworks/frameworks_venv.sh`` (torch, the framework, this package editable). Run this script with
that environment's Python; it finds ``uba-run`` and the framework's console script beside it:

    bash benchmarks/frameworks/frameworks_venv.sh llamafactory             # -> /work/venvs/llamafactory
    nice -n 10 /work/venvs/llamafactory/bin/python benchmarks/frameworks/frameworks.py llamafactory
    bash benchmarks/frameworks/frameworks_venv.sh axolotl                  # -> /work/venvs/axolotl
    nice -n 10 /work/venvs/axolotl/bin/python benchmarks/frameworks/frameworks.py axolotl

Writes ``benchmarks/frameworks/<framework>.json`` (versions, commands, wall times, every logged LR beside
the closed form, the refusal's message) and ``benchmarks/frameworks/<framework>.md``. Exit code 0 only if
every check passed. Everything is local: a randomly initialised 2-layer LLaMA (hidden size 32), a byte-level
BPE tokenizer trained here on 64 lines of text, the same lines as a JSONL dataset; CPU only, no hub.

The runs (budget N = 8 updates, warmup W = 2, checkpoints every 4 updates, phi 1, floor 0.1, peak LR 0.01):

1. ``full``: 8 updates. Every logged ``learning_rate`` (update k) must be ``0.01 * lambda(k - 1)`` with
   ``lambda`` the multiplier of docs/schedule.md (written out below, independently of the package), and
   ``checkpoint-8/scheduler.pt`` must hold the schedule's state (``uba``: budget, warmup, phi, floor).
2. ``other-budget``: resume from ``checkpoint-4`` with ``max_steps: 12``: must fail, with
   ``num_training_steps: checkpoint 8 vs now 12`` in its output.
3. ``same-budget``: resume from ``checkpoint-4`` with ``max_steps: 8``: updates 5-8 must log the LRs of
   ``full`` bit for bit.
4. (axolotl only) ``module-form``: run 1 as ``uba-run -m axolotl.cli.train cfg.yml``. ``axolotl train`` starts
   its training in a new process through ``accelerate launch`` (where ``uba_hf/_children`` registers "uba");
   the module form trains in the ``uba-run`` process itself. The same checks as run 1.
5. (LLaMA-Factory only) ``early-check``: a YAML with ``lr_scheduler_kwargs: {min_lr: ...}`` must be refused
   by ``uba-run`` itself (exit 2, one ``uba-run: error:`` line) before the framework starts. (axolotl names
   the scheduler ``lr_scheduler``; ``uba-run`` reads it too, tested without axolotl in
   ``tests/research/test_frameworks.py``.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "frameworks"
BIN = Path(sys.executable).parent  # the framework's virtual environment

N, W, SAVE, OTHER_N = 8, 2, 4, 12
LR, PHI, RATIO = 1e-2, 1.0, 0.1
SEQ = 32
REFUSAL = f"num_training_steps: checkpoint {N} vs now {OTHER_N}"
PACKAGES = ("torch", "transformers", "accelerate", "datasets", "tokenizers", "trl", "peft", "uba-hf")
FRAMEWORK_PACKAGE = {"llamafactory": "llamafactory", "axolotl": "axolotl"}


def closed_form(s: int, warmup: int, budget: int, phi: float, r: float) -> float:
    """The multiplier of docs/schedule.md at scheduler step ``s`` (update ``s + 1`` uses it)."""
    if s < warmup:
        return s / max(1, warmup)
    if s >= budget:
        return r
    c = 1 + math.cos(math.pi * (s - warmup) / (budget - warmup))
    return r + (1 - r) * 2 * c / (2 * phi + (2 - phi) * c)


def expected_lrs() -> dict[int, float]:
    """Update k (1-based, the Trainer's logged ``step``) -> the LR it must use."""
    return {k: LR * closed_form(k - 1, W, N, PHI, RATIO) for k in range(1, N + 1)}


# ------------------------------------------------------------------------------ local model and data


def build_assets(work: Path) -> tuple[Path, Path]:
    """A tiny random LLaMA and an offline BPE tokenizer in ``work/model``; the texts in ``work/data``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [f"def f{i}(x):\n    return x + {i}\n" for i in range(64)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model_dir, data_dir = work / "model", work / "data"
    LlamaForCausalLM(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    # LLaMA-Factory finds datasets by name in dataset_info.json; "prompt" is the text column of a pt dataset.
    info = {"tiny_pt": {"file_name": "train.jsonl", "columns": {"prompt": "text"}}}
    (data_dir / "dataset_info.json").write_text(json.dumps(info))
    return model_dir, data_dir


# ------------------------------------------------------------------------------ the frameworks' YAML


def llamafactory_config(model_dir: Path, data_dir: Path, out: Path, **extra) -> dict:
    return {
        "model_name_or_path": str(model_dir),
        "stage": "pt",
        "do_train": True,
        "finetuning_type": "full",
        "dataset": "tiny_pt",
        "dataset_dir": str(data_dir),
        "template": "empty",
        "cutoff_len": SEQ,
        "output_dir": str(out),
        "overwrite_output_dir": True,
        "per_device_train_batch_size": 2,
        "learning_rate": LR,
        "max_steps": N,
        "warmup_steps": W,
        "lr_scheduler_type": "uba",
        "lr_scheduler_kwargs": {"phi": PHI, "min_lr_ratio": RATIO},
        "logging_steps": 1,
        "save_steps": SAVE,
        "report_to": "none",
        "use_cpu": True,
        "seed": 0,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
        **extra,
    }


def axolotl_config(model_dir: Path, data_dir: Path, out: Path, **extra) -> dict:
    return {
        "base_model": str(model_dir),
        "datasets": [{"path": str(data_dir / "train.jsonl"), "ds_type": "json", "type": "completion", "field": "text"}],
        "dataset_prepared_path": str(out.parent / f"{out.name}-prepared"),
        "val_set_size": 0,
        "sequence_len": SEQ,
        "sample_packing": False,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_epochs": 100,
        "max_steps": N,
        "optimizer": "adamw_torch",
        "learning_rate": LR,
        "warmup_steps": W,
        "lr_scheduler": "uba",  # axolotl's name for lr_scheduler_type
        "lr_scheduler_kwargs": {"phi": PHI, "min_lr_ratio": RATIO},
        "logging_steps": 1,
        "save_steps": SAVE,
        "save_strategy": "steps",
        "output_dir": str(out),
        "seed": 0,
        "bf16": False,
        "fp16": False,
        "tf32": False,
        "use_tensorboard": False,
        "dataloader_num_workers": 0,
        "dataset_num_proc": 1,  # tokenize the 64 lines in-process (axolotl's default: one process per CPU)
        **extra,
    }


FRAMEWORKS = {
    # (config builder, the command after `uba-run`)
    "llamafactory": (llamafactory_config, ["llamafactory-cli", "train"]),
    "axolotl": (axolotl_config, ["axolotl", "train"]),
}


# ------------------------------------------------------------------------------ runs


def env() -> dict[str, str]:
    e = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
        "WANDB_MODE": "disabled",
        "DO_NOT_TRACK": "1",
        "AXOLOTL_DO_NOT_TRACK": "1",
        "ACCELERATE_USE_CPU": "1",
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return e


def launch(framework: str, config: dict, path: Path, logs: Path, target: list[str] | None = None) -> dict:
    """``uba-run <target> <path>`` (default target: the framework's CLI, e.g. ``llamafactory-cli train``);
    returns the command, exit code, wall time and log file."""
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False))
    target = target or FRAMEWORKS[framework][1]
    cmd = [str(BIN / "uba-run"), *target, str(path)]
    log = logs / f"{path.stem}.log"
    start = time.monotonic()
    with log.open("w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env(), cwd=path.parent, timeout=1200)
    wall = round(time.monotonic() - start, 1)
    shown = " ".join(["uba-run", *target, path.name])
    print(f"[{framework}] {shown}: exit {proc.returncode} in {wall} s (log {log})", flush=True)
    return {"command": shown, "config": config, "returncode": proc.returncode, "wall_s": wall, "log": str(log)}


def logged_lrs(checkpoint: Path) -> dict[int, float]:
    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    return {h["step"]: h["learning_rate"] for h in history if "learning_rate" in h}


def lines_with(log: str, needle: str, limit: int = 3) -> list[str]:
    return [line for line in Path(log).read_text(errors="replace").splitlines() if needle in line][:limit]


def tail(log: str, n: int = 15) -> list[str]:
    return Path(log).read_text(errors="replace").splitlines()[-n:]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-18)


def run_checks(framework: str, work: Path, logs: Path) -> list[dict]:
    import torch

    build, _ = FRAMEWORKS[framework]
    model_dir, data_dir = build_assets(work)
    checks: list[dict] = []
    want = expected_lrs()

    def full_budget(name: str, target: list[str] | None = None) -> dict:
        out = work / name
        rec = launch(framework, build(model_dir, data_dir, out), work / f"{name}.yaml", logs, target)
        final = out / f"checkpoint-{N}"
        got = logged_lrs(final) if final.is_dir() else {}
        state = torch.load(final / "scheduler.pt", weights_only=True) if final.is_dir() else {}
        want_state = {"num_training_steps": N, "num_warmup_steps": W, "phi": PHI, "min_lr_ratio": RATIO}
        rec["lrs"] = [{"update": k, "logged": got.get(k), "closed_form": want[k]} for k in sorted(want)]
        rec["scheduler_state"] = state.get("uba")
        rec["accelerate_launch_in_log"] = bool(lines_with(rec["log"], "accelerate launch"))  # a new process
        rec["passed"] = (
            rec["returncode"] == 0
            and sorted(got) == sorted(want)
            and all(close(got[k], want[k]) for k in want)
            and rec["scheduler_state"] == want_state
        )
        if rec["returncode"] != 0:
            rec["log_tail"] = tail(rec["log"])
        checks.append({"name": name, **rec})
        return got

    # 1. the full budget
    full_out = work / "full"
    got = full_budget("full")

    # 2. resume with another budget: refused
    other_out = work / "other-budget"
    resume = str(full_out / f"checkpoint-{SAVE}")
    cfg = build(model_dir, data_dir, other_out, max_steps=OTHER_N, resume_from_checkpoint=resume)
    rec = launch(framework, cfg, work / "other-budget.yaml", logs)
    rec["refusal"] = lines_with(rec["log"], REFUSAL, limit=1)
    rec["passed"] = rec["returncode"] != 0 and bool(rec["refusal"])
    if not rec["passed"]:
        rec["log_tail"] = tail(rec["log"])
    checks.append({"name": "other-budget", **rec})

    # 3. resume with the same budget: the rest of the run, bit for bit
    same_out = work / "same-budget"
    cfg = build(model_dir, data_dir, same_out, resume_from_checkpoint=resume)
    rec = launch(framework, cfg, work / "same-budget.yaml", logs)
    final = same_out / f"checkpoint-{N}"
    resumed = logged_lrs(final) if final.is_dir() else {}
    rest = range(SAVE + 1, N + 1)
    rec["lrs"] = [{"update": k, "logged": resumed.get(k), "uninterrupted": got.get(k)} for k in rest]
    rec["passed"] = rec["returncode"] == 0 and all(k in resumed and resumed[k] == got.get(k) for k in rest)
    if rec["returncode"] != 0:
        rec["log_tail"] = tail(rec["log"])
    checks.append({"name": "same-budget", **rec})

    # 4. (axolotl) the module form: axolotl's train module in the uba-run process, no `accelerate launch`
    if framework == "axolotl":
        full_budget("module-form", ["-m", "axolotl.cli.train"])

    # 5. (LLaMA-Factory) uba-run's own early check reads LLaMA-Factory's YAML (lr_scheduler_type)
    if framework == "llamafactory":
        bad = build(model_dir, data_dir, work / "early", lr_scheduler_kwargs={"phi": PHI, "min_lr": 0.001})
        rec = launch(framework, bad, work / "early-check.yaml", logs)
        rec["refusal"] = lines_with(rec["log"], "uba-run: error:", limit=1)
        rec["passed"] = rec["returncode"] == 2 and bool(rec["refusal"]) and not (work / "early").exists()
        checks.append({"name": "early-check", **rec})
    return checks


def versions(framework: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in (FRAMEWORK_PACKAGE[framework], *PACKAGES):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_report(framework: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{framework}.json").write_text(json.dumps(result, indent=1) + "\n")
    v = result["versions"]
    lines = [
        f"# UBA through {framework} {v[FRAMEWORK_PACKAGE[framework]]}",
        "",
        f"Written by `benchmarks/frameworks/frameworks.py {framework}` ({result['date']}); raw: `{framework}.json`.",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        f"Budget {N} updates, warmup {W}, phi {PHI}, floor {RATIO}, peak LR {LR}, checkpoints every {SAVE}; CPU.",
        "",
        "| check | command | exit | wall s | passed |",
        "|---|---|---|---|---|",
    ]
    for c in result["checks"]:
        lines.append(f"| {c['name']} | `{c['command']}` | {c['returncode']} | {c['wall_s']} | {c['passed']} |")
    full = next(c for c in result["checks"] if c["name"] == "full")
    lines += ["", "LR at every update of `full` (logged by the framework's Trainer vs the closed form):", ""]
    lines += ["| update | logged | closed form |", "|---|---|---|"]
    lines += [f"| {r['update']} | {r['logged']!r} | {r['closed_form']!r} |" for r in full["lrs"]]
    for c in result["checks"]:
        for line in c.get("refusal", []):
            lines += ["", f"`{c['name']}` output:", "", "```", line.strip(), "```"]
        if c.get("log_tail"):
            lines += ["", f"`{c['name']}` failed; the end of its log:", "", "```", *c["log_tail"], "```"]
    lines += ["", f"All checks passed: {result['passed']}.", ""]
    (RESULTS / f"{framework}.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("--work", help="working folder (default: a new temporary folder, removed after)")
    args = parser.parse_args(argv)
    missing = [p for p in (BIN / "uba-run", BIN / FRAMEWORKS[args.framework][1][0]) if not p.exists()]
    if missing:
        parser.error(f"not found beside {sys.executable}: {', '.join(map(str, missing))} (see the module docstring)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix=f"uba-{args.framework}-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    start = time.monotonic()
    checks = run_checks(args.framework, work, logs)
    result = {
        "framework": args.framework,
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions(args.framework),
        "checks": checks,
        "total_wall_s": round(time.monotonic() - start, 1),
        "passed": all(c["passed"] for c in checks),
    }
    for c in checks:
        c["log"] = Path(c["log"]).name  # the temporary folder does not survive the run
    write_report(args.framework, result)
    print(f"[{args.framework}] all checks passed: {result['passed']} -> {RESULTS / args.framework}.{{json,md}}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
