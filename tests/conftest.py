"""Shared fixtures: the closed form of the schedule, a tiny randomly initialised OLMo-2 model and token
data, all offline; a storage fault (``StorageFault``, also installed inside launched scripts); and the launcher
helpers of the multi-process tests (environment, rendezvous port, a run that cannot hang). Test modules import
from here, never from each other."""

from __future__ import annotations

import builtins
import errno
import io
import math
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
# Ctrl-C as in a terminal, also when a script starts pytest in the background (the shell then ignores SIGINT,
# the runs this process starts inherit that, and a training run leaves an ignored signal ignored).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
# The benchmark harness lives outside the installed package (benchmarks/uba_bench).
sys.path.insert(0, str(ROOT / "benchmarks"))

import pytest  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402
import transformers.modeling_utils  # noqa: E402
import yaml  # noqa: E402
from transformers import Olmo2ForCausalLM  # noqa: E402

from uba_hf.callbacks import LRTraceCallback  # noqa: E402
from uba_hf.pretrain.models import preset_config  # noqa: E402
from uba_hf.zero_config import zero_config_schedule  # noqa: E402

# The main job's recipe. It gives no phi or floor: the job picks them (``uba_hf.zero_config``) from its peak LR and
# budget. Every budget the tests run it at (<= 683 updates at its LR, an LR area <= 2) gets the recipe's own choice, a
# late decay: tests check its LRs against the closed form at these.
TINY = str(ROOT / "recipes" / "pretrain" / "tiny.yaml")
TINY_RECIPE = yaml.safe_load(Path(TINY).read_text())
_TINY_CHOICE = zero_config_schedule(int(TINY_RECIPE["max_steps"]), float(TINY_RECIPE["learning_rate"]))
TINY_PHI, TINY_FLOOR = _TINY_CHOICE["phi"], _TINY_CHOICE["min_lr_ratio"]
assert zero_config_schedule(683, float(TINY_RECIPE["learning_rate"]))["phi"] == TINY_PHI  # the same at every budget

VOCAB = 64
SEQ = 16
# The one tiny test model: the "tiny" preset shrunk to width 32 and 2 layers.
TINY_MODEL = dict(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)


def closed_form(s: int, W: int, N: int, phi: float, r: float) -> float:
    """The multiplier of docs/schedule.md, written independently of the implementation."""
    if s < W:
        return s / max(1, W)
    if s >= N:
        return r
    t, T = s - W, N - W
    c = 1 + math.cos(math.pi * t / T)
    return r + (1 - r) * 2 * c / (2 * phi + (2 - phi) * c)


def segment_closed_form(s: int, S: int, m: float, N: int, phi: float, r: float) -> float:
    """A re-budget segment of docs/schedule.md ("Re-budgeting"), written independently: from multiplier
    ``m`` at update ``S``, UBA decay with the same phi to the floor ``r`` at the new budget ``N``."""
    assert s >= S
    if s >= N:
        return r
    u = (1 + math.cos(math.pi * (s - S) / (N - S))) / 2  # the cosine factor, 1 -> 0
    return r + (m - r) * 2 * u / (2 * u + phi * (1 - u))  # f = 2u / (2u + phi (1 - u))


def tiny_olmo2(seed: int = 0, vocab_size: int = VOCAB, seq_len: int = SEQ, **overrides) -> Olmo2ForCausalLM:
    torch.manual_seed(seed)
    config = preset_config(
        "tiny", vocab_size=vocab_size, max_position_embeddings=seq_len, **{**TINY_MODEL, **overrides}
    )
    return Olmo2ForCausalLM(config)  # the plain constructor: no DeepSpeed ZeRO-3 init even if a test set one up


