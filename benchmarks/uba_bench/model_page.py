"""A model's page of the v2 report (``benchmarks/v2/sweep.md``, ``main-job.md``): per budget, every schedule at
its own best LR with seed spreads and paired per-seed gaps; UBA-default against the best baseline."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from .config import (
    AUTO,
    AUTO_NAMES,
    COSINE_MIN_LR_RATE,
    DEFAULT_NAME,
    FLOOR_SUFFIX,
    SCHEDULE_FREE,
    V2_DEFAULT_PHI,
    WSD_DECAY_FRACTION,
    SweepConfig,
    is_baseline,
    parse_uba_name,
)
from .grid import planned_cells
from .schedules import (
    cell_key,
    schedule_spec,
    spec_key,
    warmup_steps,
)
from .summary import Best, phi_of, summarize


def _fmt(b: Best | None) -> str:
    if b is None:
        return "n/a"
    return f"{b.mean:.4f} ± {b.std:.4f}"


def _fixed_phi(cfg: SweepConfig, row: dict[str, Best], *, floored: bool) -> list[Best]:
    """The fixed-phi UBA rows of a budget, without (``floored=False``) or with the 10% floor; the floored
    ones leave out ``cosine-min10``, which the best of them is compared with."""
    out = []
    for name in cfg.schedules:
        parsed = phi_of(name)
        if parsed is not None and bool(parsed[1]) == floored and name != "cosine-min10" and name in row:
            out.append(row[name])
    return out


def _baselines(cfg: SweepConfig, row: dict[str, Best]) -> list[Best]:
    """The non-UBA schedules of a budget's row (v1: ``BASELINES``; v2: ``BASELINES_V2``)."""
    return [row[n] for n in cfg.schedules if is_baseline(n) and n in row]


def _best(rows: Sequence[Best]) -> Best | None:
    return min(rows, key=lambda b: b.mean) if rows else None


def _gap_text(a: Best, b: Best) -> str:
    """``a - b`` in nats, compared with the seed spread, with per-seed (paired) gaps when both have them."""
    gap = a.mean - b.mean
    if min(a.n, b.n) < 2:
        return f"{gap:+.4f} nats (one seed: no spread to compare with)"
    noise = math.hypot(a.std, b.std)
    where = "within" if abs(gap) <= noise else "larger than"
    text = f"{gap:+.4f} nats ({where} the seed spread, {noise:.4f}"
    if a.n == b.n:
        text += f"; per-seed gaps {', '.join(f'{x - y:+.4f}' for x, y in zip(a.losses, b.losses, strict=True))}"
    return text + ")"


