"""The console scripts' usage texts. This module imports nothing, so ``--help`` costs no import of torch or
Transformers, and the library (``uba_hf.run``, ``uba_hf.pretrain.cli``) uses the same texts without importing
the console scripts' entry points.

``PRETRAIN_HELP`` is ``uba-pretrain --help``: the job's own options, one line each, and the Transformers
options most runs set. It depends on no Transformers version. ``uba-pretrain --help-all`` renders the full parser
live (every option with its default, and every ``TrainingArguments`` field of the installed Transformers).
``tests/pretrain/test_cli_usability.py`` checks that this text names every option of the job and only real ones.
"""

RUN_PROG = "uba-run"
RUN_USAGE = f"""usage: python -m uba_hf.run (or {RUN_PROG}) TARGET [ARGS...]

TARGET is one of
  SCRIPT.py            a Python file (or a directory with __main__.py), run as __main__
  -m MODULE            a module, run like `python -m MODULE`
  NAME                 an installed console script (`{RUN_PROG} trl sft ...`, `{RUN_PROG} llamafactory-cli train \
cfg.yaml`)

Registers the "uba" scheduler type first, so `--lr_scheduler_type uba --lr_scheduler_kwargs '{{"phi": 1.0}}'`
works in any HfArgumentParser script. UBA arguments and a --deepspeed config are checked before the
target runs. --local_rank=N / --local-rank N given before TARGET (by a launcher) is passed on to it."""

HELP_FLAGS = ("-h", "--help")
HELP_ALL_FLAG = "--help-all"
PRETRAIN_USAGE = "uba-pretrain [RECIPE.yaml] [--key value ...]"
PRETRAIN_DESCRIPTION = """\
Pretrain an OLMo-2 style decoder from scratch with the UBA learning-rate schedule.

positional arguments:
  RECIPE.yaml   optional YAML recipe (e.g. recipes/pretrain/tiny.yaml, the CPU default) whose keys are
                the --options below; --key value flags after it override the recipe. A shipped recipe
                can be named instead of a path: tiny, olmo2-20m, ..., olmo2-7b.

The job's own options come first (model, data, UBA schedule, run), then Transformers' TrainingArguments.
Example: uba-pretrain tiny --max_steps 50 --output_dir out/x"""
PRETRAIN_NO_ARGUMENTS = (
    f"usage: {PRETRAIN_USAGE}\n"
    "uba-pretrain: no arguments. Try `uba-pretrain tiny` (the CPU default run) or `uba-pretrain --help`."
)
PRETRAIN_HELP = f"""usage: {PRETRAIN_USAGE}

{PRETRAIN_DESCRIPTION}

`uba-pretrain --help-all` describes every option with its default, and lists every TrainingArguments field
of the installed Transformers. Dashed spellings (--max-steps) work too.

options:
  -h, --help                   this help; {HELP_ALL_FLAG}: every option, with defaults

model (ModelArguments):
  --model_preset NAME          OLMo-2 preset: tiny (default), olmo2-20m, olmo2-60m, olmo2-150m, olmo2-300m,
                               olmo2-1b, olmo2-7b
  --model_name_or_path PATH    hub name or local path of a model to continue training (overrides the preset)
  --config_overrides JSON      Olmo2Config fields to override, e.g. '{{"num_hidden_layers": 2}}'
  --trust_remote_code          allow hub code execution (off by default)
  --attn_implementation NAME   sdpa, eager, flex_attention, flash_attention_2 (default: Transformers' choice)

data (DataArguments):
  --dataset_name NAME          'embedded:stdlib' (default: the Python standard library's sources), a local
                               .txt/.jsonl/.json/.parquet/.csv file or folder, or a hub dataset name
  --train_file FILE            a local training file, as in run_clm.py (instead of --dataset_name)
  --validation_file FILE       a local validation file (default: hold out --validation_fraction)
  --text_sample_by HOW         one .txt document: auto (default), paragraph, line or document
  --dataset_config_name NAME   hub dataset config name
  --train_split NAME           split to train on (default: train)
  --validation_split NAME      split to validate on (default: 'validation' if it exists)
  --validation_fraction X      documents held out when there is no validation split (default: 0.05)
  --text_column NAME           column that holds the text (default: text)
  --streaming                  stream the corpus (needs a budget: --max_steps, --max_tokens or --tokens_per_param)
  --block_size N               tokens per training block (default: 256)
  --max_eval_blocks N          cap on validation blocks
  --tokenizer_name NAME        hub name or local path of a tokenizer (default: train a byte-level BPE)
  --vocab_size N               vocabulary of the trained BPE (default: 8192)
  --preprocessing_num_workers N  tokenization processes (default: CPUs, at most 8)
  --split_seed N               seed of the train/validation split (default: 0)
  --document_attention         attend within documents only (default: across documents)

UBA schedule (UBAArguments):
  --phi PHI                    shape, a number > 0 (2 = cosine; < 2 keeps the LR high longer). Not given (or
                               'auto'): picked from the run's peak LR x updates, logged (docs/phi.md)
  --min_lr_ratio X             final LR as a fraction of the peak, in [0, 1). Not given: picked with phi
  --rebudget                   resume on another budget: continue from the LR reached, decay to the new end

run (RunArguments):
  --max_tokens N               budget in training tokens (instead of --max_steps)
  --tokens_per_param X         budget in tokens per non-embedding parameter (20 = Chinchilla)
  --overwrite_output_dir       allow writing into an output_dir that already holds a run
  --peak_flops X               peak FLOP/s per device, for MFU (default: known GPUs' dense bf16 peak)

Transformers TrainingArguments:
  --output_dir DIR  --max_steps N  --learning_rate LR  --warmup_steps N  --per_device_train_batch_size N
  --gradient_accumulation_steps N  --eval_steps N  --save_steps N  --logging_steps N  --seed N  --bf16
  --resume_from_checkpoint PATH|latest  --report_to tensorboard  --deepspeed CONFIG.json  ...
  (every field: uba-pretrain {HELP_ALL_FLAG})
"""
