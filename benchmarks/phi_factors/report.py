"""``benchmarks/phi_factors/report.md``: per regime, the best phi without and with the 10% floor, every
schedule's paired gap to the regime's best, and what changing one factor did to them."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from uba_bench.config import is_baseline
from uba_bench.report import paired_gaps
from uba_bench.runner import read_results
from uba_bench.summary import Best, phi_of, summarize

from .plan import FACTORS_DIR, REGIMES, SETUPS, Regime, anchor_records, regime_config
from .rule_picks import area_rule_best, ran_through_trainer, retired_rule_best, with_zero_config_runs_as_fixed


def regime_records(regime: Regime, root: Path = FACTORS_DIR) -> list[dict[str, Any]]:
    records = [r for s in SETUPS if s.regime == regime for r in read_results(s.results(root))]
    runs = [r for r in records if r.get("kind") == "run"]
    if regime.anchor:
        runs += anchor_records(regime)
    return runs


def _phi_label(name: str) -> str:
    parsed = phi_of(name)
    return f"{parsed[0]:g}" if parsed else "-"


def _gap_cell(b: Best, best: Best, runs: list[dict[str, Any]], budget: int) -> str:
    if b is best:
        return "best"
    gaps = paired_gaps(b, best, runs, budget)
    if not gaps:
        return "n/a"
    mean = statistics.fmean(g for _, g in gaps)
    return f"{mean:+.4f} ({', '.join(f'{g:+.3f}' for _, g in gaps)})"


def regime_section(regime: Regime, runs: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    cfg = regime_config(regime)
    row = summarize(cfg, runs).get(regime.budget, {})
    lines = [
        f"## {regime.name}: {regime.factor} ({regime.model} model, batch {regime.batch_size}, {regime.budget} updates)",
        "",
    ]
    if not row:
        return [*lines, "No runs yet.", ""], {}
    ranked = sorted(row.values(), key=lambda b: b.mean)
    best = ranked[0]
    lines += [
        "| rank | schedule | phi | floor | best LR | loss (mean ± std) | seeds | paired gap to best (per seed) |",
        "|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for i, b in enumerate(ranked, 1):
        parsed = phi_of(b.name)
        floor = f"{parsed[1]:g}" if parsed else "-"
        edge = " (edge)" if b.edge else ""
        lines.append(
            f"| {i} | `{b.name}` | {_phi_label(b.name)} | {floor} | {b.lr:g}{edge} | {b.mean:.4f} ± {b.std:.4f} "
            f"| {b.n} | {_gap_cell(b, best, runs, regime.budget)} |"
        )
    uba = [b for b in ranked if phi_of(b.name)]
    no_floor = next((b for b in uba if phi_of(b.name)[1] == 0), None)
    floored = next((b for b in uba if phi_of(b.name)[1] > 0), None)
    summary = {
        "best": best.name,
        "best_phi": phi_of(no_floor.name)[0] if no_floor else None,
        "best_floored_phi": phi_of(floored.name)[0] if floored else None,
        "best_baseline": next((b.name for b in ranked if is_baseline(b.name)), None),
        "seeds": min(b.n for b in ranked),
    }
    return [*lines, ""], summary


def all_regimes(root: Path = FACTORS_DIR) -> list[tuple[str, Any, list[dict[str, Any]], int]]:
    """``(label, config, runs, budget)`` of every regime measured: v2's and this study's (anchors once)."""
    from uba_bench.v2 import GROUPS, group_config, group_records

    out = []
    for group in GROUPS:
        cfg, runs = group_config(group), group_records(group)
        out += [(f"{group} {b}", cfg, runs, b) for b in cfg.budgets]
    for regime in REGIMES:
        if not regime.anchor:
            out.append((regime.name, regime_config(regime), regime_records(regime, root), regime.budget))
    return out


# The schedules the targets of issue 27 name: zero-config UBA is judged against the best tuned of these.
TARGET_BASELINES = ("linear", "wsd-1sqrt", "cosine-min10", "schedule-free")
# Non-embedding parameters of v2's two models (their results files' stats lines).
V2_NON_EMBEDDING = {"sweep": 131_648, "main-job": 1_050_752}


def _non_embedding(runs_and_stats: list[dict[str, Any]], default: int | None) -> int | None:
    return next((r["non_embedding_params"] for r in runs_and_stats if r.get("kind") == "stats"), default)


def _tokens_per_parameter(cfg, budget: int, n: int | None) -> float | None:
    return None if not n else cfg.batch_size * cfg.block_size * budget / n


def judged_regimes(root: Path = FACTORS_DIR) -> list[dict[str, Any]]:
    """Every regime measured, with whether the current zero-config rule was fitted on it (and which rule it was
    held out for), its non-embedding parameters and training tokens per one, and the rows the judgement needs."""
    from uba_bench.v2 import GROUPS, group_config, group_records

    out = []
    for group in GROUPS:
        cfg, runs, n = group_config(group), group_records(group), V2_NON_EMBEDDING[group]
        for b in cfg.budgets:
            tpp = _tokens_per_parameter(cfg, b, n)
            out.append(
                dict(label=f"{group} {b}", fitted=True, held_out_for=None, cfg=cfg, runs=runs, budget=b, n=n, tpp=tpp)
            )
    for regime in REGIMES:
        if regime.anchor or (regime.bridge and not regime.held_out_for):  # a phi grid only, no judged baselines
            continue
        records = [r for s in SETUPS if s.regime == regime for r in read_results(s.results(root))]
        n = _non_embedding(records, V2_NON_EMBEDDING.get(regime.model))
        cfg = regime_config(regime)
        out.append(
            dict(
                label=regime.name,
                fitted=regime.fitted,
                held_out_for=regime.held_out_for,
                cfg=cfg,
                runs=with_zero_config_runs_as_fixed(records),
                budget=regime.budget,
                n=n,
                tpp=_tokens_per_parameter(cfg, regime.budget, n),
            )
        )
    return out


def _gap(a: Best | None, b: Best | None, runs: list[dict[str, Any]], budget: int) -> tuple[float, list[float]] | None:
    if a is None or b is None:
        return None
    if a is b:
        return 0.0, []
    gaps = [g for _, g in paired_gaps(a, b, runs, budget)]
    return (statistics.fmean(gaps), gaps) if gaps else None


def _cell(g: tuple[float, list[float]] | None, seeds: int) -> str:
    if g is None:
        return ""
    mean, per_seed = g
    few = f", {len(per_seed)} seed{'s' if len(per_seed) != 1 else ''}" if per_seed and len(per_seed) < seeds else ""
    return f"{mean:+.3f}" + (f" ({', '.join(f'{x:+.3f}' for x in per_seed)}{few})" if per_seed else "")


def _rule_best(rule: str, reg: dict[str, Any], row: dict[str, Best]) -> Best | None:
    """A zero-config rule's result in a judged regime (``phi_factors``' RHO_RULE or AREA_RULE)."""
    from .plan import RHO_RULE

    if rule == RHO_RULE:
        return retired_rule_best(row, reg["runs"], reg["budget"], reg["n"])
    return area_rule_best(reg["runs"], reg["budget"])


def _best_baseline(row: dict[str, Best]) -> Best | None:
    bases = [row[n] for n in TARGET_BASELINES if n in row]
    return min(bases, key=lambda b: b.mean) if bases else None


def _best_uba(row: dict[str, Best]) -> Best | None:
    """The best UBA of any phi and floor the regime ran (each at its best LR), among those with the most seeds."""
    from uba_bench.config import ZERO_CONFIG_NAMES

    uba = [b for b in row.values() if phi_of(b.name) or b.name in ZERO_CONFIG_NAMES]
    top = max((b.n for b in uba), default=0)
    return min((b for b in uba if b.n == top), key=lambda b: b.mean, default=None)


def zero_config_section(root: Path = FACTORS_DIR) -> list[str]:
    """The zero-config choice (the current rule) against the best tuned baseline per regime, fitted and held-out
    regimes apart, beside the best tuned UBA of any phi (what no rule choosing a phi can beat); the best fixed
    setting and WSD-1sqrt against each regime's best, with their worst cases; then each rule on its own held-out
    regimes."""
    from uba_hf import zero_config_schedule

    from .plan import AREA_RULE, BEST_FIXED, RHO_RULE, UNSEEN_BY

    head = (
        "| regime | tokens per parameter | zero-config: best LR, LR area, pick | zero-config minus the best tuned "
        "baseline (per seed) | best tuned baseline | best tuned UBA (any phi) minus the best tuned baseline | "
        f"best fixed setting (`{BEST_FIXED}`) minus the regime's best | `wsd-1sqrt` minus the regime's best |"
    )
    tables: dict[bool, list[str]] = {True: [], False: []}
    worst: dict[tuple[bool, str], float] = {}
    held_out: dict[str, list[str]] = {RHO_RULE: [], AREA_RULE: []}
    met: dict[str, list[bool]] = {rule: [] for rule in held_out}
    for reg in judged_regimes(root):
        row = summarize(reg["cfg"], reg["runs"]).get(reg["budget"], {})
        if not row:
            continue
        seeds = len(reg["cfg"].seeds)
        zero = area_rule_best(reg["runs"], reg["budget"])
        complete = [b for b in row.values() if b.n == max(x.n for x in row.values())]
        best = min(complete, key=lambda b: b.mean)
        base = _best_baseline(row)
        cells = {
            "zero": _gap(zero, base, reg["runs"], reg["budget"]),
            "uba": _gap(_best_uba(row), base, reg["runs"], reg["budget"]),
            "stock": _gap(row.get(BEST_FIXED), best, reg["runs"], reg["budget"]),
            "wsd": _gap(row.get("wsd-1sqrt"), best, reg["runs"], reg["budget"]),
        }
        for key, g in cells.items():
            if g is not None:
                worst[(reg["fitted"], key)] = max(worst.get((reg["fitted"], key), -9.0), g[0])
        if zero is None:
            pick_text = "no run of its pick"
        else:
            z = zero_config_schedule(reg["budget"], zero.lr)
            through = ran_through_trainer(reg["runs"], zero)
            source = "UBATrainer" if through else f"runs of its pick, {zero.lrs_tried} LRs"
            pick_text = f"{zero.lr:g}, {z['lr_area']:.3g}, phi {z['phi']:g} floor {z['min_lr_ratio']:g} ({source})"
        tpp = f"{reg['tpp']:.2g}" if reg["tpp"] else ""
        tables[reg["fitted"]].append(
            f"| {reg['label']} | {tpp} | {pick_text} | {_cell(cells['zero'], seeds) or 'not run'} | "
            f"{f'`{base.name}` {base.mean:.4f}' if base else 'none run'} | {_cell(cells['uba'], seeds)} | "
            f"{_cell(cells['stock'], seeds)} | {_cell(cells['wsd'], seeds)} |"
        )
        for rule in (r for r in held_out if reg["held_out_for"] in UNSEEN_BY[r]):
            g = _gap(_rule_best(rule, reg, row), base, reg["runs"], reg["budget"])
            if g is not None:
                met[rule].append(g[0] <= 0.01)
            held_out[rule].append(f"{reg['label']} {_cell(g, seeds) or 'not run'}")
    lines = [
        "## The zero-config choice, judged (fitted regimes and held-out ones apart)",
        "",
        "`uba_hf.zero_config_schedule` picks phi and the floor from a run's LR area, its peak LR times its updates "
        "(phi 0.01 up to 20, phi 1 from 30, a 10% floor below 60). It was fixed before any run of the regimes held "
        "out below (five added to judge it, two added later to judge a candidate gate on its floor, which it had "
        "not seen either, and two added after the candidate was rejected). Its pick at each LR is read off the "
        "runs of that schedule: its own `UBATrainer` runs "
        "(`uba-zero-area`, nothing given, its LR tuned like every schedule's; marked UBATrainer where every seed "
        "of the best LR ran so), the candidate's `UBATrainer` runs that recorded the same pick, or the fixed phi "
        "the grid ran, over the LRs where that pick ran (the number of LRs is given). Gaps: mean of the per-seed "
        "(paired) gaps, each schedule at its own best LR; the best tuned baseline is the best of "
        + ", ".join(f"`{n}`" for n in TARGET_BASELINES)
        + " that the regime ran. Where the best tuned UBA of any phi the regime ran trails that baseline by more "
        "than 0.01, no choice of phi meets the target there.",
        "",
    ]
    for fitted, title in ((True, "Fitted on"), (False, "Held out (never fitted on)")):
        lines += [f"**{title}**", "", head, "|---|---:|---|---|---|---|---|---|", *tables[fitted], ""]
        if tables[fitted]:
            w = {k: worst.get((fitted, k)) for k in ("zero", "stock", "wsd")}
            lines += [
                "Worst: zero-config "
                + (f"{w['zero']:+.3f}" if w["zero"] is not None else "n/a")
                + ", best fixed setting "
                + (f"{w['stock']:+.3f}" if w["stock"] is not None else "n/a")
                + ", WSD-1sqrt "
                + (f"{w['wsd']:+.3f}" if w["wsd"] is not None else "n/a")
                + ".",
                "",
            ]
    lines += [
        "**Each rule on the regimes held out for it** (its result minus the best tuned baseline, per seed): 0.4.0's "
        "development rule (updates per non-embedding parameter) and the LR-area rule (the current one). Two of the "
        "LR-area rule's regimes (`prose-u1300`, `shape-b2-width128`) also decided against a candidate floor gate "
        "(README, Findings), so they judge the rule less cleanly than the ones added after it "
        "(`shape-b32-vocab8k`, `shape-b2-vocab8k`).",
        "",
        "| rule | held-out regimes | within 0.01 |",
        "|---|---|---:|",
    ]
    for rule, cells in held_out.items():
        lines.append(f"| {rule} | {'; '.join(cells)} | {sum(met[rule])} of {len(met[rule])} |")
    return [*lines, ""]


# The fixed settings a stock default could be (and the baselines), compared across every regime measured.
FIXED_CANDIDATES = [
    "uba-phi0.25-min10",
    "uba-phi1-min10",
    "uba-phi0.025-min10",
    "uba-phi0.01-min10",
    "uba-default",
    "cosine-min10",
    "linear",
    "wsd-1sqrt",
    "schedule-free",
]


def across_regimes_section(root: Path = FACTORS_DIR) -> list[str]:
    """Each candidate's mean paired gap to each regime's best (among schedules with the most seeds), and its worst
    case over the regimes where it ran on every seed: how the stock path's choice was made."""
    from uba_bench.config import RETIRED_ZERO_CONFIG, ZERO_CONFIG

    regs = judged_regimes(root)
    cols, rows = [], {n: [] for n in [ZERO_CONFIG, RETIRED_ZERO_CONFIG, *FIXED_CANDIDATES]}
    for reg in regs:
        row = summarize(reg["cfg"], reg["runs"]).get(reg["budget"], {})
        if not row:
            continue
        top = max(b.n for b in row.values())
        best = min((b for b in row.values() if b.n == top), key=lambda b: b.mean)
        cols.append(f"{reg['label']}{'' if reg['fitted'] else ' (held out)'}")
        for name in rows:
            b = row.get(name) or (row.get("uba-phi1") if name == "uba-default" else None)
            if name == ZERO_CONFIG:  # the picks under fixed names (the UBATrainer runs among them)
                b = area_rule_best(reg["runs"], reg["budget"])
            elif name == RETIRED_ZERO_CONFIG:
                b = retired_rule_best(row, reg["runs"], reg["budget"], reg["n"])
            g = _gap(b, best, reg["runs"], reg["budget"])
            rows[name].append(None if g is None else (g[0], b.n == top))
    lines = [
        "## Across every regime: the stock path's choice",
        "",
        "Mean paired gap to each regime's best (in parentheses: fewer seeds than the regime's best). Worst: over "
        "the regimes where the schedule ran on every seed, and how many. `uba-zero-area` is the zero-config choice "
        "(the LR-area rule, its pick under fixed names where it did not run through `UBATrainer`); `uba-zero` is "
        "0.4.0's development rule "
        "(updates per non-embedding parameter); `uba-default` is phi 1 without a floor, the stock default until "
        "0.3.0. The stock path runs the zero-config choice: no fixed setting measured in every regime has a worst "
        "case below WSD-1sqrt's.",
        "",
        "| schedule | " + " | ".join(cols) + " | worst |",
        "|---|" + "---:|" * (len(cols) + 1),
    ]
    for name, cells in rows.items():
        full = [c[0] for c in cells if c is not None and c[1]]
        text = ["" if c is None else (f"{c[0]:+.3f}" if c[1] else f"({c[0]:+.3f})") for c in cells]
        worst = f"{max(full):+.3f} ({len(full)} of {len(cells)})" if full else ""
        lines.append(f"| `{name}` | " + " | ".join(text) + f" | {worst} |")
    return [*lines, ""]


