"""What sets the best phi (issue 27): the study's setups (``plan``), its report (``report``, ``rule_picks``), its
command (``run.py``) and its noise-scale measurement (``noise_scale.py``). Imported as ``phi_factors`` with
``benchmarks/`` on ``sys.path``; it runs on the engine, ``uba_bench``."""
