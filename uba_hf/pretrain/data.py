"""Corpus loading, tokenizer training and packing into fixed-length blocks, built on ``datasets``.

Sources: ``--train_file`` / ``--validation_file`` (as in Transformers' ``run_clm.py``), a hub dataset
name (+ config), local ``.txt`` / ``.jsonl`` / ``.json`` / ``.parquet`` / ``.csv`` files or folders, or
the embedded default: the Python standard library's own source files of the running interpreter
(real text on every machine that has Python, no download), split by file.

What a document is in a ``.txt`` file (``--text_sample_by``): by default a *single* file is read as
blank-line separated paragraphs and a *folder* of files as one document per file. Paragraphs rather
than lines because packing puts EOS after every document: line by line, the model would learn to end
the text after every line, and code or prose would be cut mid-function or mid-paragraph; and rather
than the whole file because one document cannot be split into training and validation text. With no
validation split, documents (not blocks) are held out, so no text is in both.

Packing is one pass over the documents with a carry-over buffer (``pack_blocks``): every document is
followed by EOS, blocks are cut from the concatenation, and only the final partial block is dropped.
The same generator serves map-style and streaming datasets, so both give the same blocks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import shutil
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from ..errors import UBAConfigError

logger = logging.getLogger("uba_hf")

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
EMBEDDED_CORPUS = "embedded:stdlib"
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "__pycache__", "lib2to3", "turtledemo"}
_BUILDERS = {".txt": "text", ".text": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
TEXT_SAMPLE_BY = ("auto", "paragraph", "line", "document")


@dataclass
class DataArguments:
    """Where the text comes from and how it becomes training blocks."""

    _argument_group_name = "data (DataArguments)"

    dataset_name: str = field(
        default=EMBEDDED_CORPUS,
        metadata={
            "help": f"'{EMBEDDED_CORPUS}' (the running Python's standard library sources, no download), a local "
            ".txt/.jsonl/.json/.parquet/.csv file or folder, or a hub dataset name."
        },
    )
    train_file: str | None = field(
        default=None,
        metadata={
            "help": "A local .txt/.json/.jsonl/.parquet/.csv training file, as in run_clm.py (instead of "
            "--dataset_name)."
        },
    )
    validation_file: str | None = field(
        default=None,
        metadata={
            "help": "A local validation file of the same type; default: hold out --validation_fraction of "
            "the training documents."
        },
    )
    text_sample_by: str = field(
        default="auto",
        metadata={
            "help": "What one document of a .txt file is: 'paragraph' (blank-line separated), 'line' or 'document' "
            "(the whole file). 'auto': paragraphs for a single file, one document per file for a folder."
        },
    )
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset config name."})
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    validation_split: str | None = field(
        default=None,
        metadata={"help": "Split to validate on; default: 'validation' if it exists, else a held-out fraction."},
    )
    validation_fraction: float = field(
        default=0.05, metadata={"help": "Documents held out for validation when there is no validation split."}
    )
    text_column: str = field(default="text", metadata={"help": "Column that holds the text."})
    streaming: bool = field(default=False, metadata={"help": "Stream the corpus (requires --max_steps)."})
    block_size: int = field(default=256, metadata={"help": "Tokens per training block."})
    max_eval_blocks: int | None = field(default=None, metadata={"help": "Cap on validation blocks."})
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Hub name or local path of a tokenizer; default: train a byte-level BPE on the corpus."},
    )
    vocab_size: int = field(default=8192, metadata={"help": "Vocabulary size of the trained byte-level BPE."})
    preprocessing_num_workers: int | None = field(
        default=None, metadata={"help": "Processes for tokenization (default: number of CPUs, at most 8)."}
    )
    split_seed: int = field(default=0, metadata={"help": "Seed of the train/validation split by document."})
    document_attention: bool = field(
        default=False,
        metadata={
            "help": "Attend within documents only: position ids restart after every EOS in a block, so Transformers "
            "builds a per-document causal mask (sdpa, eager, flex) or, for flash_attention_2/3, the batch is "
            "flattened to one row for the variable-length kernel. Off: blocks attend across documents."
        },
    )

    def __post_init__(self) -> None:
        if self.text_sample_by not in TEXT_SAMPLE_BY:
            raise UBAConfigError(f"`text_sample_by` must be one of {TEXT_SAMPLE_BY}; got {self.text_sample_by!r}.")
        if self.validation_file and not self.train_file:
            raise UBAConfigError(
                "--validation_file needs --train_file (or use --dataset_name with a validation split)."
            )
        if self.train_file and self.dataset_name != EMBEDDED_CORPUS:
            raise UBAConfigError(
                f"Give --train_file or --dataset_name, not both (got {self.train_file!r} and {self.dataset_name!r})."
            )
        if self.block_size < 2:
            raise UBAConfigError(f"`block_size` must be >= 2 tokens; got {self.block_size}.")
        if not 0.0 < self.validation_fraction < 1.0:
            raise UBAConfigError(f"`validation_fraction` must be in (0, 1); got {self.validation_fraction}.")
        if self.vocab_size < 300:
            raise UBAConfigError(f"`vocab_size` must be >= 300 (256 bytes + merges); got {self.vocab_size}.")


# --------------------------------------------------------------------------------------------- corpus


def stdlib_source_files() -> list[Path]:
    """The running interpreter's standard-library ``.py`` files, sorted (tests and vendored code skipped)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py") if not _SKIP_DIRS.intersection(p.relative_to(root).parts)]
    return sorted(files)


