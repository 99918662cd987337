"""Soak: a long run of the tiny job with frequent checkpoints and ``save_total_limit``; memory and disk along the run;
then what a resume costs against the update it resumes, with and without ``--streaming``.

    nice -n 15 python benchmarks/reliability/soak.py --max_steps 10000 --save_steps 50 \\
        --results benchmarks/reliability/results/soak.json

1. The run: ``uba-pretrain`` (one process; the tiny recipe shrunk as in chaos.py, 64-token blocks, 4 per update) with
   ``--streaming``, ``--save_steps`` every few dozen updates and ``--save_total_limit 2``. Every second: the
   process's resident memory (RSS) and the bytes under ``output_dir``. A few checkpoints (at ``--resume_at`` shares
   of the budget) are copied aside as they complete (the limit deletes them later).
2. Resume cost: each copied ``checkpoint-S`` is resumed by path into a fresh ``output_dir``, once with
   ``--streaming`` and once without; the cost is the time from the process start to its first logged update
   (then it is killed), minus the same time for a fresh run (start-up, tokenizer from the cache, model). With
   ``--streaming`` the Trainer cannot index the data: it re-reads the stream and drops the S x batch blocks it has
   seen; a map-style dataset's sampler skips them without loading them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import Job, kill_tree  # noqa: E402

from uba_hf.checkpoints import COMPLETE_MARKER  # noqa: E402


def disk_bytes(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except FileNotFoundError:
            pass
    return total


def rss_bytes(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


class Soak(Job):
    def __init__(self, *a, streaming: bool, **k) -> None:
        super().__init__(*a, **k)
        self.streaming = streaming

    def args(self, resume):
        extra = ["--streaming", "true"] if self.streaming else []
        return [*super().args(resume), *extra]


def first_update_seconds(job: Soak, resume: str | None, log: Path, timeout: float = 900) -> float:
    """Seconds from the start of ``job`` to its first logged update; the process is then killed."""
    t0 = time.time()
    proc = job.start(resume, log)
    try:
        while time.time() - t0 < timeout:
            if "'loss'" in log.read_text(errors="replace"):
                return time.time() - t0
            if proc.poll() is not None:
                raise SystemExit(f"run ended before its first update ({proc.returncode}):\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        raise SystemExit(f"no update in {timeout} s:\n{log.read_text()[-3000:]}")
    finally:
        kill_tree(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max_steps", type=int, default=10000)
    parser.add_argument("--save_steps", type=int, default=50)
    parser.add_argument("--save_total_limit", type=int, default=2)
    parser.add_argument("--resume_at", type=float, nargs="+", default=[0.1, 0.3, 0.6, 0.9])
    parser.add_argument("--work", type=Path, default=Path("/tmp/uba_soak"))
    parser.add_argument("--results", type=Path)
    opts = parser.parse_args()
    n, k = opts.max_steps, opts.save_steps
    shutil.rmtree(opts.work, ignore_errors=True)
    opts.work.mkdir(parents=True)
    run = Soak("pretrain", opts.work / "run", opts.work, n, max(1, n // 100), k, opts.save_total_limit, streaming=True)
    keep = sorted({max(k, round(share * n / k) * k) for share in opts.resume_at})
    aside = opts.work / "aside"
    aside.mkdir()

    samples: list[dict] = []
    t0 = time.time()
    proc = run.start(None, opts.work / "run.log")
    done = threading.Event()

    def copy_aside() -> None:
        while not done.is_set():
            for s in keep:
                src, dst = run.out / f"checkpoint-{s}", aside / f"checkpoint-{s}"
                if not dst.exists() and (src / COMPLETE_MARKER).is_file():
                    try:
                        shutil.copytree(src, dst)
                    except (FileNotFoundError, shutil.Error):
                        shutil.rmtree(dst, ignore_errors=True)  # rotated away meanwhile: missed
            time.sleep(0.05)

    copier = threading.Thread(target=copy_aside, daemon=True)
    copier.start()
    while proc.poll() is None:
        checkpoints = sorted(run.out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        step = int(checkpoints[-1].name.split("-")[1]) if checkpoints else 0
        rss, disk = rss_bytes(proc.pid), disk_bytes(run.out)
        samples.append({"t": round(time.time() - t0, 1), "checkpoint": step, "rss": rss, "disk": disk})
        time.sleep(1.0)
    done.set()
    copier.join()
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"soak run failed ({proc.returncode}):\n{(opts.work / 'run.log').read_text()[-3000:]}")
    training = [s for s in samples if s["checkpoint"] > 0 and s["rss"] > 0]
    at = {share: training[min(len(training) - 1, int(share * len(training)))] for share in (0.1, 0.5, 1.0)}
    summary: dict = {
        "max_steps": n,
        "save_steps": k,
        "save_total_limit": opts.save_total_limit,
        "streaming": True,
        "wall_s": round(wall, 1),
        "checkpoints_written": n // k,
        "rss_mb_at_10_50_100_percent": [round(at[s]["rss"] / 2**20, 1) for s in (0.1, 0.5, 1.0)],
        "rss_mb_max_during_training": round(max(s["rss"] for s in training) / 2**20, 1),
        "disk_mb_max": round(max(s["disk"] for s in samples) / 2**20, 2),
        "disk_mb_end": round(disk_bytes(run.out) / 2**20, 2),
        "checkpoints_left": sorted(p.name for p in run.out.glob("checkpoint-*")),
    }
    print(json.dumps(summary, indent=1), flush=True)

    # Resume cost against the update resumed, streamed and not.
    costs = []
    for streaming in (False, True):
        fresh = Soak("pretrain", opts.work / f"fresh{int(streaming)}", opts.work, n, max(1, n // 100), k, 2,
                     streaming=streaming)  # fmt: skip
        base = first_update_seconds(fresh, None, opts.work / f"fresh{int(streaming)}.log")
        costs.append({"streaming": streaming, "resumed_update": 0, "first_update_s": round(base, 2), "cost_s": 0.0})
        print(costs[-1], flush=True)
        for s in keep:
            checkpoint = aside / f"checkpoint-{s}"
            if not checkpoint.is_dir():
                continue
            out = opts.work / f"resume{int(streaming)}-{s}"
            job = Soak("pretrain", out, opts.work, n, max(1, n // 100), k, 2, streaming=streaming)
            seconds = first_update_seconds(job, str(checkpoint), opts.work / f"{out.name}.log")
            costs.append(
                {"streaming": streaming, "resumed_update": s, "first_update_s": round(seconds, 2),
                 "cost_s": round(seconds - base, 2)}
            )  # fmt: skip
            print(costs[-1], flush=True)
    summary["resume"] = costs
    summary["rss_disk_samples"] = samples
    if opts.results:
        opts.results.parent.mkdir(parents=True, exist_ok=True)
        opts.results.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