def render_model_page(
    cfg: SweepConfig, records: list[dict[str, Any]], command: str | None = None, title: str = "Budget sweep"
) -> str:
    """One model's page: per budget, every schedule at its best LR; UBA-default vs the best baseline."""
    table = summarize(cfg, records)
    runs = [r for r in records if r.get("kind") == "run"]
    header = next((r for r in records if r.get("kind") == "setup"), None)
    planned = planned_cells(cfg)
    done = {cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) for r in runs}
    n_done = sum(cell_key(spec_key(c[0], c[1]), *c[1:]) in done for c in planned)
    lines = [f"# {title}", ""]
    lines.append(
        f"Final validation loss (mean ± sample std over {len(cfg.seeds)} seeds: {cfg.seeds}) of each schedule at its "
        f"own best peak LR from the grid {[f'{x:g}' for x in cfg.lrs]} (best = lowest mean over seeds). "
        f"Finished runs: **{n_done} / {len(planned)}** distinct cells."
    )
    lines.append("")
    lines.append(
        f"`uba-default` is UBA at phi = {V2_DEFAULT_PHI:g} (the package default when v2 ran); it shares its runs "
        f"with `uba-phi{V2_DEFAULT_PHI:g}` (same schedule). Baselines: "
        f"{', '.join(f'`{b}`' for b in cfg.schedules if is_baseline(b))}. "
        f"`uba-auto`: phi from `suggest_phi(kappa)` of a curvature probe of the initial model. UBA with phi = 2 is "
        "Transformers' cosine step for step (pinned by `tests/research/test_bench.py`), so `uba-phi2` reports the "
        f"`cosine` runs. `uba-phi<phi>{FLOOR_SUFFIX}`: UBA with `min_lr_ratio={COSINE_MIN_LR_RATE:g}`, the same floor "
        "as `cosine-min10` (which is UBA at phi = 2 with that floor). A best LR marked *grid edge* may be better "
        "still outside the grid. Seed spread of a gap = sqrt(std_a^2 + std_b^2); per-seed gaps pair runs with "
        "the same seed (same initialisation and data order)."
    )
    lines.append("")
    lines += _summary_table(cfg, table)
    for budget in cfg.budgets:
        row = table.get(budget, {})
        lines.append(f"## Budget {budget} updates (warmup {warmup_steps(budget, cfg.warmup_fraction)})")
        lines.append("")
        ranked = sorted(row.values(), key=lambda b: b.mean)
        lines.append("| rank | schedule | best LR | final val loss (mean ± std) | per-seed | LRs complete |")
        lines.append("|---:|---|---:|---|---|---|")
        rank_of: dict[str, int] = {}
        r_i = 0
        seen_specs: dict[str, int] = {}
        for b in ranked:
            spec = spec_key(b.name, budget)
            if spec in seen_specs and spec not in AUTO_NAMES:
                rank = seen_specs[spec]
            else:
                r_i += 1
                rank = r_i
                seen_specs[spec] = rank
            rank_of[b.name] = rank
            per_seed = ", ".join(f"{x:.4f}" for x in b.losses)
            edge = " (grid edge)" if b.edge else ""
            lines.append(
                f"| {rank} | {b.name} | {b.lr:g}{edge} | {_fmt(b)} | {per_seed} | {b.lrs_tried}/{len(b.grid)}"
                f"{'' if b.complete else ' (partial)'} |"
            )
        lines.append("")
        baselines = _baselines(cfg, row)
        best_base = min(baselines, key=lambda b: b.mean) if baselines else None
        uba = row.get(DEFAULT_NAME)
        best_fixed = _best(_fixed_phi(cfg, row, floored=False))
        best_floored = _best(_fixed_phi(cfg, row, floored=True))
        if uba is not None and best_base is not None:
            gap = uba.mean - best_base.mean
            verdict = "beats" if gap < 0 else ("ties" if gap == 0 else "loses to")
            group = [uba, *baselines]
            rank_in_group = 1 + sum(b.mean < uba.mean for b in baselines)
            lines.append(
                f"- **UBA-default (phi={V2_DEFAULT_PHI:g}) {verdict} the best baseline** (`{best_base.name}`, LR "
                f"{best_base.lr:g}): gap {_gap_text(uba, best_base)}, ratio {uba.mean / best_base.mean:.4f}. Rank of "
                f"UBA-default: {rank_in_group} of {len(group)} among UBA-default and the baselines; "
                f"{rank_of.get(DEFAULT_NAME, '?')} of {len(set(seen_specs.values()))} distinct schedules."
            )
        if best_fixed is not None:
            lines.append(f"- Best fixed phi: `{best_fixed.name}` ({_fmt(best_fixed)}, LR {best_fixed.lr:g}).")
        floor_base = row.get("cosine-min10")
        if best_floored is not None and floor_base is not None:
            lines.append(
                f"- Same 10% floor as `cosine-min10`: best `{best_floored.name}` ({_fmt(best_floored)}, LR "
                f"{best_floored.lr:g}) minus `cosine-min10`: {_gap_text(best_floored, floor_base)}."
            )
        for auto_name, fixed_ref in ((AUTO, best_fixed), (AUTO + FLOOR_SUFFIX, best_floored)):
            auto = row.get(auto_name)
            if auto is None:
                continue
            auto_runs = [r for r in runs if r["schedule"] == auto_name and r["budget"] == budget]
            phis = sorted({round(r["phi"], 3) for r in auto_runs})
            parts = [f"- `{auto_name}` (phi {', '.join(f'{p:g}' for p in phis)}): {_fmt(auto)}"]
            if fixed_ref is not None:
                parts.append(f"{auto.mean - fixed_ref.mean:+.4f} vs the best fixed phi (`{fixed_ref.name}`)")
            if best_base is not None:
                parts.append(f"{auto.mean - best_base.mean:+.4f} vs the best baseline")
            train_s = statistics.fmean(r["train_seconds"] for r in auto_runs)
            secs = [r["probe_seconds"] for r in auto_runs if "probe_seconds" in r]  # inside train_seconds
            probe_s = statistics.fmean(secs) if secs else math.nan
            parts.append(
                f"probe cost {probe_s:.1f}s = {probe_s / train_s:.1%} of one {budget}-update training run "
                f"({train_s:.1f}s)"
            )
            lines.append("; ".join(parts) + ".")
        lines.append("")
    lines.append("## Setup")
    lines.append("")
    setup = cfg.setup_key()
    lines.append(
        f"- Model: OLMo-2 preset `{cfg.model_preset}` with {setup['model_overrides']}, vocab {cfg.vocab_size} "
        f"(byte-level BPE trained on the training subset), block {cfg.block_size} tokens, batch {cfg.batch_size} "
        f"blocks ({cfg.block_size * cfg.batch_size} tokens/update)."
    )
    lines.append(
        f"- Data: embedded corpus (this Python's stdlib sources), "
        f"{'all' if cfg.train_docs is None else cfg.train_docs} training files (fixed shuffle), "
        f"validation = first {cfg.eval_blocks} blocks of the held-out validation files, evaluated once at the end."
    )
    lines.append(
        f"- Optimizer: Transformers' default AdamW (beta2 {cfg.adam_beta2}, weight decay {cfg.weight_decay}, grad "
        f"clip {cfg.max_grad_norm}); warmup {cfg.warmup_fraction:.0%} of the budget (linear from 0) for every "
        "schedule; stock `transformers.Trainer` with `lr_scheduler_type` / `lr_scheduler_kwargs`: "
        + "; ".join(
            f"`{n}` = `{schedule_spec(n, cfg.budgets[0], 1.0 if n in AUTO_NAMES else None)[0]}`"
            f" {_kwargs_doc(n, cfg.budgets[0])}"
            for n in cfg.schedules
        )
        + "."
    )
    planned_keys = {cell_key(spec_key(c[0], c[1]), *c[1:]) for c in planned}
    runs = [r for r in runs if cell_key(r["spec"], r["budget"], r["lr"], r["seed"]) in planned_keys]
    if runs:
        spu = statistics.median(r["seconds_per_update"] for r in runs)
        total = sum(r["train_seconds"] + r.get("eval_seconds", 0) for r in runs)
        lines.append(
            f"- Time: median {spu * 1000:.0f} ms per update; {total / 60:.1f} min of training+evaluation over "
            f"{len(runs)} runs (machine shared with other jobs, so timings are noisy)."
        )
    if header is not None:
        env = header.get("environment", {})
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in env.items()) + ".")
    if command:
        lines.append(f"- Command: {command}")
    lines.append("")
    return "\n".join(lines)