def embedded_corpus(validation_fraction: float = 0.05, seed: int = 0) -> DatasetDict:
    """The embedded default corpus, split into train and validation *by file* with a fixed seed."""
    files = stdlib_source_files()
    if not files:
        raise UBAConfigError("The embedded corpus is empty: no standard-library sources found next to this Python.")
    rng = random.Random(seed)
    order = list(range(len(files)))
    rng.shuffle(order)
    n_val = max(1, round(len(files) * validation_fraction))
    val_idx, train_idx = set(order[:n_val]), order[n_val:]

    def rows(indices: Iterable[int]) -> dict[str, list[str]]:
        paths = [files[i] for i in sorted(indices)]
        return {
            "text": [p.read_text(encoding="utf-8", errors="replace") for p in paths],
            "path": [str(p) for p in paths],
        }

    return DatasetDict(train=Dataset.from_dict(rows(train_idx)), validation=Dataset.from_dict(rows(val_idx)))


def _local_files(path: Path) -> tuple[str, list[str]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _BUILDERS)
    if not files:
        raise UBAConfigError(f"No .txt/.jsonl/.json/.parquet/.csv files under {str(path)!r}.")
    builders = {_BUILDERS.get(p.suffix) for p in files}
    if None in builders:
        raise UBAConfigError(f"Unsupported file type {files[0].suffix!r} of {str(path)!r}; use {sorted(_BUILDERS)}.")
    if len(builders) > 1:
        raise UBAConfigError(f"{str(path)!r} mixes file types {sorted(builders)}; use one kind.")
    empty = [str(p) for p in files if p.stat().st_size == 0]
    if empty:
        raise UBAConfigError(f"Empty data file(s): {empty[:3]}.")
    builder = builders.pop()
    if builder in ("text", "json"):
        for p in files:
            _check_utf8(p)
    return builder, [str(p) for p in files]


def _check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Fail with the file name and byte offset instead of a bare codec error deep inside ``datasets``."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                raise UBAConfigError(
                    f"{str(path)!r} is not UTF-8 text (invalid byte at offset {offset + err.start}); "
                    "re-encode it as UTF-8 (e.g. `iconv -t utf-8`)."
                ) from None
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise UBAConfigError(
                f"{str(path)!r} is not UTF-8 text (truncated multi-byte character at the end)."
            ) from None