class TokenDataset(torch.utils.data.Dataset):
    """Fixed pseudo-random token blocks with a learnable pattern (next token = token + 1 mod V)."""

    def __init__(self, n: int = 64, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        starts = torch.randint(0, VOCAB, (n, 1), generator=g)
        self.blocks = (starts + torch.arange(SEQ)) % VOCAB

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


class LRRecorder(LRTraceCallback):
    """The package's LR trace, split into update indices and LRs for assertions."""

    @property
    def steps(self) -> list[int]:
        return [step for step, _ in self.trace]

    @property
    def lrs(self) -> list[float]:
        return [lr for _, lr in self.trace]


def tiny_training_args(output_dir, **overrides):
    """``TrainingArguments`` of the tiny-model tests (CPU, seed 0, no reporting, 12 updates, warmup 3,
    an LR log every update, no checkpoints); ``overrides`` win."""
    from transformers import TrainingArguments

    base = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        max_steps=12,
        warmup_steps=3,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    return TrainingArguments(**{**base, **overrides})


def train_tiny(trainer_cls, args, resume=None, **kwargs):
    """Train the tiny model on ``TokenDataset``; returns the trainer, its LR trace and ``{step: loss}``
    (``callbacks``: added after the LR trace)."""
    recorder = LRRecorder()
    callbacks = [recorder, *kwargs.pop("callbacks", [])]
    trainer = trainer_cls(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(), callbacks=callbacks, **kwargs)
    trainer.train(resume_from_checkpoint=resume)
    losses = {h["step"]: h["loss"] for h in trainer.state.log_history if "loss" in h}
    return trainer, recorder, losses


@pytest.fixture
def token_dataset() -> TokenDataset:
    return TokenDataset()


# --------------------------------------------------------------------------------- storage faults


class StorageFault:
    """Storage under ``folder`` (or the file ``folder`` itself) that takes ``capacity`` more bytes, then fails
    with ``code`` (ENOSPC: a full disk; EROFS with capacity 0: storage turned read-only, where creating the folder
    fails too). Installed with ``monkeypatch`` (``pytest.MonkeyPatch()`` in a launched script) on the writers the
    Trainer uses: ``open`` for writing, ``os.mkdir``, ``torch.save`` and the safetensors writer."""

    def __init__(self, monkeypatch, folder: Path, capacity: int, code: int) -> None:
        self.folder, self.left, self.code = str(folder), capacity, code
        real_open, real_mkdir, real_torch_save = builtins.open, os.mkdir, torch.save

        def fault_open(file, mode="r", *a, **k):
            f = real_open(file, mode, *a, **k)
            return self.wrap(f, file) if self.covers(file) and any(c in mode for c in "wax+") else f

        def fault_mkdir(path, *a, **k):
            if self.covers(path) and self.code == errno.EROFS:
                raise OSError(self.code, os.strerror(self.code), os.fspath(path))
            return real_mkdir(path, *a, **k)

        def fault_torch_save(obj, f, *a, **k):
            if not (isinstance(f, (str, os.PathLike)) and self.covers(f)):
                return real_torch_save(obj, f, *a, **k)
            buffer = io.BytesIO()
            real_torch_save(obj, buffer, *a, **k)
            with fault_open(f, "wb") as out:
                out.write(buffer.getvalue())

        def fault_safe_save(tensors, filename, metadata=None):
            with fault_open(filename, "wb") as out:
                out.write(safetensors.torch.save(tensors, metadata=metadata))

        monkeypatch.setattr(builtins, "open", fault_open)
        monkeypatch.setattr(os, "mkdir", fault_mkdir)
        monkeypatch.setattr(torch, "save", fault_torch_save)
        monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", fault_safe_save)

    def covers(self, path) -> bool:
        return os.path.abspath(os.fspath(path)).startswith(self.folder + os.sep) or os.fspath(path) == self.folder

    def wrap(self, f, name):
        fault = self
        write = f.write

        def limited_write(data):
            if len(data) > fault.left:
                write(data[: fault.left])  # what fits is written: the file is left truncated
                fault.left = 0
                f.flush()
                raise OSError(fault.code, os.strerror(fault.code), os.fspath(name))
            fault.left -= len(data)
            return write(data)

        f.write = limited_write
        return f


def install_storage_fault(spec: str, out: str, rank: int) -> None:
    """``StorageFault`` on ``OUT/checkpoint-N`` (or on one file in it: ``checkpoint-N/FILE``) in a launched process,
    if it is the rank that ``spec`` (``RANK:checkpoint-N[/FILE]:ERRNO``, the launched test scripts'
    ``--storage_fault``) names: no byte more fits there (``ENOSPC``), or nothing can be created there (``EROFS``)."""
    fault_rank, folder, code = spec.split(":")
    if int(fault_rank) == rank:
        StorageFault(pytest.MonkeyPatch(), Path(out).absolute() / folder, 0, getattr(errno, code))


# --------------------------------------------------------------------------------- launchers

ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]  # + a recipe and its arguments
TINY_SCRIPT = str(ROOT / "tests" / "dist_scripts" / "train_tiny.py")  # UBATrainer under a launcher; see its docstring
STOCK_CLIENT = str(ROOT / "tests" / "clients" / "train_stock.py")  # the stock Trainer, run_clm style; see its docstring
ABORT_SIGNS = ("terminate called", "Fatal Python error", "Traceback (most recent call last)", "SIGABRT")
PORT_TAKEN = ("EADDRINUSE", "Address already in use", "address already in use")
PORT_FLAGS = ("--main_process_port", "--master_port", "--master-port")