def _summary_table(cfg: SweepConfig, table: dict[int, dict[str, Best]]) -> list[str]:
    """One line per budget: UBA-default vs the best baseline, best fixed phi (without and with the
    floor), uba-auto; a column appears only when the sweep has the schedules it needs."""
    parsed = [parse_uba_name(n) for n in cfg.schedules]
    has_default = DEFAULT_NAME in cfg.schedules
    has_fixed = any(p is not None and not p[1] for p in parsed)
    has_floored = any(p is not None and p[1] for p in parsed) and "cosine-min10" in cfg.schedules
    autos = [n for n in AUTO_NAMES if n in cfg.schedules]
    header = ["budget"]
    if has_default:
        header.append(f"UBA-default (phi={V2_DEFAULT_PHI:g})")
    header.append("best baseline")
    if has_default:
        header += ["gap (abs)", "ratio", "UBA-default rank vs baselines"]
    if has_fixed:
        header.append("best fixed phi")
    if has_floored:
        header.append("best UBA with 10% floor (minus `cosine-min10`)")
    if autos:
        header.append(" / ".join(f"`{n}`" for n in autos))
    lines = ["## Summary", "", "| " + " | ".join(header) + " |", "|---:|" + "---|" * (len(header) - 1)]
    for budget in cfg.budgets:
        row = table.get(budget, {})
        uba = row.get(DEFAULT_NAME)
        baselines = _baselines(cfg, row)
        base = _best(baselines)
        cells = [str(budget)]
        if has_default:
            cells.append(_fmt(uba) if uba else "n/a")
        cells.append(f"`{base.name}` {_fmt(base)}" if base else "n/a")
        if has_default and uba and base:
            cells += [
                f"{uba.mean - base.mean:+.4f}",
                f"{uba.mean / base.mean:.4f}",
                f"{1 + sum(b.mean < uba.mean for b in baselines)} of {1 + len(baselines)}",
            ]
        elif has_default:
            cells += ["n/a"] * 3
        if has_fixed:
            best_fixed = _best(_fixed_phi(cfg, row, floored=False))
            cells.append(f"`{best_fixed.name}` {_fmt(best_fixed)}" if best_fixed else "n/a")
        if has_floored:
            best_floored, floor_base = _best(_fixed_phi(cfg, row, floored=True)), row.get("cosine-min10")
            if best_floored and floor_base:
                gap = best_floored.mean - floor_base.mean
                cells.append(f"`{best_floored.name}` {_fmt(best_floored)} ({gap:+.4f})")
            else:
                cells.append("n/a")
        if autos:
            cells.append(" / ".join(_fmt(row[n]) if n in row else "n/a" for n in autos))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if has_default:
        lines += ["Negative gap / ratio < 1: UBA-default reached a lower loss than the best baseline.", ""]
    lines += _verdict(cfg, table)
    return lines


