"""The package as a user installs it (issue 28): recipes by name, and a wheel
built by ``python -m build``, installed into a fresh venv and run from another directory, trains the tiny recipe
(``uba-pretrain tiny``) and puts UBA under a stock script (``uba-run``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, TINY, TINY_FLOOR, TINY_PHI, closed_form

from uba_hf import UBAConfigError, __version__, zero_config_schedule
from uba_hf.pretrain.cli import parse_args
from uba_hf.pretrain.recipe_names import recipe_names, resolve_recipe


def test_recipes_by_name_and_by_path():
    assert recipe_names() == sorted(p.stem for p in (ROOT / "recipes" / "pretrain").glob("*.yaml"))
    assert Path(resolve_recipe("tiny")) == Path(TINY)
    assert resolve_recipe("my/own.yml") == "my/own.yml" and resolve_recipe("--max_steps") is None
    with pytest.raises(UBAConfigError, match=r"'tinyy' is neither.*olmo2-150m.*tiny"):
        resolve_recipe("tinyy")
    by_name, by_path = parse_args(["tiny", "--max_steps", "7"]), parse_args([TINY, "--max_steps", "7"])
    assert by_name[4].max_steps == 7 and by_name[1].block_size == 128 and repr(by_name) == repr(by_path)


# A stock training script: it never imports uba_hf, so "--lr_scheduler_type uba" parses only under uba-run.
STOCK_SCRIPT = """
import torch
from transformers import HfArgumentParser, Olmo2Config, Olmo2ForCausalLM, Trainer, TrainingArguments

class Blocks(torch.utils.data.Dataset):
    def __len__(self):
        return 32
    def __getitem__(self, i):
        x = (torch.arange(16) + i) % 64
        return {"input_ids": x, "labels": x}

(args,) = HfArgumentParser(TrainingArguments).parse_args_into_dataclasses()
torch.manual_seed(0)
config = Olmo2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=2, pad_token_id=0, bos_token_id=1, eos_token_id=2)
trainer = Trainer(model=Olmo2ForCausalLM(config), args=args, train_dataset=Blocks())
trainer.train()
print("LRS", [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h])
"""


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_outside_the_checkout(tmp_path, small_text_corpus):
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    # No PYTHONPATH anywhere: a checkout on it (or the egg-info the build writes there) would stand in for the wheel.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("uba_hf-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {f"uba_hf/pretrain/recipes/{name}.yaml" for name in recipe_names()} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    for field in ("License: Apache-2.0", "Requires-Python: >=3.10", "Project-URL: ", "Classifier: Programming"):
        assert field in metadata

    # A fresh venv on this interpreter's site-packages (torch is not downloaded again), the wheel with its
    # [pretrain] extra installed by pip from no index: the dependencies must resolve from what is installed.
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], env=env, check=True
    )
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index"]
    installed = subprocess.run([*pip, f"{wheel}[pretrain]"], env=env, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    code = "import uba_hf; from uba_hf.pretrain.recipe_names import recipe_dir as d; print(uba_hf.__file__, d())"
    package, recipes = map(Path, run(str(python), "-c", code).split())
    assert package.is_relative_to(venv) and recipes.is_relative_to(venv) and recipes.name == "recipes"
    assert run(str(python), "-c", "import uba_hf; print(uba_hf.__version__)").strip() == __version__

    # uba-pretrain tiny: the recipe shipped in the wheel, on a small budget and a small corpus.
    out = elsewhere / "tiny"
    run(
        str(venv / "bin" / "uba-pretrain"),
        "tiny",
        *("--dataset_name", str(small_text_corpus), "--vocab_size", "512", "--block_size", "64"),
        *("--max_steps", "3", "--per_device_train_batch_size", "4", "--eval_strategy", "no"),
        *("--save_strategy", "no", "--logging_steps", "1", "--output_dir", str(out)),
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["global_step"] == 3 and (metrics["phi"], metrics["min_lr_ratio"]) == (TINY_PHI, TINY_FLOOR)
    assert (out / "model.safetensors").is_file() and (out / "lr_schedule.png").is_file()

    # uba-run in front of a stock script that never imports uba_hf: UBA at the zero-config choice, exact LRs.
    (elsewhere / "train.py").write_text(STOCK_SCRIPT)
    stdout = run(
        str(venv / "bin" / "uba-run"),
        "train.py",
        *("--output_dir", "run", "--max_steps", "6", "--warmup_steps", "2", "--lr_scheduler_type", "uba"),
        *("--per_device_train_batch_size", "4", "--use_cpu", "true", "--report_to", "none"),
        *("--save_strategy", "no", "--logging_steps", "1", "--learning_rate", "1e-3"),
    )
    lrs = json.loads(next(line for line in stdout.splitlines() if line.startswith("LRS "))[4:])
    pick = zero_config_schedule(6, 1e-3)
    want = [1e-3 * closed_form(s, 2, 6, pick["phi"], pick["min_lr_ratio"]) for s in range(6)]
    assert lrs == pytest.approx(want, rel=1e-12)