def launcher_env(**extra: str) -> dict[str, str]:
    """Offline, CPU-only (DeepSpeed's CPU accelerator), one thread per process."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "DS_ACCELERATOR": "cpu",  # DeepSpeed's CPU accelerator (no CUDA here)
        "DS_BUILD_OPS": "0",  # no ahead-of-time op builds; DeepSpeed JIT-builds the one it needs
        "OMP_NUM_THREADS": "1",
        "ACCELERATE_DISABLE_RICH": "1",
        **extra,
    }
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_launcher(cmd: list[str], timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """Run a launcher; retry once, on a fresh port, only if the rendezvous port was taken meanwhile
    (free_port() cannot reserve it, and other jobs on the machine may launch too)."""
    proc = _run_once(cmd, timeout, env)
    flag = next((f for f in PORT_FLAGS if f in cmd), None)
    if proc.returncode != 0 and any(sign in proc.stdout for sign in PORT_TAKEN) and flag:
        cmd = list(cmd)
        cmd[cmd.index(flag) + 1] = str(free_port())
        proc = _run_once(cmd, timeout, env)
    return proc


def popen_group(cmd: list[str], **env: str) -> subprocess.Popen:
    """Start ``cmd`` from the repository root in its own session (process group), as a shell starts a foreground
    job, with ``launcher_env(**env)`` and stdout and stderr in one text pipe."""
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=launcher_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _run_once(cmd: list[str], timeout: float, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run in its own process group; on timeout kill the whole group (a hang fails the test)."""
    proc = popen_group(cmd, **env)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd[:6])} ... hung for {timeout}s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def accelerate_launch(recipe: str, *target: str) -> list[str]:
    """``accelerate launch`` of ``target`` (a script and its arguments) with the Accelerate recipe named ``recipe``
    (``recipes/accelerate/``), 2 processes, a free port."""
    config = str(ROOT / "recipes" / "accelerate" / recipe)
    return [*ACCELERATE, config, "--num_processes", "2", "--main_process_port", str(free_port()), *target]


def tiny_launch(recipe: str, out: Path, *args: str) -> list[str]:
    """``accelerate launch`` of ``TINY_SCRIPT`` (``UBATrainer``), as ``accelerate_launch``."""
    return accelerate_launch(recipe, TINY_SCRIPT, str(out), *args)


def stock_launch(recipe: str, out: Path, *args: str) -> list[str]:
    """``accelerate launch`` of ``STOCK_CLIENT`` (the stock ``Trainer``) through ``uba-run``, as ``accelerate_launch``;
    ``args``: its ``TrainingArguments`` and client options."""
    return accelerate_launch(recipe, "-m", "uba_hf.run", STOCK_CLIENT, "--output_dir", str(out), *args)


def rank_reports(out: Path, n: int) -> list[dict]:
    """The ``OUT/rank{R}.json`` of the ``n`` processes of a launched test script, rank 0 first."""
    import json

    found = sorted(out.glob("rank*.json"))
    assert len(found) == n, found
    return [json.loads(p.read_text()) for p in found]


def assert_clean(proc: subprocess.CompletedProcess) -> None:
    """Exit status 0 and no abort / traceback from any process (clean shutdown included)."""
    assert proc.returncode == 0, excerpt(proc.stdout)
    for sign in ABORT_SIGNS:
        assert sign not in proc.stdout, excerpt(proc.stdout)


def excerpt(out: str) -> str:
    """Errors first (which process failed, and how), then the tail; progress bars dropped."""
    lines = [line for line in out.splitlines() if "it/s]" not in line]
    errors = [line for line in lines if any(k in line for k in ("rror", "terminate", "exitcode", "Signal", "FAILED"))]
    return "\n".join(errors[:40] + ["----- tail -----"] + lines[-60:])


needs_cpu_only = pytest.mark.skipif(torch.accelerator.is_available(), reason="the check is for machines without GPUs")


def ds_config_with_scheduler_block() -> dict:
    """recipes/deepspeed/zero2.json plus the ``scheduler`` block that would replace UBA."""
    import json

    config = json.loads((ROOT / "recipes" / "deepspeed" / "zero2.json").read_text())
    config["scheduler"] = {"type": "WarmupDecayLR", "params": {"total_num_steps": "auto", "warmup_num_steps": "auto"}}
    return config


@pytest.fixture(scope="session")
def small_text_corpus(tmp_path_factory) -> Path:
    """24 real Python source files as a folder of ``.txt`` documents: end-to-end CLI runs on it tokenize and
    train a tokenizer in seconds (pass ``--vocab_size 512 --block_size 64``)."""
    import json
    import subprocess

    folder = tmp_path_factory.mktemp("small_text_corpus")
    sources = sorted(Path(json.__file__).parent.glob("*.py")) + sorted(Path(subprocess.__file__).parent.glob("a*.py"))
    for i, src in enumerate(sources[:24]):
        (folder / f"doc{i:02d}.txt").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


RESEARCH = ROOT / "tests" / "research"


def pytest_collection_modifyitems(config, items) -> None:
    """Every test under ``tests/research/`` (the benchmark harness and the studies, not the package) is marked
    ``research``: ``pytest -m "not research"`` runs the library's and the job's tests alone."""
    for item in items:
        if RESEARCH in item.path.parents:
            item.add_marker(pytest.mark.research)


def load_benchmark_script(relative: str):
    """A script of a study folder (``benchmarks/<study>/<script>.py``, not a package) imported as a module."""
    import importlib.util

    path = ROOT / "benchmarks" / relative
    name = "bench_" + path.with_suffix("").relative_to(ROOT / "benchmarks").as_posix().replace("/", "_")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]