def _verdict(cfg: SweepConfig, table: dict[int, dict[str, Best]]) -> list[str]:
    """Plain-language reading of the summary, computed from the numbers (no hand-written claims)."""
    won, lost, lost_clear = [], [], []
    vs_cosine, best_overall, best_phi, floored = [], [], [], []
    for budget in cfg.budgets:
        row = table.get(budget, {})
        if not row:
            continue
        uba = row.get(DEFAULT_NAME)
        base = _best(_baselines(cfg, row))
        if uba is not None and base is not None:
            gap = uba.mean - base.mean
            (won if gap < 0 else lost).append(f"{budget} ({gap:+.4f} vs `{base.name}`)")
            if gap > 0 and min(uba.n, base.n) > 1 and gap > math.hypot(uba.std, base.std):
                lost_clear.append(str(budget))
            if "cosine" in row:
                vs_cosine.append(f"{budget}: {uba.mean - row['cosine'].mean:+.4f}")
        top = min(row.values(), key=lambda b: b.mean)
        best_overall.append(f"{budget}: `{top.name}`")
        fixed = _best(_fixed_phi(cfg, row, floored=False))
        if fixed is not None:
            best_phi.append(f"{budget}: `{fixed.name}`")
        floor_best = _best(_fixed_phi(cfg, row, floored=True))
        if floor_best is not None and "cosine-min10" in row:
            floored.append(f"{budget}: `{floor_best.name}` {_gap_text(floor_best, row['cosine-min10'])}")
    if not best_overall:
        return []
    lines = ["**Reading (computed from the table):**", ""]
    if won or lost:
        lines.append(
            f"- UBA-default (phi={V2_DEFAULT_PHI:g}) beat the best tuned baseline at {len(won)} of "
            f"{len(won) + len(lost)} budgets"
            + (f" ({'; '.join(won)})" if won else "")
            + (f" and **lost at {len(lost)}** ({'; '.join(lost)})" if lost else "")
            + "."
            + (f" The loss is larger than the seed spread at budget(s) {', '.join(lost_clear)}." if lost_clear else "")
        )
    if vs_cosine:
        lines.append(f"- UBA-default minus cosine (UBA's own phi = 2), per budget: {'; '.join(vs_cosine)}.")
    lines.append(f"- Lowest loss of all schedules per budget: {'; '.join(best_overall)}.")
    if best_phi:
        lines.append(f"- Best fixed phi per budget: {'; '.join(best_phi)}.")
    if floored:
        lines.append(
            "- Like for like with `cosine-min10` (same 10% floor; UBA phi = 2 with that floor *is* `cosine-min10`): "
            f"best floored UBA minus `cosine-min10`, per budget: {'; '.join(floored)}."
        )
    lines.append("")
    return lines


def _kwargs_doc(name: str, budget: int) -> str:
    if name in AUTO_NAMES:
        floor = "" if name == AUTO else f", 'min_lr_ratio': {COSINE_MIN_LR_RATE:g}"
        return f"{{'phi': suggest_phi(kappa){floor}}}"
    if name == "wsd":
        return f"{{'num_decay_steps': {WSD_DECAY_FRACTION:.0%} of the budget}} (Transformers' default cosine decay)"
    if name == SCHEDULE_FREE:
        return (
            "with `optim='schedule_free_adamw'` (its own warmup over the same steps; evaluated at the averaged "
            "weights: `Trainer.evaluate` calls `optimizer.eval()`)"
        )
    return str(schedule_spec(name, budget)[1]) if schedule_spec(name, budget)[1] else ""
