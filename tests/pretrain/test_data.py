"""Corpus, tokenizer and packing: exact packing, disjoint splits, streaming == map-style, cache reuse, attention
within documents."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_olmo2

from uba_hf.pretrain.collator import BlockCollator, block_collator
from uba_hf.pretrain.data import (
    DataArguments,
    embedded_corpus,
    get_tokenizer,
    load_corpus,
    pack_blocks,
    publish_cached_tokenizer,
    stdlib_source_files,
    tokenize_and_pack,
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("uba_cache")


@pytest.fixture
def small_corpus_dir(tmp_path):
    """A few real stdlib files as a local .txt folder (small, real text)."""
    folder = tmp_path / "txt"
    folder.mkdir()
    for path in stdlib_source_files()[:12]:
        (folder / (path.stem + ".txt")).write_text(path.read_text(encoding="utf-8"))
    return folder


def test_pack_blocks_is_exact():
    docs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9], [10, 11]]
    eos = 0
    blocks = list(pack_blocks(docs, 4, eos))
    stream = [t for d in docs for t in (*d, eos)]
    assert all(len(b) == 4 for b in blocks)
    assert [t for b in blocks for t in b] == stream[: len(blocks) * 4]
    assert len(stream) - len(blocks) * 4 < 4  # only the final partial block is dropped
    assert blocks[0] == [1, 2, 3, eos]  # EOS between documents


def test_embedded_corpus_split_by_file_disjoint_and_seeded():
    a = embedded_corpus(0.05, seed=0)
    b = embedded_corpus(0.05, seed=0)
    c = embedded_corpus(0.05, seed=1)
    train, val = set(a["train"]["path"]), set(a["validation"]["path"])
    assert train and val and not train & val
    assert len(train) + len(val) == len(stdlib_source_files())
    assert val == set(b["validation"]["path"]) and val != set(c["validation"]["path"])


def test_tokenizer_trained_cached_and_reused(small_corpus_dir, tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("UBA_HF_CACHE", str(cache_dir / "fresh"))
    args = DataArguments(dataset_name=str(small_corpus_dir), vocab_size=500, block_size=32)
    corpus = load_corpus(args)
    first = get_tokenizer(args, corpus, output_dir=str(tmp_path / "o1"))
    second = get_tokenizer(args, corpus, output_dir=str(tmp_path / "o2"))
    assert first.trained_now and not second.trained_now
    assert len(first) == len(second) == 500
    text = corpus["validation"][0]["text"][:300]
    assert first(text)["input_ids"] == second(text)["input_ids"]
    assert first.decode(first(text)["input_ids"]) == text  # byte-level BPE round-trips
    assert (tmp_path / "o2" / "tokenizer" / "tokenizer.json").is_file()
    assert first.eos_token == "<|endoftext|>"


def test_a_tokenizer_another_rank_cached_meanwhile_is_kept(small_corpus_dir, tmp_path, monkeypatch):
    """Two ranks train the same tokenizer at once and both find no cached copy; the second to publish finds the
    first's in place: it keeps that one and drops its own (it failed with ENOTEMPTY, and that rank exited 1)."""
    monkeypatch.setenv("UBA_HF_CACHE", str(tmp_path / "cache"))
    args = DataArguments(dataset_name=str(small_corpus_dir), vocab_size=500, block_size=32)
    first = get_tokenizer(args, load_corpus(args))  # the first rank's copy, now in the cache
    [cached] = (tmp_path / "cache" / "tokenizers").iterdir()
    before = (cached / "tokenizer.json").read_bytes()
    second = cached.with_name(cached.name + ".tmp2")  # the other rank's freshly saved copy
    first.save_pretrained(str(second))
    publish_cached_tokenizer(second, cached)
    assert not second.exists() and (cached / "tokenizer.json").read_bytes() == before
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]
    (cached / "tokenizer.json").unlink()  # a folder there without a tokenizer is not a copy to keep: say so
    first.save_pretrained(str(second))
    with pytest.raises(OSError):
        publish_cached_tokenizer(second, cached)


