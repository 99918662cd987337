#!/usr/bin/env python
"""The GPU path, measured in one command (issue 30): throughput, the exact LR under bf16 + compile, a kill and
resume, a short schedule comparison. Writes ``<output_dir>/<device>.md`` and ``<device>.json`` after every phase.

    python benchmarks/gpu/gpu_check.py                    # one H100/H200-class GPU (phases and seconds: README.md)
    python benchmarks/gpu/gpu_check.py --dry-run          # the same steps, tiny preset on CPU (< 2 min; tested)
    python benchmarks/gpu/gpu_check.py --phases compare,rest   # only these phases (a rerun after a cut-off)

On the GPU machine, which has no package registry, ``benchmarks/gpu/device_run.sh`` installs the carried wheels
and runs this (issue 40). The phases run in this order, so that a run cut off early still returns the most
valuable numbers, each written as soon as its phase ends:

* ``headline``: tokens/s and MFU of ``olmo2-150m`` with its recipe's settings (compile on), and the scheduler's
  share of its update (4. below);
* ``resume``: the LR under bf16 + compile across a kill and resume (2.);
* ``compare``: the schedule comparison (3.);
* ``rest``: the other throughput rows (``olmo2-150m`` eager, ``olmo2-60m`` compiled and eager).

Every run is the pretraining job itself (``uba_hf.pretrain.cli``) on a recipe derived from the shipped ones:

1. **Throughput**: ``olmo2-60m`` and ``olmo2-150m`` with their recipe's settings (bf16, fused AdamW, SDPA,
   document attention, pinned memory), ``torch_compile`` on and off, on the embedded corpus with its own BPE
   (8,192 tokens, not OLMo-2's 100,352: the model's FLOPs per token are counted as built). Steady tokens/s
   and MFU are medians of the job's own per-log values after the first (warm-up) interval; the compile
   warm-up is the run's training time beyond its updates at the steady rate; peak GPU memory against
   docs/scaling.md's model-state estimate (16 bytes per parameter; activations come on top).
2. **LR exactness and kill/resume**: a job under bf16 + compile, logging every update, is killed (SIGKILL)
   once its first checkpoint exists and resumed with ``--resume_from_checkpoint latest``; every update's LR,
   before and after the kill, must equal the closed form (``uba_hf.uba_lr_lambda``) to 1e-12.
3. **Schedules at one budget and one peak LR** on the embedded corpus: UBA at the package's choice
   (no phi given: the zero-config choice, ``uba_hf.zero_config``), linear to zero, WSD with a 1-sqrt
   cooldown (the benchmark harness's definitions); eval loss curves as a PNG.
4. **The UBA scheduler's share of an update**: ``scheduler.step()`` timed alone (the timer of
   ``benchmarks/overhead/overhead.py``) over the measured time per update of the headline row.

``--dry-run`` runs all of it on CPU with the tiny preset and a small corpus of standard-library files, with
compilation by ``aot_eager`` (Dynamo and AOTAutograd without code generation; ``tests/pretrain/test_recipes.py``
compiles the tiny preset with inductor). Its numbers say the script works, nothing about a GPU.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))  # the harness (benchmarks/uba_bench) and the overhead study's timer

import torch  # noqa: E402
import yaml  # noqa: E402
from overhead.overhead import time_scheduler_steps  # noqa: E402
from uba_bench.corpus import small_text_corpus  # noqa: E402
from uba_bench.schedules import schedule_spec  # noqa: E402

import uba_hf  # noqa: E402
from uba_hf import get_uba_schedule_with_warmup, uba_lr_lambda  # noqa: E402
from uba_hf.checkpoints import COMPLETE_MARKER  # noqa: E402
from uba_hf.pretrain import cli  # noqa: E402
from uba_hf.pretrain.models import build_model, preset_config  # noqa: E402
from uba_hf.zero_config import count_parameters  # noqa: E402

ROOT = BENCHMARKS.parent
RECIPES = ROOT / "recipes" / "pretrain"
BYTES_PER_PARAMETER = 16  # docs/scaling.md: bf16/fp32 mixed-precision AdamW model states
LR_TOLERANCE = 1e-12
MFU_TARGET = 0.40  # issue 30's target for olmo2-150m in bf16 on one H100/H200, recipe settings

# What each step runs: (GPU, dry run). Budgets in updates; the comparison at one peak LR. Throughput rows are
# (preset, torch_compile): the headline is the recipe's own setting, the rest follow it.
PLAN = {
    "gpu": dict(
        headline=("olmo2-150m", True),
        rest=[("olmo2-150m", False), ("olmo2-60m", True), ("olmo2-60m", False)],
        throughput_updates=40,
        throughput_logging=5,
        resume=dict(recipe="olmo2-20m", block_size=512, batch=16, updates=40, save=20),
        compare=dict(recipe="olmo2-20m", block_size=512, batch=16, updates=400, lr=3e-3, eval_every=50),
        compile_backend=None,
    ),
    "dry": dict(
        headline=("tiny", True),
        rest=[("tiny", False)],
        throughput_updates=6,
        throughput_logging=2,
        resume=dict(recipe="tiny", block_size=64, batch=4, updates=10, save=2),
        compare=dict(recipe="tiny", block_size=64, batch=4, updates=12, lr=3e-3, eval_every=6),
        compile_backend="aot_eager",
    ),
}
SCHEDULES = ("uba-choice", "linear", "wsd-1sqrt")
PHASES = ("headline", "resume", "compare", "rest")  # the order they run in: the most valuable first


def device_name(dry_run: bool) -> str:
    if dry_run:
        return "cpu-dry-run"
    return re.sub(r"[^A-Za-z0-9]+", "-", torch.cuda.get_device_name(0)).strip("-")


class Check:
    """Derives recipes, runs the job in this process (or as a killable child) and collects results."""

    def __init__(self, dry_run: bool, work: Path) -> None:
        self.dry_run = dry_run
        self.plan = PLAN["dry" if dry_run else "gpu"]
        self.work = work
        self.corpus = str(small_text_corpus(work / "corpus")) if dry_run else "embedded:stdlib"

    def recipe(self, name: str, run: str, **changes) -> Path:
        """The shipped recipe ``name`` on this check's corpus, with ``changes``; written to the run's folder."""
        recipe = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
        for key in ("tokenizer_name", "dataset_config_name", "streaming"):
            recipe.pop(key, None)
        recipe.update(
            dataset_name=self.corpus,
            vocab_size=512 if self.dry_run else 8192,
            output_dir=str(self.work / run / "out"),
            overwrite_output_dir=True,
            eval_strategy="no",
            save_strategy="no",
            report_to="none",
            warmup_steps=0.1,
            max_eval_blocks=8 if self.dry_run else 64,
            dataloader_num_workers=0 if self.dry_run else 2,
            disable_tqdm=True,
        )
        if self.dry_run:  # the GPU recipes' throughput options on the tiny preset, on CPU
            recipe.update(use_cpu=True, bf16=True, optim="adamw_torch_fused", attn_implementation="sdpa")
            recipe.update(document_attention=True, block_size=64, per_device_train_batch_size=4)
        if self.plan["compile_backend"] and changes.get("torch_compile", recipe.get("torch_compile")):
            recipe["torch_compile_backend"] = self.plan["compile_backend"]
        recipe.update(changes)
        path = self.work / run / "recipe.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        return path

    def train(self, recipe: Path, *argv: str) -> tuple[dict, list[dict], float | None]:
        """One job in this process: its metrics, its log history and the peak GPU memory (GiB)."""
        torch._dynamo.reset()  # a fresh compile per run (and no recompile limit reached across runs)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        metrics = cli.run(*cli.parse_args([str(recipe), *argv]))
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        state = json.loads((Path(metrics_dir(recipe)) / "trainer_state.json").read_text())
        return metrics, state["log_history"], peak

    # ----------------------------------------------------------------------------------------- 1. throughput

    def throughput(self, rows: list[tuple[str, bool]]) -> list[dict]:
        results = []
        for preset, compiled in rows:
            run = f"throughput-{preset}-{'compile' if compiled else 'eager'}"
            recipe = self.recipe(
                preset,
                run,
                max_steps=self.plan["throughput_updates"],
                torch_compile=compiled,
                logging_steps=self.plan["throughput_logging"],
                dataloader_drop_last=True,  # one batch shape: a short last batch would recompile
            )
            metrics, logs, peak = self.train(recipe)
            results.append(throughput_row(preset, compiled, metrics, logs, peak))
            print(f"[gpu_check] {run}: {results[-1]}", flush=True)
        return results

    # ------------------------------------------------------------------------------ 2. LR exact, kill and resume

    def kill_and_resume(self) -> dict:
        p = self.plan["resume"]
        recipe = self.recipe(
            p["recipe"],
            "resume",
            max_steps=p["updates"],
            block_size=p["block_size"],
            per_device_train_batch_size=p["batch"],
            torch_compile=True,
            dataloader_drop_last=True,
            logging_steps=1,
            save_strategy="steps",
            save_steps=p["save"],
        )
        out = Path(metrics_dir(recipe))
        child = [sys.executable, "-m", "uba_hf.pretrain.cli", str(recipe)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(
            child, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        marker = out / f"checkpoint-{p['save']}" / COMPLETE_MARKER  # written last: the checkpoint is complete
        deadline = time.time() + 600
        try:
            while not marker.exists() and proc.poll() is None and time.time() < deadline:
                time.sleep(0.02)
        finally:  # also when the check itself is stopped (SIGTERM from device_run.sh's time limit)
            killed = proc.poll() is None
            if killed:
                os.killpg(proc.pid, signal.SIGKILL)
        tail = proc.communicate()[0].decode(errors="replace")[-3000:]
        finished_before_kill = (out / "metrics.json").exists()
        resumed = subprocess.run(
            [*child, "--resume_from_checkpoint", "latest"], env=env, capture_output=True, text=True, timeout=900
        )
        if resumed.returncode != 0:
            raise RuntimeError(f"the resumed run failed:\n{tail}\n{resumed.stdout[-3000:]}{resumed.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
        logs = json.loads((out / "trainer_state.json").read_text())["log_history"]
        lrs = {h["step"] - 1: h["learning_rate"] for h in logs if "learning_rate" in h}  # update index -> its LR
        errors = lr_errors(lrs, metrics)
        return dict(
            recipe=p["recipe"],
            updates=p["updates"],
            killed=killed and not finished_before_kill,
            resumed_from=metrics.get("resumed_from"),
            updates_checked=len(lrs),
            all_updates_logged=sorted(lrs) == list(range(p["updates"])),
            max_abs_lr_error=max(errors) if errors else None,
            lr_exact=bool(errors) and max(errors) <= LR_TOLERANCE,
        )

    # ----------------------------------------------------------------------------------- 3. schedules compared

    def compare(self) -> list[dict]:
        p = self.plan["compare"]
        model = preset_config(p["recipe"], vocab_size=512 if self.dry_run else 8192)
        non_embedding = count_parameters(build_model(model, device="meta"))["non_embedding"]
        tokens_per_param = p["updates"] * p["batch"] * p["block_size"] / non_embedding
        rows = []
        for name in SCHEDULES:
            if name == "uba-choice":  # no phi or floor given: the job's zero-config choice (uba_hf.zero_config)
                kind, kwargs = "uba", {}
                schedule = dict(phi=None, min_lr_ratio=None)
            else:
                kind, kwargs = schedule_spec(name, p["updates"])
                schedule = dict(phi=None, min_lr_ratio=None)  # the recipe's UBA settings do not apply
            recipe = self.recipe(
                p["recipe"],
                f"compare-{name}",
                max_steps=p["updates"],
                block_size=p["block_size"],
                per_device_train_batch_size=p["batch"],
                learning_rate=p["lr"],
                lr_scheduler_type=kind,
                lr_scheduler_kwargs=kwargs or None,
                torch_compile=False,
                logging_steps=max(1, p["eval_every"] // 5),
                eval_strategy="steps",
                eval_steps=p["eval_every"],
                **schedule,
            )
            metrics, logs, _ = self.train(recipe)
            evals = [(h["step"], h["eval_loss"]) for h in logs if "eval_loss" in h]
            rows.append(
                dict(
                    schedule=name,
                    lr_scheduler_type=kind,
                    # what ran: the choice the job recorded, for UBA
                    kwargs=kwargs or {k: metrics[k] for k in ("phi", "min_lr_ratio") if kind == "uba"},
                    eval_loss=metrics["eval_loss"],
                    eval_curve=[(0, metrics.get("eval_loss_init"))] + evals,
                    train_curve=[(h["step"], h["loss"]) for h in logs if "loss" in h],
                )
            )
            print(f"[gpu_check] compare {name}: eval loss {metrics['eval_loss']:.4f}", flush=True)
        return [dict(tokens_per_param=tokens_per_param, **row) for row in rows]

    # ----------------------------------------------------------------------------------- 4. scheduler share

    def scheduler_share(self, row: dict) -> dict:
        """``scheduler.step()`` over the time per update of ``row`` (the headline: the largest model, compiled)."""
        make = partial(get_uba_schedule_with_warmup, num_warmup_steps=10, num_training_steps=10_000, phi=4.0)
        ns = statistics.median(time_scheduler_steps(make, 20_000) for _ in range(5))
        seconds_per_update = row["tokens_per_update"] / row["steady_tokens_per_second"]
        return dict(
            of=f"{row['preset']}, compile {'on' if row['compile'] else 'off'}",
            scheduler_step_ns=ns,
            seconds_per_update=seconds_per_update,
            share=ns * 1e-9 / seconds_per_update,
        )


def imported_distributions() -> dict[str, str]:
    """The installed distributions this process imported modules from (name -> version): what the check needs
    from its environment (tests/research/test_gpu_check.py holds it to the GPU image's packages and the carried
    wheels)."""
    from importlib.metadata import packages_distributions, version

    by_module = packages_distributions()
    names = {dist for module in {m.partition(".")[0] for m in list(sys.modules)} for dist in by_module.get(module, ())}
    return {name: version(name) for name in sorted(names, key=str.lower)}


def metrics_dir(recipe: Path) -> str:
    return yaml.safe_load(recipe.read_text())["output_dir"]


def throughput_row(preset: str, compiled: bool, metrics: dict, logs: list[dict], peak: float | None) -> dict:
    timed = [h for h in logs if "tokens_per_second" in h][1:]  # the first interval holds the warm-up
    steady = statistics.median(h["tokens_per_second"] for h in timed)
    mfu = [h["mfu"] for h in timed if "mfu" in h]
    updates, per_update = metrics["global_step"], metrics["tokens_per_update"]
    estimate = BYTES_PER_PARAMETER * metrics["parameters"] / 2**30
    lrs = {h["step"] - 1: h["learning_rate"] for h in logs if "learning_rate" in h}
    return dict(
        preset=preset,
        compile=compiled,
        updates=updates,
        tokens_per_update=per_update,
        steady_tokens_per_second=steady,
        mfu=statistics.median(mfu) if mfu else None,
        train_seconds=metrics["train_seconds"],
        warmup_seconds=max(0.0, metrics["train_seconds"] - updates * per_update / steady),
        peak_memory_gib=peak,
        model_states_estimate_gib=estimate,
        parameters=metrics["parameters"],
        flops_per_token=metrics["flops_per_token"],
        logged_lrs_exact=max(lr_errors(lrs, metrics)) <= LR_TOLERANCE,
    )


def lr_errors(lrs: dict[int, float], metrics: dict) -> list[float]:
    """|logged - closed form| for every logged update (index 0-based) of a UBA run."""
    closed = partial(
        uba_lr_lambda,
        num_warmup_steps=metrics["num_warmup_steps"],
        num_training_steps=metrics["budget"],
        phi=metrics["phi"],
        min_lr_ratio=metrics["min_lr_ratio"],
    )
    return [abs(lr - metrics["learning_rate"] * closed(step)) for step, lr in sorted(lrs.items())]


# --------------------------------------------------------------------------------------------- report


def plot(compare: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for row in compare:
        steps, losses = zip(*[(s, v) for s, v in row["train_curve"]], strict=True)
        (line,) = ax.plot(steps, losses, alpha=0.35)
        e_steps, e_losses = zip(*[(s, v) for s, v in row["eval_curve"] if v is not None], strict=True)
        ax.plot(
            e_steps, e_losses, "o-", color=line.get_color(), label=f"{row['schedule']} (eval {row['eval_loss']:.3f})"
        )
    ax.set(xlabel="update", ylabel="loss (faint: train, dots: eval)", title="Equal budget, one peak LR")
    ax.set_ylim(top=min(12, ax.get_ylim()[1]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(value, spec: str = ".3g", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def markdown(result: dict) -> str:
    """The report of what has run so far (a cut-off run has only its first phases)."""
    r = result
    done = ", ".join(r["phases_done"]) or "none"
    lines = [
        f"# GPU check: {r['device']}",
        "",
        f"`{r['command']}`: {r['seconds']:.0f} s on {r['device']} (torch {r['torch']}, transformers "
        f"{r['transformers']}, uba-hf {r['uba_hf']}). Phases done: {done}"
        + ("." if r["complete"] else f" (asked for: {', '.join(r['phases'])}; the rest did not run)."),
        "",
        "Seconds per phase: " + ", ".join(f"{k} {v:.0f}" for k, v in r["phase_seconds"].items()) + ".",
    ]
    if r["dry_run"]:
        lines += [
            "",
            "**Dry run on CPU**: the tiny preset, compiled by aot_eager; it shows the check works, not GPU speed.",
        ]
    if r["throughput"]:
        lines += [
            "",
            "## Throughput (recipe settings; steady state after the first log interval)",
            "",
            "| Preset | Compile | Tokens/s | MFU | Compile warm-up (s) | Peak memory (GiB) "
            "| Model-state estimate (GiB) |",
            "|---|---|---|---|---|---|---|",
        ]
    for t in r["throughput"]:
        lines.append(
            f"| {t['preset']} | {'on' if t['compile'] else 'off'} | {t['steady_tokens_per_second']:,.0f} | "
            f"{fmt(t['mfu'], '.1%')} | {t['warmup_seconds']:.1f} | {fmt(t['peak_memory_gib'], '.2f')} | "
            f"{t['model_states_estimate_gib']:.2f} |"
        )
    target = next((t for t in r["throughput"] if t["preset"] == "olmo2-150m" and t["compile"]), None)
    if target is not None:
        met = "n/a" if target["mfu"] is None else ("met" if target["mfu"] >= MFU_TARGET else "**not met**")
        lines += ["", f"Target: `olmo2-150m` with the recipe's settings at {MFU_TARGET:.0%} MFU or more: {met}."]
    if "resume" in r:
        k = r["resume"]
        lines += [
            "",
            "## LR under bf16 + compile, killed and resumed",
            "",
            f"{k['recipe']}, {k['updates']} updates, SIGKILL after the first checkpoint (killed mid-run: "
            f"{k['killed']}), resumed from `{Path(k['resumed_from'] or '-').name}`: {k['updates_checked']} updates' "
            f"LRs checked, max |LR - closed form| = {fmt(k['max_abs_lr_error'], '.1e')}: "
            f"**{'exact' if k['lr_exact'] else 'NOT exact'}**. "
            f"Throughput runs' logged LRs exact: {all(t['logged_lrs_exact'] for t in r['throughput'])}.",
        ]
    if "compare" in r:
        lines += [
            "",
            "## Schedules at one budget and one peak LR (embedded corpus)" if not r["dry_run"] else "## Schedules",
            "",
            f"{r['compare'][0]['tokens_per_param']:.3g} tokens per non-embedding parameter. "
            "![loss curves](" + r["plot"] + ")",
            "",
            "| Schedule | lr_scheduler_type | kwargs | Final eval loss |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {c['schedule']} | {c['lr_scheduler_type']} | `{json.dumps(c['kwargs'])}` | {c['eval_loss']:.4f} |"
            for c in r["compare"]
        ]
    if "scheduler" in r:
        s = r["scheduler"]
        lines += [
            "",
            "## UBA scheduler's share of an update",
            "",
            f"`scheduler.step()` {s['scheduler_step_ns']:,.0f} ns over {s['seconds_per_update'] * 1e3:.1f} ms per "
            f"update ({s['of']}): **{s['share']:.2e}** ({s['share']:.5%}; target < 0.1%).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default=str(BENCHMARKS / "gpu"), help="where the report goes")
    parser.add_argument("--dry-run", action="store_true", help="tiny preset on CPU: proves the script works")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders (printed) instead of deleting")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, run in the order {','.join(PHASES)} whatever the order given (default: all)",
    )
    args = parser.parse_args(argv)
    asked = set(args.phases.split(","))
    if not asked or asked - set(PHASES):
        parser.error(f"--phases takes some of {','.join(PHASES)}, not {args.phases!r}")
    phases = [p for p in PHASES if p in asked]
    # A time limit's SIGTERM unwinds like an exception: child runs are stopped, finished phases stay written.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; use --dry-run to check the script on CPU", file=sys.stderr)
        return 2
    import transformers

    start = time.time()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = device_name(args.dry_run)
    command = "python benchmarks/gpu/gpu_check.py" + (" --dry-run" if args.dry_run else "")
    if phases != list(PHASES):
        command += " --phases " + ",".join(phases)
    result = dict(
        device=device,
        dry_run=args.dry_run,
        command=command,
        phases=phases,
        phases_done=[],
        complete=False,
        seconds=0.0,
        phase_seconds={},
        torch=torch.__version__,
        transformers=transformers.__version__,
        uba_hf=uba_hf.__version__,
        python=platform.python_version(),
        plot=f"{device}-loss.png",
        throughput=[],
    )

    def write() -> None:
        """The report so far: rewritten after every phase, so that a cut-off run leaves what it measured."""
        result.update(seconds=time.time() - start, complete=result["phases_done"] == phases)
        result["distributions"] = imported_distributions()
        if "compare" in result:
            plot(result["compare"], out / result["plot"])
        (out / f"{device}.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        (out / f"{device}.md").write_text(markdown(result))

    work = Path(tempfile.mkdtemp(prefix="uba-gpu-check-"))
    try:
        check = Check(args.dry_run, work)
        for phase in phases:
            t0 = time.time()
            if phase == "headline":
                result["throughput"] += check.throughput([check.plan["headline"]])
                result["scheduler"] = check.scheduler_share(result["throughput"][-1])
            elif phase == "resume":
                result["resume"] = check.kill_and_resume()
            elif phase == "compare":
                result["compare"] = check.compare()
            else:  # each row written as it ends: a cut-off keeps the rows measured
                for row in check.plan["rest"]:
                    result["throughput"] += check.throughput([row])
                    write()
            result["phase_seconds"][phase] = time.time() - t0
            result["phases_done"].append(phase)
            write()
            print(f"[gpu_check] {phase} done in {time.time() - t0:.0f} s; {out / device}.md written", flush=True)
    finally:
        if args.keep:
            print(f"[gpu_check] runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    lrs_exact = all(t["logged_lrs_exact"] for t in result["throughput"])
    resumed = result.get("resume", dict(lr_exact=True, killed=True))
    ok = lrs_exact and resumed["lr_exact"] and resumed["killed"]
    print(f"[gpu_check] {out / device}.md written in {result['seconds']:.0f} s; LR exact: {ok}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