def lr_landscape_section(root: Path = FACTORS_DIR) -> list[str]:
    """Seed 0's loss at every LR it ran, per schedule, in shape-b8, its bridge regimes and main-b4: where the best
    LR sits, and whether the loss has one basin in the LR or two."""
    from uba_bench.config import ZERO_CONFIG
    from uba_bench.schedules import spec_key

    from .plan import BRIDGE_GRID, MAIN_HIGH_LR_GRID, REGIME_BY_NAME

    names = list(dict.fromkeys([ZERO_CONFIG, *BRIDGE_GRID, *MAIN_HIGH_LR_GRID]))
    regimes = [REGIME_BY_NAME["shape-b8"], *(r for r in REGIMES if r.bridge), REGIME_BY_NAME["main-b4"]]
    lines = [
        "## The LR landscape: shape-b8, one step at a time toward the main job's model",
        "",
        "Seed 0's eval loss at each peak LR it ran (the lowest of each row in bold). The main job's model differs "
        "from the 4 x 96 shape model in width (128), vocabulary (8,192) and block (128 tokens); each bridge regime "
        "changes one of them.",
        "",
    ]
    for regime in regimes:
        runs = [r for r in regime_records(regime, root) if r["seed"] == 0 and r["budget"] == regime.budget]
        by_name = {
            n: {float(r["lr"]): r["eval_loss"] for r in runs if r["spec"] == spec_key(n, regime.budget)} for n in names
        }
        by_name = {n: v for n, v in by_name.items() if v}
        if not by_name:
            continue
        lrs = sorted({lr for v in by_name.values() for lr in v})
        lines += [
            f"**{regime.name}** ({regime.factor})",
            "",
            "| schedule | " + " | ".join(f"{lr:g}" for lr in lrs) + " |",
        ]
        lines.append("|---|" + "---:|" * len(lrs))
        for n, losses in by_name.items():
            low = min(losses.values())
            cells = [
                "" if lr not in losses else (f"**{losses[lr]:.4f}**" if losses[lr] == low else f"{losses[lr]:.4f}")
                for lr in lrs
            ]
            lines.append(f"| `{n}` | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def render(root: Path = FACTORS_DIR, command: str = "") -> str:
    sections: list[str] = []
    summary_rows = [
        "| regime | factor | model | batch (tokens/update) | updates | best of all | best phi, no floor | "
        "best phi, 10% floor | best baseline | min seeds |",
        "|---|---|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for regime in REGIMES:
        block, s = regime_section(regime, regime_records(regime, root))
        sections += block
        if s:
            block_tokens = regime.config(["linear"]).block_size
            phis = [f"{s[k]:g}" if s[k] is not None else "n/a (none run yet)" for k in ("best_phi", "best_floored_phi")]
            summary_rows.append(
                f"| {regime.name} | {regime.factor} | {regime.model} | {regime.batch_size} "
                f"({regime.batch_size * block_tokens}) | {regime.budget} | `{s['best']}` | {phis[0]} | "
                f"{phis[1]} | `{s['best_baseline']}` | {s['seeds']} |"
            )
    sections += [
        *zero_config_section(root),
        *across_regimes_section(root),
        *lr_landscape_section(root),
        "## A peak LR off its optimum",
        "",
        "Mean paired loss penalty of the LR one grid step below / above each schedule's best (sweep model: "
        "factor 2 apart; main job's model: factor ~3); *edge*: the best is at that end of the grid. Columns: v2's "
        "regimes (model, updates) and this study's. Worst: the largest penalty of any column.",
        "",
        *lr_sensitivity_table(all_regimes(root), SENSITIVITY_NAMES),
        "",
    ]
    head = [
        "# What sets the best phi: one factor at a time",
        "",
        "Each regime changes one factor of a benchmark v2 regime (see `benchmarks/phi_factors/plan.py`). "
        "Every schedule at its own best peak LR (lowest mean over the seeds it has); paired gaps are per seed "
        "(same initialisation and data order), at each schedule's best LR. A best LR marked (edge) may be "
        "better outside its grid (the sweep extends it). Partial results are shown as they are.",
        "",
        f"Generated by {command}." if command else "",
        "",
        *summary_rows,
        "",
    ]
    return "\n".join([*head, *sections])


def write_factors_report(root: Path = FACTORS_DIR, command: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "report.md"
    path.write_text(render(root, command))
    return path


# v2 ran phi 1 without a floor under the name of the package default (the same runs).
_ALIASES = {"uba-phi1": "uba-default"}
SENSITIVITY_NAMES = [
    "linear",
    "wsd-1sqrt",
    "cosine-min10",
    "schedule-free",
    "uba-phi1",
    "uba-phi1-min10",
    "uba-phi0.25",
    "uba-phi0.25-min10",
    "uba-phi0.025-min10",
]


def lr_penalties(row: dict[str, Best], runs: list[dict[str, Any]], budget: int) -> dict[str, tuple]:
    """Per schedule: ``(lower LR, its mean paired penalty, higher LR, its penalty)`` next to the best LR of its
    grid (None where the best sits at that edge): how much a peak LR one grid step off its optimum costs."""
    from uba_bench.schedules import spec_key

    out = {}
    for name, best in row.items():
        spec = spec_key(name, budget)
        by_lr: dict[float, dict[int, float]] = {}
        for r in runs:
            if r.get("kind") == "run" and r["spec"] == spec and r["budget"] == budget:
                by_lr.setdefault(float(r["lr"]), {})[int(r["seed"])] = r["eval_loss"]
        grid = sorted(by_lr)
        i = grid.index(best.lr)
        sides = []
        for j in (i - 1, i + 1):
            if 0 <= j < len(grid):
                seeds = set(by_lr[grid[j]]) & set(by_lr[best.lr])
                pen = statistics.fmean(by_lr[grid[j]][s] - by_lr[best.lr][s] for s in seeds) if seeds else None
                sides += [grid[j], pen]
            else:
                sides += [None, None]
        out[name] = tuple(sides)
    return out


def lr_sensitivity_table(regimes: list[tuple[str, Any, list[dict[str, Any]], int]], names: list[str]) -> list[str]:
    """Rows: schedules; columns: regimes; cells: the penalty of the LR one grid step below / above the best."""
    head = "| schedule | " + " | ".join(r[0] for r in regimes) + " | worst |"
    lines = [head, "|---|" + "---:|" * (len(regimes) + 1)]
    tables = []
    for _, cfg, runs, budget in regimes:
        row = summarize(cfg, runs).get(budget, {})
        tables.append(lr_penalties(row, runs, budget))
    for name in names:
        cells, worst = [], None
        for t in tables:
            key = name if name in t else _ALIASES.get(name)
            if key not in t:
                cells.append("")
                continue
            _, lo, _, hi = t[key]
            vals = [v for v in (lo, hi) if v is not None]
            cells.append(" / ".join("edge" if v is None else f"{v:+.3f}" for v in (lo, hi)))
            if vals:
                worst = max(vals) if worst is None else max(worst, *vals)
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {'' if worst is None else f'{worst:+.3f}'} |")
    return lines