def test_packed_blocks_cover_the_tokenized_split_exactly(small_corpus_dir, monkeypatch, cache_dir):
    monkeypatch.setenv("UBA_HF_CACHE", str(cache_dir))
    args = DataArguments(dataset_name=str(small_corpus_dir), vocab_size=500, block_size=64)
    corpus = load_corpus(args)
    tok = get_tokenizer(args, corpus)
    blocks = tokenize_and_pack(corpus["train"], tok, args)
    stream = []
    for text in corpus["train"]["text"]:
        stream += tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    table = blocks[:]
    flat = table["input_ids"].flatten().tolist()
    assert flat == stream[: len(flat)] and len(stream) - len(flat) < 64
    assert (table["labels"] == table["input_ids"]).all()
    val = tokenize_and_pack(corpus["validation"], tok, args)
    assert val[:]["input_ids"].shape[1] == 64


def test_streaming_gives_the_same_first_blocks(small_corpus_dir, monkeypatch, cache_dir):
    monkeypatch.setenv("UBA_HF_CACHE", str(cache_dir))
    args = DataArguments(dataset_name=str(small_corpus_dir), vocab_size=500, block_size=64)
    s_args = DataArguments(dataset_name=str(small_corpus_dir), vocab_size=500, block_size=64, streaming=True)
    tok = get_tokenizer(args, load_corpus(args))
    # Same documents on both sides: use the embedded-style explicit split of the map-style corpus.
    mapped = load_corpus(args)["train"]
    streamed = mapped.to_iterable_dataset()
    a = tokenize_and_pack(mapped, tok, args)
    b = list(tokenize_and_pack(streamed, tok, s_args))
    assert len(b) == len(a)
    for i in range(5):
        assert [int(t) for t in a[i]["input_ids"]] == list(b[i]["input_ids"])


