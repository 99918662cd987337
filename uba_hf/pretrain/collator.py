"""How packed blocks become a batch: stacked as they are, or with attention kept within each document.

With ``--document_attention`` the position ids restart after every EOS; Transformers reads the restarts as packed
sequences (``masking_utils.find_packed_sequence_indices``) and masks attention per document for sdpa, eager and
flex attention. FlashAttention takes no mask: its variable-length path needs the batch as one row, so the
blocks are flattened (as Transformers' ``DataCollatorWithFlattening`` does), each kept apart from the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import default_data_collator

from .data import DataArguments


def document_position_ids(input_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Position ids that restart at 0 at the start of each row and after every EOS (the token after an EOS
    opens a new document); Transformers reads restarts as packed sequences (``find_packed_sequence_indices``)."""
    index = torch.arange(input_ids.shape[-1], device=input_ids.device).expand_as(input_ids)
    starts = torch.zeros_like(input_ids, dtype=torch.bool)
    starts[..., 1:] = input_ids[..., :-1] == eos_id
    return index - torch.where(starts, index, 0).cummax(dim=-1).values


@dataclass
class BlockCollator:
    """Stacks packed blocks (``default_data_collator``); with ``document_attention`` it adds position ids that
    restart per document, and with ``flatten`` (FlashAttention's variable-length path, as Transformers'
    ``DataCollatorWithFlattening``) joins the batch into one row whose blocks are separate sequences, each
    block's first label ignored so that the loss is the unflattened one."""

    eos_id: int
    document_attention: bool = False
    flatten: bool = False

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = default_data_collator(features)
        if not self.document_attention:
            return batch
        batch["position_ids"] = document_position_ids(batch["input_ids"], self.eos_id)
        batch["use_cache"] = False  # Transformers looks for packed sequences only when no KV cache is built
        if self.flatten:
            labels = batch["labels"].clone()
            labels[:, 0] = -100  # the previous block's last token must not predict this block's first
            batch.update(
                input_ids=batch["input_ids"].reshape(1, -1),
                labels=labels.reshape(1, -1),
                position_ids=batch["position_ids"].reshape(1, -1),
            )
        return batch


def block_collator(args: DataArguments, eos_id: int, attn_implementation: str | None) -> BlockCollator:
    """The collator for ``args``; flattened only for the FlashAttention kernels (the others take a mask)."""
    flash = bool(attn_implementation) and "flash" in attn_implementation
    return BlockCollator(eos_id, args.document_attention, flatten=args.document_attention and flash)
