"""Chaos run: drive a real training job to its budget under random SIGKILLs (``--mode kill``) or random checkpoint
write faults (``--mode fault``), resuming with ``latest`` after each, then check the result against an uninterrupted
run of the same job.

    nice -n 15 python benchmarks/reliability/chaos.py --path pretrain --mode kill --seed 1 --events 20

Paths (``--path``):

* ``pretrain``: ``uba-pretrain`` (``python -m uba_hf.pretrain.cli``, the console script's ``main``) in one process,
  the tiny recipe shrunk to width 32 and 2 layers, a 512-token vocabulary and 64-token blocks on a small corpus
  (24 standard-library sources), ``--save_steps`` every few updates, ``--save_total_limit 2``, an LR log every
  update; resumed with ``--resume_from_checkpoint latest``.
* ``accelerate``: the same job under ``accelerate launch`` (recipes/accelerate/multi_cpu.yaml, 2 CPU processes,
  gloo); SIGKILL goes at once to the launcher and every process under it (agent and both ranks: a lost node).
* ``stock``: the stock ``transformers.Trainer`` (tests/clients/train_stock.py, run_clm style) through ``uba-run``
  (``python -m uba_hf.run``) with ``--lr_scheduler_type uba``; it has no completion marker, so the resume point is
  this package's ``latest`` (``uba_hf.checkpoints.resolve_resume_checkpoint``), passed on as a path. How often
  Transformers' own ``get_last_checkpoint`` would have taken a partial folder instead is counted.

Kills (``--mode kill``): each attempt is killed with SIGKILL at a random moment (half of them uniform over the
attempt's expected life, start-up included, half uniform over its expected training time, both measured on the
uninterrupted run), or, with probability ``--write_share``, a random 0-``--write_window`` s after the attempt
starts writing a new ``checkpoint-N`` folder (to land inside checkpoint writes). After ``--events`` kills the last
attempt runs to the budget. Faults (``--mode fault``, ``pretrain`` only): each attempt runs with one of the writers
failing under one of its next checkpoints (tests/conftest.py's ``StorageFault``: ``open`` for writing, ``os.mkdir``,
``torch.save``, the safetensors writer): ``disk_full`` (ENOSPC after a random number of bytes, leaving that file
truncated), ``read_only`` (EROFS from the folder's creation on), or ``truncated`` (a complete checkpoint's random
file cut short at rest between attempts, as a partial copy does; the attempt then just resumes).

Checks at the end (``results``; a failed check exits 1):

* ``updates_once``: the final ``trainer_state.json`` logs every update 1..N exactly once;
* ``lr_closed_form``: the LR logged at every update equals the closed form (rel. 1e-9);
* ``weights_equal``: the final weights equal the uninterrupted run's, tensor by tensor, bit for bit;
* ``resumes_complete``: every resume took a complete checkpoint (``checkpoint_problems`` empty) whose weights and
  optimizer state equal the uninterrupted run's at the same update, bit for bit (the reference keeps every
  checkpoint), and ``uba-pretrain`` said it resumed that one;
* ``faults_one_line`` (fault mode): every attempt that hit a write fault exited 1 with exactly one
  ``uba-pretrain: error: could not write checkpoint ...`` line and no traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # the engine's small corpus

from uba_bench.corpus import small_text_corpus  # noqa: E402

from uba_hf.checkpoints import (  # noqa: E402
    PENDING_MARKER,
    checkpoint_problems,
    latest_complete_checkpoint,
    sorted_checkpoints,
)

TINY = str(ROOT / "recipes" / "pretrain" / "tiny.yaml")
STOCK_CLIENT = str(ROOT / "tests" / "clients" / "train_stock.py")
SHRINK = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
SHRINK.update(num_attention_heads=4, num_key_value_heads=4)
STOCK_LR, STOCK_PHI, STOCK_FLOOR = 1e-2, 0.5, 0.1
ERROR_PREFIX = "uba-pretrain: error: could not write checkpoint "


def closed_form(s: int, W: int, N: int, phi: float, r: float) -> float:
    """The multiplier of docs/schedule.md, written independently of the implementation."""
    if s < W:
        return s / max(1, W)
    if s >= N:
        return r
    t, T = s - W, N - W
    c = 1 + math.cos(math.pi * t / T)
    return r + (1 - r) * 2 * c / (2 * phi + (2 - phi) * c)


class Job:
    """One training job (``path``) into ``out``: its command line, its schedule, its environment."""

    def __init__(self, path: str, out: Path, work: Path, n: int, w: int, save: int, limit: int | None) -> None:
        self.path, self.out, self.n, self.w, self.save, self.limit = path, out, n, w, save, limit
        self.corpus = small_text_corpus(work / "corpus")
        self.cache = work / "cache"
        if path == "stock":
            self.peak, self.phi, self.floor = STOCK_LR, STOCK_PHI, STOCK_FLOOR
        else:
            import yaml

            from uba_hf.zero_config import zero_config_schedule

            self.peak = float(yaml.safe_load(Path(TINY).read_text())["learning_rate"])
            pick = zero_config_schedule(n, self.peak)  # no phi given: the job's own choice, logged by it
            self.phi, self.floor = pick["phi"], pick["min_lr_ratio"]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "UBA_HF_CACHE": str(self.cache)}
        env.update(OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", ACCELERATE_DISABLE_RICH="1")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"), env.get("PYTHONPATH", "")])
        if self.path == "accelerate":
            env["ACCELERATE_USE_CPU"] = "1"
        env.pop("CUDA_VISIBLE_DEVICES", None)
        return env

    def args(self, resume: str | None) -> list[str]:
        limit = ["--save_total_limit", str(self.limit)] if self.limit else []
        common = ["--output_dir", str(self.out), "--max_steps", str(self.n), "--warmup_steps", str(self.w)]
        common += ["--save_strategy", "steps", "--save_steps", str(self.save), *limit, "--logging_steps", "1"]
        common += ["--disable_tqdm", "true"]
        if resume is not None:
            common += ["--resume_from_checkpoint", resume]
        if self.path == "stock":
            kwargs = json.dumps({"phi": STOCK_PHI, "min_lr_ratio": STOCK_FLOOR})
            return [*common, "--lr_scheduler_type", "uba", "--lr_scheduler_kwargs", kwargs]
        if limit == []:
            common += ["--save_total_limit", "1000"]  # the recipe's limit is 2: the reference keeps every checkpoint
        data = ["--dataset_name", str(self.corpus), "--vocab_size", "512", "--block_size", "64"]
        data += ["--per_device_train_batch_size", "4", "--preprocessing_num_workers", "1", "--max_eval_blocks", "8"]
        return [TINY, *common, *data, "--eval_strategy", "no", "--config_overrides", json.dumps(SHRINK)]

    def command(self, resume: str | None, prefix: list[str] | None = None) -> list[str]:
        args = self.args(resume)
        if self.path == "pretrain":
            return [sys.executable, *(prefix or ["-m", "uba_hf.pretrain.cli"]), *args]
        if self.path == "stock":
            common = ["--per_device_train_batch_size", "4", "--report_to", "none", "--seed", "0", "--use_cpu", "true"]
            return [sys.executable, "-m", "uba_hf.run", STOCK_CLIENT, *args, *common, "--learning_rate", str(STOCK_LR)]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        config = str(ROOT / "recipes" / "accelerate" / "multi_cpu.yaml")
        launch = ["-m", "accelerate.commands.launch", "--config_file", config, "--num_processes", "2"]
        return [sys.executable, *launch, "--main_process_port", port, "-m", "uba_hf.pretrain.cli", *args]

    def start(self, resume: str | None, log: Path, prefix: list[str] | None = None) -> subprocess.Popen:
        with open(log, "w") as f:
            return subprocess.Popen(
                self.command(resume, prefix),
                cwd=ROOT,
                env=self.env(),
                stdout=f,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )


def folder_state(out: Path) -> dict[str, tuple]:
    """Every ``checkpoint-N`` folder's files with size and mtime: what an attempt changed."""
    state = {}
    for folder in sorted_checkpoints(out):
        files = []
        for p in sorted(folder.rglob("*")):
            try:
                if p.is_file():
                    st = p.stat()
                    files.append((str(p.relative_to(folder)), st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                pass
        state[folder.name] = tuple(files)
    return state


def kill_tree(proc: subprocess.Popen) -> int:
    """SIGKILL the attempt and every process under it at once (a lost node): ``accelerate launch`` starts its
    workers in sessions of their own, so killing the launcher's process group would leave the ranks training.
    Returns how many processes were killed."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        victims = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for victim in victims:
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()  # the launcher, reaped by Popen (its exit status: -9)
    psutil.wait_procs(victims[1:], timeout=30)  # the others, reparented: gone before the next attempt starts
    return len(victims)


def step_of(folder: str | Path) -> int:
    return int(Path(folder).name.split("-")[1])


def final_dir(job: Job) -> Path:
    return job.out / f"checkpoint-{job.n}"


def tensors(folder: Path) -> dict[str, dict]:
    """The checkpoint's weights and optimizer state tensors, flattened by name."""
    import safetensors.torch
    import torch

    found = {"model": safetensors.torch.load_file(str(folder / "model.safetensors"))}
    state = torch.load(folder / "optimizer.pt", weights_only=True, map_location="cpu")["state"]
    found["optimizer"] = {f"{index}.{key}": value for index, entry in state.items() for key, value in entry.items()}
    return found


def same_tensors(a: Path, b: Path, with_optimizer: bool = True) -> tuple[bool, float]:
    """(bit for bit equal, largest absolute difference) over the weights (and the optimizer state)."""
    import torch

    ta, tb = tensors(a), tensors(b)
    parts = ("model", "optimizer") if with_optimizer else ("model",)
    equal, worst = True, 0.0
    for part in parts:
        if set(ta[part]) != set(tb[part]):
            return False, float("inf")
        for key, x in ta[part].items():
            y = tb[part][key]
            if not torch.equal(x, y):
                equal = False
                worst = max(worst, float((x.double() - y.double()).abs().max()))
    return equal, worst


def run_reference(job: Job, log: Path) -> dict:
    """The uninterrupted run, every checkpoint kept; how long start-up and an update take."""
    t0 = time.time()
    proc = job.start(None, log)
    first = last = None  # when checkpoint-K and checkpoint-N appeared
    while proc.poll() is None:
        if first is None and (job.out / f"checkpoint-{job.save}").is_dir():
            first = time.time() - t0
        if last is None and (job.out / f"checkpoint-{job.n}").is_dir():
            last = time.time() - t0
        time.sleep(0.01)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"reference run failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    first, last = first or wall, last or wall
    per_update = max(1e-3, (last - first) / max(1, job.n - job.save))
    startup = max(0.0, first - job.save * per_update)
    return {"wall_s": round(wall, 2), "startup_s": round(startup, 2), "update_s": round(per_update, 4)}


def fault_prefix(folder: Path, code: int, capacity: int) -> list[str]:
    """``python -c`` that installs ``StorageFault`` on ``folder``, then runs uba-pretrain's ``main``."""
    code_name = errno.errorcode[code]
    program = (
        "import errno, pathlib, sys, pytest; from conftest import StorageFault; from uba_hf.pretrain.cli import main; "
        f"StorageFault(pytest.MonkeyPatch(), pathlib.Path({str(folder)!r}), {capacity}, errno.{code_name}); "
        "raise SystemExit(main(sys.argv[1:]))"
    )
    return ["-c", program]


def logged_updates(text: str) -> int:
    """Updates an attempt logged (one ``{'loss': ...}`` line per update: ``--logging_steps 1``)."""
    return sum(1 for line in text.splitlines() if "'loss'" in line and "'learning_rate'" in line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", choices=["pretrain", "accelerate", "stock"], default="pretrain")
    parser.add_argument("--mode", choices=["kill", "fault"], default="kill")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", type=int, default=10, help="kills (or faults) before the run may finish")
    parser.add_argument("--max_steps", type=int, default=60)
    parser.add_argument("--warmup_steps", type=int, default=6)
    parser.add_argument("--save_steps", type=int, default=5)
    parser.add_argument("--save_total_limit", type=int, default=2)
    parser.add_argument("--write_share", type=float, default=0.4, help="share of kills aimed at a checkpoint write")
    parser.add_argument("--write_window", type=float, default=0.3, help="seconds after a save starts")
    parser.add_argument("--work", type=Path, default=Path("/tmp/uba_chaos"))
    parser.add_argument("--results", type=Path, default=None, help="JSON file for the results")
    parser.add_argument("--attempt_timeout", type=float, default=900)
    opts = parser.parse_args()
    if opts.mode == "fault" and opts.path != "pretrain":
        parser.error("--mode fault drives uba-pretrain in one process (--path pretrain)")
    if opts.max_steps % opts.save_steps:
        parser.error("--max_steps must be a multiple of --save_steps (the final checkpoint is compared)")

    rng = random.Random(opts.seed)
    work = opts.work / f"{opts.path}-{opts.mode}-seed{opts.seed}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    n, w, k = opts.max_steps, opts.warmup_steps, opts.save_steps
    reference = Job(opts.path, work / "reference", work, n, w, k, None)
    job = Job(opts.path, work / "chaos", work, n, w, k, opts.save_total_limit)
    started = time.time()
    timing = run_reference(reference, work / "reference.log")
    print(f"reference: {timing}", flush=True)

    attempts: list[dict] = []
    events = 0
    while True:
        index = len(attempts)
        latest = latest_complete_checkpoint(job.out, quiet=True)
        record: dict = {"attempt": index, "resume": latest.name if latest else None}
        if latest is not None:
            # What the package's `latest` takes must be whole: the uninterrupted run's state at that update.
            record["resume_problems"] = checkpoint_problems(latest)
            equal, worst = same_tensors(latest, reference.out / latest.name)
            record["resume_equals_reference"], record["resume_max_abs_diff"] = equal, worst
        record["incomplete_present"] = [p.name for p in sorted_checkpoints(job.out) if checkpoint_problems(p)]
        if opts.path == "stock":  # what run_clm's `latest` (Transformers' get_last_checkpoint) would take
            from transformers.trainer_utils import get_last_checkpoint

            stock_pick = get_last_checkpoint(str(job.out)) if job.out.is_dir() else None
            record["get_last_checkpoint"] = Path(stock_pick).name if stock_pick else None
        if opts.path == "stock" and latest is not None and step_of(latest) == n:
            # Killed after its last checkpoint: the budget is done. The stock Trainer (Transformers 5.25), given
            # that checkpoint, would train update N + 1 at the floor LR and save checkpoint-(N+1) (so does a bare
            # UBATrainer; uba-pretrain says "already complete"): a script checks before resuming, and so does this.
            record["action"] = "at_budget"
            attempts.append(record)
            print(f"attempt {index}: {latest.name} is at the budget: not resumed", flush=True)
            break
        resume_arg = None if latest is None else str(latest) if opts.path == "stock" else "latest"
        resumed_at = step_of(latest) if latest else 0

        action, prefix = "finish", None
        if events < opts.events and opts.mode == "kill":
            action = "kill_in_write" if rng.random() < opts.write_share else "kill_random"
        elif events < opts.events and opts.mode == "fault":
            action = rng.choice(["disk_full", "read_only", "truncated"])
            complete = [p for p in sorted_checkpoints(job.out) if not checkpoint_problems(p)]
            if action == "truncated" and not complete:
                action = "disk_full"
            if action == "truncated":  # at rest, between attempts: a complete checkpoint's file cut short
                victim = rng.choice(complete)
                files = sorted(p for p in victim.rglob("*") if p.is_file() and not p.name.startswith("uba_"))
                cut = rng.choice(files)
                size = cut.stat().st_size
                keep = rng.randrange(0, max(1, size))
                os.truncate(cut, keep)
                record.update(action="truncated", truncated=f"{victim.name}/{cut.name} {size} -> {keep} bytes")
                events += 1
                attempts.append(record)
                print(f"attempt {index}: truncated {record['truncated']}", flush=True)
                continue
            target = min(n, (resumed_at // k + rng.randint(1, 2)) * k)
            code = errno.ENOSPC if action == "disk_full" else errno.EROFS
            capacity = rng.randrange(0, 400_000) if action == "disk_full" else 0  # a checkpoint is ~300 kB
            prefix = fault_prefix(job.out / f"checkpoint-{target}", code, capacity)
            record["fault"] = {"folder": f"checkpoint-{target}", "errno": errno.errorcode[code], "capacity": capacity}
        record["action"] = action

        before = folder_state(job.out)
        log = work / f"attempt{index:03d}.log"
        t0 = time.time()
        proc = job.start(resume_arg, log, prefix)
        killed = False
        if action.startswith("kill"):
            if action == "kill_random":
                # Half uniform over the attempt's whole expected life (start-up included), half over its training.
                training = (n - resumed_at) * timing["update_s"]
                low = 0.0 if rng.random() < 0.5 else timing["startup_s"]
                deadline = t0 + rng.uniform(low, timing["startup_s"] + training)
                record["kill_after_s"] = round(deadline - t0, 3)
                while proc.poll() is None and time.time() < deadline:
                    time.sleep(0.005)
            else:
                delay = rng.uniform(0, opts.write_window)
                seen = set(before)
                deadline = t0 + opts.attempt_timeout
                while proc.poll() is None and time.time() < deadline:
                    new = [p for p in sorted_checkpoints(job.out) if p.name not in seen and step_of(p) > resumed_at]
                    if new:
                        time.sleep(delay)
                        break
                    time.sleep(0.002)
                record["delay_after_save_start_s"] = round(delay, 4)
            if proc.poll() is None:
                record["processes_killed"] = kill_tree(proc)
                killed = True
                events += 1
        try:
            proc.wait(timeout=opts.attempt_timeout)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            proc.wait()
            record["timeout"] = True
        record["seconds"] = round(time.time() - t0, 2)
        record["exit"] = proc.returncode
        record["killed"] = killed
        text = log.read_text(errors="replace")
        record["updates_logged"] = logged_updates(text)
        after = folder_state(job.out)
        # Folders this attempt created or changed and left incomplete: it was killed (or failed) inside that save.
        changed = [name for name in after if after[name] != before.get(name)]
        record["left_incomplete"] = [
            name for name in changed if (job.out / name).is_dir() and checkpoint_problems(job.out / name)
        ]
        record["pending_marks"] = [name for name in after if (job.out / name / PENDING_MARKER).exists()]
        if latest is not None and opts.path != "stock":
            said = "already complete" if resumed_at == n else f"resuming from {latest} (update {resumed_at} of {n})"
            # A killed attempt may not have got as far as saying it; one that said which, said this one.
            record["said_resuming"] = said in text or (killed and "resuming from" not in text)
        if opts.mode == "fault" and action != "finish":
            errors = [line for line in text.splitlines() if line.startswith("uba-pretrain: error:")]
            record["error_lines"] = errors
            record["traceback"] = "Traceback" in text
            record["fault_hit"] = proc.returncode != 0
            if proc.returncode == 0:
                pass  # the fault's folder was never reached with that capacity: the run finished
            else:
                events += 1
        attempts.append(record)
        print(
            f"attempt {index}: {action} resume={record['resume']} exit={proc.returncode} "
            f"{record['seconds']}s updates={record['updates_logged']} left_incomplete={record['left_incomplete']}",
            flush=True,
        )
        if proc.returncode == 0 and final_dir(job).is_dir():
            break
        if proc.returncode not in (0, -signal.SIGKILL, 1, 137) or record.get("timeout"):
            print(text[-3000:])
            break
        if len(attempts) > 4 * opts.events + 20:
            print("too many attempts")
            break

    results = check(job, reference, attempts, opts)
    results.update(timing_reference=timing, wall_s=round(time.time() - started, 1))
    summary = {k: v for k, v in results.items() if k != "attempts"}
    print(json.dumps(summary, indent=1))
    if opts.results:
        opts.results.parent.mkdir(parents=True, exist_ok=True)
        opts.results.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if results["verdict"] == "pass" else 1


def check(job: Job, reference: Job, attempts: list[dict], opts) -> dict:
    n = job.n
    final = final_dir(job)
    out: dict = {"path": opts.path, "mode": opts.mode, "seed": opts.seed, "max_steps": n}
    out.update(save_steps=job.save, save_total_limit=job.limit, warmup_steps=job.w, phi=job.phi, floor=job.floor)
    kills = [a for a in attempts if a.get("killed")]
    out["attempts_n"] = len(attempts)
    out["kills"] = len(kills)
    out["kills_in_write"] = sum(1 for a in kills if a["left_incomplete"])
    out["kills_aimed_at_write"] = sum(1 for a in kills if a["action"] == "kill_in_write")
    out["updates_redone"] = sum(a.get("updates_logged", 0) for a in attempts) - n if final.is_dir() else None
    resumes = [a for a in attempts if a.get("resume") and a["action"] not in ("truncated", "at_budget")]
    out["resumes"] = len(resumes)
    started = [a for a in attempts if a["action"] not in ("truncated", "at_budget")]
    out["starts_past_incomplete"] = sum(1 for a in started if a.get("incomplete_present"))
    if opts.path == "stock":
        out["get_last_checkpoint_took_incomplete"] = sum(
            1 for a in started if a.get("get_last_checkpoint") in a.get("incomplete_present", [])
        )
    checks: dict[str, bool] = {}
    checks["finished"] = final.is_dir() and (attempts[-1].get("exit") == 0 or attempts[-1]["action"] == "at_budget")
    # A kill after checkpoint-N but before the final outputs: the resume says "already complete" and writes nothing.
    out["final_outputs_written"] = (job.out / "model.safetensors").is_file() if opts.path != "stock" else None
    if checks["finished"]:
        history = json.loads((final / "trainer_state.json").read_text())["log_history"]
        logged = [(h["step"], h["learning_rate"]) for h in history if "loss" in h]
        steps = [s for s, _ in logged]
        checks["updates_once"] = steps == list(range(1, n + 1))
        out["lost_updates"] = len(set(range(1, n + 1)) - set(steps))
        out["repeated_updates"] = len(steps) - len(set(steps))
        errors = [
            abs(lr - job.peak * closed_form(s - 1, job.w, n, job.phi, job.floor))
            / (job.peak * closed_form(s - 1, job.w, n, job.phi, job.floor) or 1.0)
            for s, lr in logged
        ]
        out["lr_max_rel_error"] = max(errors) if errors else None
        checks["lr_closed_form"] = bool(errors) and max(errors) <= 1e-9
        equal, worst = same_tensors(final, reference.out / final.name)
        out["final_max_abs_diff"] = worst
        checks["weights_equal"] = equal
    checks["resumes_complete"] = all(
        a["resume_problems"] == [] and a["resume_equals_reference"] and a.get("said_resuming", True) for a in resumes
    )
    if opts.mode == "fault":
        hits = [a for a in attempts if a.get("fault_hit")]
        out["faults_hit"] = len(hits)
        out["faults_by_kind"] = {
            kind: sum(1 for a in attempts if a["action"] == kind and (a.get("fault_hit") or kind == "truncated"))
            for kind in ("disk_full", "read_only", "truncated")
        }
        checks["faults_one_line"] = all(
            a["exit"] == 1
            and len(a["error_lines"]) == 1
            and a["error_lines"][0].startswith(ERROR_PREFIX)
            and not a["traceback"]
            for a in hits
        )
        out["fault_lines"] = [a["error_lines"][0][:240] for a in hits if a.get("error_lines")][:6]
    out["checks"] = checks
    out["verdict"] = "pass" if all(checks.values()) else "FAIL"
    out["attempts"] = attempts
    return out


if __name__ == "__main__":
    raise SystemExit(main())