def test_jsonl_and_parquet_sources_with_text_column(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("UBA_HF_CACHE", str(cache_dir))
    texts = [p.read_text(encoding="utf-8") for p in stdlib_source_files()[:6]]
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text("\n".join(json.dumps({"body": t, "id": i}) for i, t in enumerate(texts)))
    corpus = load_corpus(DataArguments(dataset_name=str(jsonl), text_column="body"))
    assert len(corpus["train"]) + len(corpus["validation"]) == 6
    import datasets

    pq = tmp_path / "c.parquet"
    datasets.Dataset.from_dict({"content": texts}).to_parquet(str(pq))
    corpus = load_corpus(DataArguments(dataset_name=str(pq), text_column="content"))
    assert sorted(list(corpus["train"]["content"]) + list(corpus["validation"]["content"])) == sorted(texts)


@pytest.mark.parametrize(
    "setup,kwargs,match",
    [
        ("missing", {}, "no such file or folder"),
        ("empty", {}, "Empty data file"),
        ("jsonl", {"text_column": "body"}, "`text_column` 'body' is not a column.*\\['text'\\]"),
        ("emptydir", {}, "No .txt/.jsonl/.json/.parquet/.csv files"),
        ("latin1", {}, r"latin1.txt' is not UTF-8 text \(invalid byte at offset 3\)"),
    ],
)
def test_data_errors(tmp_path, setup, kwargs, match):
    if setup == "missing":
        name = str(tmp_path / "nope.txt")
    elif setup == "empty":
        (tmp_path / "e.txt").write_text("")
        name = str(tmp_path / "e.txt")
    elif setup == "jsonl":
        (tmp_path / "d.jsonl").write_text('{"text": "a b c"}\n{"text": "d e f"}\n{"text": "g h"}\n')
        name = str(tmp_path / "d.jsonl")
    elif setup == "latin1":
        (tmp_path / "latin1.txt").write_bytes("caf\u00e9 au lait".encode("latin-1") * 2)
        name = str(tmp_path / "latin1.txt")
    else:
        (tmp_path / "d").mkdir()
        name = str(tmp_path / "d")
    with pytest.raises(ValueError, match=match):
        load_corpus(DataArguments(dataset_name=name, **kwargs))


def test_corpus_too_small_for_one_block(tmp_path, monkeypatch, cache_dir):
    monkeypatch.setenv("UBA_HF_CACHE", str(cache_dir))
    folder = tmp_path / "small"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.txt").write_text(f"tiny document number {i}")
    args = DataArguments(dataset_name=str(folder), vocab_size=300, block_size=512)
    corpus = load_corpus(args)
    tok = get_tokenizer(args, corpus)
    with pytest.raises(ValueError, match=r"too small for one block: \d+ tokens < --block_size 512"):
        tokenize_and_pack(corpus["train"], tok, args)


def test_tokenizer_without_eos_is_rejected(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(str(tmp_path / "tok"))
    with pytest.raises(ValueError, match="has no EOS token"):
        get_tokenizer(DataArguments(tokenizer_name=str(tmp_path / "tok")), corpus=None)


# ------------------------------------------------------------------------ run_clm-style --train_file


def _paragraphs(n: int) -> list[str]:
    """``n`` real, distinct multi-line paragraphs (stdlib function bodies)."""
    out: list[str] = []
    for path in stdlib_source_files():
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            if block.strip() and block not in out and "\n" in block.strip():
                out.append(block.strip("\n"))
                if len(out) == n:
                    return out
    raise AssertionError("not enough paragraphs")


def test_single_txt_file_is_read_as_paragraphs_and_split_by_document(tmp_path):
    paragraphs = _paragraphs(40)
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n\n".join(paragraphs) + "\n\n\n\n", encoding="utf-8")  # trailing blank lines: no document
    for source in (dict(train_file=str(corpus_file)), dict(dataset_name=str(corpus_file))):
        corpus = load_corpus(DataArguments(**source, validation_fraction=0.1))
        train, val = list(corpus["train"]["text"]), list(corpus["validation"]["text"])
        assert len(val) == 4 and len(train) == 36
        # Whole paragraphs (line breaks inside kept), each in exactly one split.
        assert sorted(train + val) == sorted(paragraphs) and not set(train) & set(val)


def test_txt_sample_by_line_and_document(tmp_path):
    paragraphs = _paragraphs(5)
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("\n\n".join(paragraphs), encoding="utf-8")
    lines = [line for p in paragraphs for line in p.split("\n") if line.strip()]
    corpus = load_corpus(DataArguments(train_file=str(corpus_file), text_sample_by="line"))
    assert sorted(list(corpus["train"]["text"]) + list(corpus["validation"]["text"])) == sorted(lines)
    with pytest.raises(ValueError, match=r"1 document\(s\).*Pass --validation_file.*--text_sample_by paragraph"):
        load_corpus(DataArguments(train_file=str(corpus_file), text_sample_by="document"))


@pytest.mark.parametrize("kind", ["txt", "json", "jsonl", "parquet", "csv"])
def test_train_and_validation_files_of_every_type(tmp_path, kind):
    import datasets

    train_texts, val_texts = _paragraphs(8)[:6], _paragraphs(8)[6:]
    paths = {}
    for split, texts in (("train", train_texts), ("validation", val_texts)):
        path = tmp_path / f"{split}.{kind}"
        if kind == "txt":
            path.write_text("\n\n".join(texts), encoding="utf-8")
        elif kind == "jsonl":
            path.write_text("\n".join(json.dumps({"text": t}) for t in texts), encoding="utf-8")
        else:
            dataset = datasets.Dataset.from_dict({"text": texts})
            {"json": dataset.to_json, "parquet": dataset.to_parquet, "csv": dataset.to_csv}[kind](str(path))
        paths[split] = str(path)
    corpus = load_corpus(DataArguments(train_file=paths["train"], validation_file=paths["validation"]))
    assert list(corpus["train"]["text"]) == train_texts and list(corpus["validation"]["text"]) == val_texts


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(validation_file="v.txt"), "--validation_file needs --train_file"),
        (dict(train_file="t.txt", dataset_name="some/hub"), "Give --train_file or --dataset_name, not both"),
        (dict(text_sample_by="sentence"), "`text_sample_by` must be one of"),
    ],
)
def test_data_option_conflicts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataArguments(**kwargs)