def load_corpus(args: DataArguments) -> DatasetDict | IterableDatasetDict:
    """Load the corpus as ``{"train", "validation"}`` with the text in ``args.text_column``."""
    if args.dataset_name == EMBEDDED_CORPUS and not args.train_file:
        corpus = embedded_corpus(args.validation_fraction, args.split_seed)
        if args.streaming:
            corpus = IterableDatasetDict({k: v.to_iterable_dataset() for k, v in corpus.items()})
        return _check_text_column(corpus, "text" if args.text_column == "text" else args.text_column)

    if args.train_file:
        raw = _load_local({"train": args.train_file, "validation": args.validation_file}, args)
        args = dataclasses.replace(args, train_split="train")
    elif (path := Path(args.dataset_name).expanduser()).exists():
        raw = _load_local({"train": str(path)}, args)
    elif args.dataset_name.startswith((".", "/", "~")) or Path(args.dataset_name).suffix in _BUILDERS:
        raise UBAConfigError(f"`dataset_name` {args.dataset_name!r}: no such file or folder.")
    else:
        raw = _load_hub_dataset(args)

    if args.train_split not in raw:
        raise UBAConfigError(f"`train_split` {args.train_split!r} not in the dataset's splits {list(raw)}.")
    val_name = args.validation_split or ("validation" if "validation" in raw else None)
    if val_name is not None and val_name not in raw:
        raise UBAConfigError(f"`validation_split` {val_name!r} not in the dataset's splits {list(raw)}.")
    train = raw[args.train_split]
    if val_name is not None:
        corpus = {"train": train, "validation": raw[val_name]}
    elif isinstance(train, IterableDataset):
        # Deterministic held-out prefix: every 1/fraction-th document goes to validation.
        every = max(2, round(1 / args.validation_fraction))
        corpus = {
            "train": train.filter(lambda _, i: i % every != 0, with_indices=True),
            "validation": train.filter(lambda _, i: i % every == 0, with_indices=True),
        }
    else:
        if len(train) < 2:
            raise UBAConfigError(
                f"The corpus has {len(train)} document(s); need at least 2 to hold out validation by document. "
                "Pass --validation_file, or give more documents (a .txt file: --text_sample_by paragraph or line)."
            )
        split = train.train_test_split(test_size=args.validation_fraction, seed=args.split_seed, shuffle=True)
        corpus = {"train": split["train"], "validation": split["test"]}
    kind = IterableDatasetDict if isinstance(train, IterableDataset) else DatasetDict
    return _check_text_column(kind(corpus), args.text_column)


def _load_local(split_paths: dict[str, str | None], args: DataArguments):
    """Local files (one file or folder per split, all of one type) through the matching ``datasets`` builder."""
    data_files, builders, single_file = {}, set(), True
    for split, name in split_paths.items():
        if name is None:
            continue
        path = Path(name).expanduser()
        if not path.exists():
            raise UBAConfigError(f"--{split}_file {name!r}: no such file or folder.")
        builder, files = _local_files(path)
        builders.add(builder)
        data_files[split] = files
        single_file = single_file and path.is_file()
    if len(builders) > 1:
        raise UBAConfigError(f"Training and validation files are of different types {sorted(builders)}; use one kind.")
    builder = builders.pop()
    kwargs = {}
    if builder == "text":
        sample_by = args.text_sample_by
        if sample_by == "auto":
            sample_by = "paragraph" if single_file else "document"
        logger.info(
            "Reading .txt as one document per %s (--text_sample_by)", "file" if sample_by == "document" else sample_by
        )
        kwargs = {"sample_by": sample_by}
    raw = datasets.load_dataset(builder, data_files=data_files, streaming=args.streaming, **kwargs)
    if builder == "text" and kwargs["sample_by"] != "document":  # blank lines are not documents
        raw = type(raw)({k: v.filter(lambda row: bool(row["text"].strip())) for k, v in raw.items()})
    return raw


def _hub_reachable(endpoint: str, timeout: float = 3.0) -> bool:
    import socket
    from urllib.parse import urlparse

    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


