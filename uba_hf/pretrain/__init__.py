"""The pretraining job: an OLMo-2 style decoder pretrained from scratch with UBA (extra ``[pretrain]``).

* ``cli``: the entry point (``uba-pretrain`` / ``scripts/pretrain.py``), readable top to bottom;
* ``data``: corpus loading, tokenizer training, packing into blocks (``datasets``, ``tokenizers``);
* ``models``: OLMo-2 presets, parameter and FLOP counting, known accelerator peaks for MFU;
* ``plotting``: the LR figure of a run (matplotlib).

It uses the library (``uba_hf``) and nothing in the library imports it.
"""