def test_mixed_train_and_validation_types_and_missing_file(tmp_path):
    (tmp_path / "t.txt").write_text("a\n\nb\n")
    (tmp_path / "v.jsonl").write_text('{"text": "c"}\n')
    with pytest.raises(ValueError, match="different types"):
        load_corpus(DataArguments(train_file=str(tmp_path / "t.txt"), validation_file=str(tmp_path / "v.jsonl")))
    with pytest.raises(ValueError, match="--validation_file .*no such file"):
        load_corpus(DataArguments(train_file=str(tmp_path / "t.txt"), validation_file=str(tmp_path / "v.txt")))


def test_hub_name_offline_without_cache_is_one_clear_error():
    # tests run with HF_HUB_OFFLINE=1 (conftest): no retries, no traceback, one actionable line
    with pytest.raises(ValueError, match="no copy is cached for offline use.*--train_file"):
        load_corpus(DataArguments(dataset_name="someone/unknown-corpus"))


# --------------------------------------------------------------------------------- document attention


def _two_document_batch(eos: int = 2):
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(3, 64, (5,), generator=g), torch.randint(3, 64, (7,), generator=g)
    block = torch.cat([a, torch.tensor([eos]), b, torch.tensor([eos]), a[:3]])
    return b, [{"input_ids": block, "labels": block}, {"input_ids": block.flip(0), "labels": block.flip(0)}]


def test_document_position_ids_restart_after_every_eos():
    _, features = _two_document_batch()
    batch = BlockCollator(eos_id=2, document_attention=True)(features)
    assert batch["position_ids"][0].tolist() == [*range(6), *range(8), *range(3)]
    assert BlockCollator(eos_id=2)(features).keys() == {"input_ids", "labels"}  # off: the stock collation


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_document_attention_sees_only_its_own_document(attn):
    """With the collator's position ids, the second document's logits inside a packed block equal that
    document run alone; without them the block attends across the EOS and they differ."""
    model = tiny_olmo2(attn_implementation=attn).eval()
    doc, features = _two_document_batch()
    batch = BlockCollator(eos_id=2, document_attention=True)(features)
    with torch.no_grad():
        alone = model(input_ids=doc[None], use_cache=False).logits[0]
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        across = model(input_ids=batch["input_ids"], use_cache=False).logits[0]
    assert torch.allclose(packed[6:13], alone, atol=1e-5)
    assert (across[6:13] - alone).abs().max() > 1e-2


def test_flattened_batch_for_flash_attention_gives_the_same_loss():
    """FlashAttention's variable-length path needs one row: the flattened batch (blocks kept apart, each
    block's first label ignored) has the loss of the unflattened one, checked here with SDPA's mask."""
    model = tiny_olmo2().eval()
    _, features = _two_document_batch()
    rows = BlockCollator(eos_id=2, document_attention=True)(features)
    flat = BlockCollator(eos_id=2, document_attention=True, flatten=True)(features)
    assert flat["input_ids"].shape == (1, 34) and flat["position_ids"][0, 17] == 0
    with torch.no_grad():
        assert model(**flat).loss.item() == pytest.approx(model(**rows).loss.item(), abs=1e-6)
    assert block_collator(DataArguments(document_attention=True), 2, "flash_attention_2").flatten
    assert not block_collator(DataArguments(document_attention=True), 2, "sdpa").flatten