def _load_hub_dataset(args: DataArguments):
    """A hub dataset, or one line that says why not: offline without a cached copy, or the hub unreachable
    (checked in 3 s, instead of ``datasets`` retrying for ~25 s and printing each warning twice)."""
    from huggingface_hub import constants

    name = args.dataset_name
    offline = constants.HF_HUB_OFFLINE or datasets.config.HF_HUB_OFFLINE
    if not offline and not _hub_reachable(constants.ENDPOINT):
        raise UBAConfigError(
            f"--dataset_name {name!r} is not a local file or folder, and the hub ({constants.ENDPOINT}) is "
            "unreachable. Pass local data (--train_file), or set HF_HUB_OFFLINE=1 to use a cached copy."
        )
    try:
        return datasets.load_dataset(name, args.dataset_config_name, streaming=args.streaming)
    except ConnectionError:
        if not offline:
            raise
        raise UBAConfigError(
            f"--dataset_name {name!r} is not a local file or folder, and no copy is cached for offline use "
            "(HF_HUB_OFFLINE=1). Download it once online, or pass local data (--train_file)."
        ) from None


def _check_text_column(corpus, column: str):
    for name, split in corpus.items():
        columns = split.column_names
        if columns is not None and column not in columns:
            raise UBAConfigError(f"`text_column` {column!r} is not a column of the {name} split; columns: {columns}.")
    return corpus


# --------------------------------------------------------------------------------------------- tokenizer


def default_cache_dir() -> Path:
    return Path(os.environ.get("UBA_HF_CACHE", Path.home() / ".cache" / "uba_hf"))


def _texts(split, column: str, limit_chars: int) -> Iterator[str]:
    seen = 0
    for row in split:
        text = row[column]
        if text:
            yield text
            seen += len(text)
            if seen >= limit_chars:
                return


def _corpus_key(split, column: str, vocab_size: int, limit_chars: int) -> str:
    h = hashlib.sha256(f"bpe-v1|{vocab_size}|{limit_chars}|".encode())
    for text in _texts(split, column, limit_chars):
        h.update(hashlib.sha256(text.encode("utf-8", "replace")).digest())
    return h.hexdigest()[:16]


def train_bpe_tokenizer(split, column: str, vocab_size: int, limit_chars: int = 200_000_000):
    """A byte-level BPE (GPT-2 style) trained on the training split, wrapped as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_texts(split, column, limit_chars), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)


def get_tokenizer(args: DataArguments, corpus, output_dir: str | None = None, trust_remote_code: bool = False):
    """A hub/local tokenizer, or a BPE trained on ``corpus["train"]`` and cached by content.

    The trained tokenizer is cached under ``$UBA_HF_CACHE`` (default ``~/.cache/uba_hf``) keyed by a
    hash of the training texts and the vocabulary size, so a second run reuses it; it is also saved
    into ``output_dir/tokenizer``.
    """
    from transformers import AutoTokenizer

    if args.tokenizer_name:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_name, trust_remote_code=trust_remote_code)
    else:
        train = corpus["train"]
        key = _corpus_key(train, args.text_column, args.vocab_size, 200_000_000)
        cached = default_cache_dir() / "tokenizers" / key
        if (cached / "tokenizer.json").is_file():
            logger.info("Reusing cached tokenizer %s", cached)
            tokenizer = AutoTokenizer.from_pretrained(str(cached))
            tokenizer.trained_now = False
        else:
            logger.info("Training a byte-level BPE tokenizer (vocab %d) on the training split", args.vocab_size)
            tokenizer = train_bpe_tokenizer(train, args.text_column, args.vocab_size)
            tmp = cached.with_name(key + f".tmp{os.getpid()}")
            tokenizer.save_pretrained(str(tmp))
            publish_cached_tokenizer(tmp, cached)
            tokenizer.trained_now = True
    if tokenizer.eos_token_id is None:
        raise UBAConfigError(
            f"Tokenizer {args.tokenizer_name!r} has no EOS token, which packing needs between documents; "
            "pick a tokenizer with one (or leave --tokenizer_name unset to train one)."
        )
    if output_dir is not None:
        tokenizer.save_pretrained(os.path.join(output_dir, "tokenizer"))
    return tokenizer


def publish_cached_tokenizer(tmp: Path, cached: Path) -> None:
    """Move a freshly saved tokenizer into the cache; if another process (another rank) put one there first,
    keep that one. Checking before the rename is not enough: both can find no copy, and renaming a folder onto
    the other's (no longer empty) one fails with ``ENOTEMPTY``."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, cached)
    except OSError:
        if not (cached / "tokenizer.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------- packing


def pack_blocks(token_lists: Iterable[list[int]], block_size: int, eos_id: int) -> Iterator[list[int]]:
    """Concatenate ``doc + [eos]`` for every document and cut blocks of ``block_size`` tokens.

    Exact: the blocks, joined, equal the joined documents (each followed by EOS) up to the final
    partial block, which is dropped. No token is lost in between or duplicated.
    """
    buffer: list[int] = []
    for ids in token_lists:
        buffer.extend(ids)
        buffer.append(eos_id)
        start = 0
        while len(buffer) - start >= block_size:
            yield buffer[start : start + block_size]
            start += block_size
        del buffer[:start]


BLOCK_FEATURES = datasets.Features(
    {"input_ids": datasets.Sequence(datasets.Value("int64")), "labels": datasets.Sequence(datasets.Value("int64"))}
)


def _block_rows(tokenized, block_size: int, eos_id: int) -> Iterator[dict[str, list[int]]]:
    for block in pack_blocks((row["input_ids"] for row in tokenized), block_size, eos_id):
        yield {"input_ids": block, "labels": block}


def tokenize_and_pack(
    split, tokenizer, args: DataArguments, max_blocks: int | None = None
) -> Dataset | IterableDataset:
    """Tokenize ``split`` (``datasets.map``, multiprocess, cached) and pack it into blocks."""
    column = args.text_column
    remove = split.column_names or [column]

    def tokenize(batch: dict[str, list]) -> dict[str, list]:
        texts = [t if isinstance(t, str) else "" for t in batch[column]]
        return {"input_ids": tokenizer(texts, add_special_tokens=False)["input_ids"]}

    if isinstance(split, IterableDataset):
        tokenized = split.map(tokenize, batched=True, remove_columns=remove)
        blocks = IterableDataset.from_generator(
            _block_rows,
            gen_kwargs={"tokenized": tokenized, "block_size": args.block_size, "eos_id": tokenizer.eos_token_id},
        )
        return blocks.take(max_blocks) if max_blocks else blocks

    workers = args.preprocessing_num_workers or min(8, os.cpu_count() or 1)
    workers = max(1, min(workers, len(split)))
    tokenized = split.map(
        tokenize,
        batched=True,
        remove_columns=remove,
        num_proc=workers if workers > 1 else None,
        desc="Tokenizing",
    )
    fingerprint = hashlib.sha256(
        f"pack-v1|{tokenized._fingerprint}|{args.block_size}|{tokenizer.eos_token_id}".encode()
    ).hexdigest()[:16]
    try:
        blocks = Dataset.from_generator(
            _block_rows,
            gen_kwargs={"tokenized": tokenized, "block_size": args.block_size, "eos_id": tokenizer.eos_token_id},
            features=BLOCK_FEATURES,
            fingerprint=fingerprint,
        )
    except ValueError:  # datasets refuses a generator that yields nothing
        blocks = None
    if blocks is None or len(blocks) == 0:
        n_tokens = sum(len(ids) + 1 for ids in tokenized["input_ids"])
        raise UBAConfigError(
            f"The corpus is too small for one block: {n_tokens} tokens < --block_size {args.block_size}. "
            "Use more text or a smaller --block_size."
        )
    if max_blocks is not None and len(blocks) > max_blocks:
        blocks = blocks.select(range(max_blocks))
    return blocks.with_format("torch")
