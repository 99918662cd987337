"""The high-area study's report (``report.md``), from whatever results exist: every schedule at its own best peak LR
(the LR with the most seeds, then the lowest mean), paired per-seed gaps with their standard error, the best UBA of
any phi and floor, and the zero-config rule's pick (``uba_hf.zero_config``) read off the fixed-phi runs at each LR.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from phi_factors.plan import REGIMES as PHI_FACTOR_REGIMES
from uba_bench.config import RETIRED_SETUP_FIELDS, uba_name
from uba_bench.runner import read_results
from uba_bench.schedules import spec_key
from uba_bench.summary import phi_of

from high_area.study import ANCHOR_RESULTS, HERE, REGIMES, SCHEDULES, Regime, losses_by_lr, rule_pick


@dataclass
class Best:
    name: str
    lr: float
    losses: dict[int, float]  # seed -> final validation loss

    @property
    def mean(self) -> float:
        return statistics.fmean(self.losses.values())

    @property
    def std(self) -> float:
        return statistics.stdev(self.losses.values()) if len(self.losses) > 1 else 0.0


@dataclass
class Gap:
    """``a - b`` per common seed: the mean and its standard error (None with one seed)."""

    per_seed: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_seed)

    @property
    def se(self) -> float | None:
        n = len(self.per_seed)
        return statistics.stdev(self.per_seed) / math.sqrt(n) if n > 1 else None

    def __str__(self) -> str:
        se = f" ± {self.se:.3f}" if self.se is not None else ""
        return f"{self.mean:+.3f}{se} (n={len(self.per_seed)})"


def ranking(b: Best) -> tuple[int, float]:
    """Schedules rank by seeds run, then mean loss: one run on seed 0 alone never outranks a schedule on all seeds."""
    return -len(b.losses), b.mean


def gap(a: Best, b: Best) -> Gap:
    seeds = sorted(set(a.losses) & set(b.losses))
    return Gap([a.losses[s] - b.losses[s] for s in seeds])


def best_of(cells: dict[float, dict[int, float]], name: str) -> Best | None:
    """The LR with the most seeds, then the lowest mean (an LR run on seed 0 only never beats one run on all)."""
    if not cells:
        return None
    lr = min(cells, key=lambda x: (-len(cells[x]), statistics.fmean(cells[x].values())))
    return Best(name, lr, dict(cells[lr]))


def regime_table(records: list[dict], budget: int, names) -> dict[str, Best]:
    out = {}
    for name in names:
        b = best_of(losses_by_lr(records, name, budget), name)
        if b is not None:
            out[name] = b
    return out


def best_uba(table: dict[str, Best]) -> Best | None:
    """The best UBA of any phi and floor in a regime's table (None before any ran)."""
    uba = [b for n, b in table.items() if phi_of(n)]
    return min(uba, key=ranking) if uba else None


def anchor_records(anchor: str) -> list[dict]:
    out = []
    for path in ANCHOR_RESULTS[anchor]:
        out += read_results(path) if Path(path).exists() else []
    return out


def _fmt_phi(name: str) -> tuple[str, str]:
    p = phi_of(name)
    return (f"{p[0]:g}", f"{p[1]:g}") if p else ("-", "-")


def _summary_row(label: str, factor: str, budget: int, tokens: int, records: list[dict]) -> tuple[str, dict]:
    table = regime_table(records, budget, SCHEDULES)
    if not table:
        return f"| {label} | {factor} | {budget} x {tokens} | no runs yet | | | | | | |", {}
    everything = min(table.values(), key=ranking)
    best = best_uba(table)
    zc = zero_config_of(records, budget)
    lin = table.get("linear")
    cols = [
        f"`{everything.name}` at {everything.lr:g} (area {everything.lr * budget:.0f})",
        f"`{best.name}` at {best.lr:g}" if best else "-",
        str(gap(best, lin)) if best and lin else "-",
        f"{zc.name} at {zc.lr:g} (area {zc.lr * budget:.0f})" if zc else "-",
        str(gap(zc, best)) if zc and best else "-",
        str(gap(zc, everything)) if zc else "-",
        str(min(len(b.losses) for b in table.values())),
    ]
    return f"| {label} | {factor} | {budget} x {tokens} | " + " | ".join(cols) + " |", table


def _regime_section(r: Regime, records: list[dict]) -> list[str]:
    table = regime_table(records, r.budget, r.schedules)
    if not table:
        return []
    ranked = sorted(table.values(), key=ranking)
    top, lin = ranked[0], table.get("linear")
    lines = [
        f"## {r.name}: {r.factor} ({r.budget} updates of {r.batch_size} x 64 tokens)",
        "",
        "| rank | schedule | phi | floor | best LR | LR area | loss (mean ± std) | seeds | minus the best (paired) | "
        "minus linear (paired) | per seed, minus the best |",
        "|---:|---|---:|---:|---:|---:|---|---:|---|---|---|",
    ]
    for i, b in enumerate(ranked, 1):
        phi, floor = _fmt_phi(b.name)
        tried = sorted(losses_by_lr(records, b.name, r.budget))
        edge = " (edge)" if len(tried) > 1 and b.lr in (tried[0], tried[-1]) else ""
        g = gap(b, top)
        lines.append(
            f"| {i} | `{b.name}` | {phi} | {floor} | {b.lr:g}{edge} | {b.lr * r.budget:.0f} | {b.mean:.4f} ± "
            f"{b.std:.4f} | {len(b.losses)} | {'best' if b is top else g} | "
            f"{gap(b, lin) if lin and b is not lin else '-'} | {', '.join(f'{x:+.3f}' for x in g.per_seed)} |"
        )
    lrs = sorted({float(x["lr"]) for x in records if x.get("kind") == "run" and x["seed"] == 0})
    lines += ["", "Seed 0 at every LR (the LR landscape; `-`: not run):", ""]
    lines += ["| schedule | " + " | ".join(f"{lr:g}" for lr in lrs) + " |", "|---|" + "---:|" * len(lrs)]
    for name in r.schedules:
        cells = losses_by_lr(records, name, r.budget, 0)
        row = [f"{cells[lr][0]:.4f}" if lr in cells else "-" for lr in lrs]
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    return [*lines, "", *_at_each_lr(r, records, lrs), ""]


def _at_each_lr(r: Regime, records: list[dict], lrs: list[float]) -> list[str]:
    """Seed 0 at each peak LR, as a user who brings that LR meets it: the rule's pick there beside the best UBA
    there. Above the best LR's area this is what a too-high LR gets, not what a tuned run gets."""
    lines = [
        "Seed 0 at each peak LR (a user who brings that LR): the rule's pick beside the best UBA at the same LR (the",
        "gap paired over every seed run at that LR where more than seed 0 ran):",
        "",
        "| peak LR | LR area | rule's pick | its loss | best UBA at this LR | its loss | pick minus best UBA | "
        "linear |",
        "|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    by_schedule = {n: losses_by_lr(records, n, r.budget) for n in r.schedules}  # {name: {lr: {seed: loss}}}
    for lr in lrs:
        at = {n: cells.get(lr, {}).get(0) for n, cells in by_schedule.items()}
        uba = {n: v for n, v in at.items() if v is not None and phi_of(n)}
        pick = rule_pick(r.budget, lr)
        if not uba or at.get(pick) is None:
            continue
        best = min(uba, key=uba.get)
        lin = f"{at['linear']:.4f}" if at.get("linear") is not None else "-"
        g = gap(Best(pick, lr, by_schedule[pick][lr]), Best(best, lr, by_schedule[best][lr]))
        shown = str(g) if len(g.per_seed) > 1 else f"{g.mean:+.3f}"  # paired over every seed run at this LR
        lines.append(
            f"| {lr:g} | {lr * r.budget:.0f} | `{pick}` | {at[pick]:.4f} | `{best}` | {uba[best]:.4f} | "
            f"{shown} | {lin} |"
        )
    return lines


def write_report(path: Path = HERE / "report.md") -> str:
    lines = [
        "# High LR areas and the optimizer's other settings (issue 41)",
        "",
        "Generated by `python benchmarks/high_area/study.py report` from the results files, partial or not. Every",
        "schedule at its own best peak LR (the LR with the most seeds, then the lowest mean); LRs tuned on seed 0,",
        "seeds 1 and 2 at seed 0's best LR. Gaps are paired per seed (same initialisation and data order): the mean ±",
        "its standard error over n seeds. The zero-config pick is the rule of `uba_hf.zero_config` at each LR, read",
        "off the fixed-phi run it picks there (the same LR at every update); `-` where none ran.",
        "",
        "## Summary",
        "",
        "| regime | factor | updates x tokens | best of all | best UBA (any phi, floor) | best UBA minus linear | "
        "zero-config | zero-config minus best UBA | zero-config minus best of all | min seeds |",
        "|---|---|---|---|---|---|---|---|---|---:|",
    ]
    sections = []
    anchors_done = set()
    for r in REGIMES:
        if r.anchor in ANCHOR_RESULTS and r.anchor not in anchors_done:  # an anchor run before this study
            anchors_done.add(r.anchor)
            budget, batch = r.budget, r.batch_size
            row, _ = _summary_row(f"{r.anchor} (anchor)", "reference", budget, batch * 64, anchor_records(r.anchor))
            lines.append(row)
        records = r.records()
        if not any(x.get("kind") == "run" for x in records):
            continue
        row, _ = _summary_row(r.name, r.factor, r.budget, r.batch_size * 64, records)
        lines.append(row)
        sections += _regime_section(r, records)
    rows = every_regime_rows()
    plot_gap_vs_area(rows)
    text = "\n".join(
        [
            *lines,
            "",
            *keys_section(),
            *weight_decay_0_section(),
            *every_regime_section(rows),
            "![gaps by LR area](gap_vs_area.png)",
            "",
            *sections,
        ]
    )
    path.write_text(text)
    return text


# --- Every regime measured so far, by LR area: the earlier studies' results files beside this one's ----------------

_SUFFIXES = ("-phi-ext", "-lowlr-phi", "-lowlr", "-highlr", "-phi", "-judge", "-base")
_PROBE_FIELDS = (
    "auto_with_uba_trainer",
    "probe_batch_size",
    "probe_batches",
    "probe_lanczos_steps",
    "probe_num_probes",
)


def _label(path: Path, budget: int) -> str:
    study, name = path.parts[-3], path.parts[-2]
    if study == "v2":
        return f"v2 {name.split('-')[0] if name.startswith('sweep') else 'main-job'} {budget}"
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return name if study == "phi_factors" else f"{study}/{name}"


def regimes_by_setup(root: Path = HERE.parent) -> dict[str, tuple[str, int, list[dict]]]:
    """Every results file under ``benchmarks/`` (v1's archive aside), grouped by what shapes a run: the setup (less
    the retired probe's settings) and the budget. Returns ``{key: (label, budget, records)}``."""
    import json

    groups: dict[str, tuple[str, int, list[dict]]] = {}
    for path in sorted(root.glob("*/*/results.jsonl")):
        if path.parts[-3] == "v1":
            continue
        records = read_results(path)
        setup = next((r["setup"] for r in records if r.get("kind") == "setup"), None)
        if setup is None:
            continue
        setup = {k: v for k, v in setup.items() if k not in RETIRED_SETUP_FIELDS}
        for budget in sorted({r["budget"] for r in records if r.get("kind") == "run"}):
            key = json.dumps([setup, budget], sort_keys=True)
            label, _, recs = groups.get(key, (_label(path, budget), budget, []))
            recs += [r for r in records if r.get("kind") == "run" and r["budget"] == budget]
            groups[key] = (min(label, _label(path, budget), key=len), budget, recs)
    return groups


def as_fixed_runs(records: list[dict]) -> list[dict]:
    """The runs, with each UBATrainer zero-config run (``uba-zero-area``) also standing as a run of the fixed schedule
    it recorded picking (the same LR at every update), where the grid has none at that LR and seed. Such a run ran
    whichever rule was current then (the rejected floor gate's included), so only the pick it recorded says what."""
    runs = [r for r in records if r.get("kind") == "run"]
    have = {(r["spec"], r["budget"], float(r["lr"]), r["seed"]) for r in runs}
    extra = []
    for r in runs:
        if r["spec"] == "uba-zero-area":
            name = uba_name(r["zero_config"]["phi"], r["zero_config"]["min_lr_ratio"])
            spec = spec_key(name, r["budget"])
            if (spec, r["budget"], float(r["lr"]), r["seed"]) not in have:
                have.add((spec, r["budget"], float(r["lr"]), r["seed"]))
                extra.append({**r, "spec": spec, "schedule": name})
    return runs + extra


def zero_config_of(records: list[dict], budget: int, pick=rule_pick) -> Best | None:
    """The current rule's result (or, with ``pick(budget, lr)``, another rule's): at each LR, the fixed-phi runs of
    the schedule it picks there; the best LR as for any schedule."""
    records = as_fixed_runs(records)
    cells = {}
    for lr in sorted({float(r["lr"]) for r in records if r["budget"] == budget}):
        cells[lr] = losses_by_lr(records, pick(budget, lr), budget).get(lr, {})
    best = best_of({lr: v for lr, v in cells.items() if v}, "zero-config")
    if best is not None:
        best.name = f"zero-config ({pick(budget, best.lr)})"
    return best


REFERENCE_WEIGHT_DECAY = 0.1  # the rule's fit: its thresholds in areas are thresholds in area x 0.1


def timescale_pick(weight_decay: float):
    """The rule re-keyed on peak LR x weight decay x updates (AdamW's averaging timescales in the run), its
    thresholds scaled so that it is the area rule at weight decay 0.1: what the re-key would pick."""
    scale = max(weight_decay, 1e-12) / REFERENCE_WEIGHT_DECAY
    return lambda budget, lr: rule_pick(budget, lr * scale)


def keys_section() -> list[str]:
    """The issue's re-key test: does peak LR x weight decay x updates order the regimes better than the area?
    Each weight-decay regime and its anchor: each rule's pick at its best LR, minus the best UBA there."""
    lines = [
        "## The LR area or LR area x weight decay?",
        "",
        "If the best phi followed AdamW's averaging timescales (peak LR x weight decay x updates), not the area, the",
        "rule re-keyed on that product (its thresholds scaled to agree at weight decay 0.1) would pick closer to the",
        "best UBA where the weight decay differs. Each rule's pick at its own best LR, minus the best UBA of any phi",
        "and floor, paired over seeds (`-`: the product rule picks a phi no grid ran).",
        "",
        "| regime | weight decay | best UBA | area rule's pick | minus best UBA | product rule's pick | "
        "minus best UBA |",
        "|---|---:|---|---|---|---|---|",
    ]
    for anchor in ANCHOR_RESULTS:
        regimes = [(f"{anchor} (anchor)", REFERENCE_WEIGHT_DECAY, anchor_records(anchor))]
        regimes += [
            (r.name, dict(r.changes)["weight_decay"], r.records())
            for r in REGIMES
            if r.anchor == anchor and "weight_decay" in dict(r.changes)
        ]
        budget = next(r.budget for r in REGIMES if r.anchor == anchor)
        for label, wd, records in regimes:
            table = regime_table(as_fixed_runs(records), budget, SCHEDULES)
            best = best_uba(table)
            if best is None:
                continue
            cols = []
            for pick in (rule_pick, timescale_pick(wd)):
                zc = zero_config_of(records, budget, pick)
                cols += [f"`{pick(budget, zc.lr)}` at {zc.lr:g}", str(gap(zc, best))] if zc else ["-", "-"]
            lines.append(f"| {label} | {wd:g} | `{best.name}` at {best.lr:g} | " + " | ".join(cols) + " |")
    return [*lines, ""]


# What weight decay 0 asks of the rule: phi 0.25 with the floor was read off these four regimes (the best UBA or close
# to it in each); the prose ones (study.py) were added with the prediction that it beats the zero-config choice there
# too, before either ran.
WD0_CHOICE = uba_name(0.25, 0.1)
WD0_READ_ON = ("b8-u325-wd0", "b2-u1300-wd0", "b8-u325-stock", "u5200-wd0")


def weight_decay_0_section() -> list[str]:
    """Each weight-decay-0 regime: phi 0.25 with the floor and the zero-config choice, each at its own best LR,
    against the best UBA and against each other, paired over seeds."""
    lines = [
        "## Weight decay 0: phi 0.25 with the floor beside the zero-config choice",
        "",
        "Phi 0.25 with the floor was read off the first four regimes below (the best UBA or close to it in each);",
        "the held-out ones, on another corpus, were added to the plan with the prediction that it beats the",
        "zero-config choice there too (the last column below zero), before either ran.",
        "",
        "| regime | reading | best UBA | phi 0.25 with the floor minus best UBA | zero-config minus best UBA | "
        "phi 0.25 with the floor minus zero-config |",
        "|---|---|---|---|---|---|",
    ]
    for r in REGIMES:
        if dict(r.changes).get("weight_decay") != 0.0:
            continue
        role = "read on" if r.name in WD0_READ_ON else "held out"
        records = r.records()
        table = regime_table(as_fixed_runs(records), r.budget, SCHEDULES)
        best, zc, choice = best_uba(table), zero_config_of(records, r.budget), table.get(WD0_CHOICE)
        if best is None or zc is None or choice is None:
            lines.append(f"| {r.name} | {role} | not run yet | | | |")
            continue
        cols = [f"`{best.name}` at {best.lr:g}", str(gap(choice, best)), str(gap(zc, best))]
        lines.append(f"| {r.name} | {role} | " + " | ".join([*cols, str(gap(choice, zc))]) + " |")
    return [*lines, ""]


def seen_by_rule(label: str) -> str:
    """Whether the current zero-config rule was fitted on a regime ("fitted"), judged on it after it was fixed
    ("held out"), or never met it: this study's regimes, all measured after the rule was fixed ("new")."""
    if label.startswith("high_area/"):
        return "new"
    if label.startswith("v2 "):
        return "fitted"
    match = [r for r in PHI_FACTOR_REGIMES if r.name == label]
    return "fitted" if not match or match[0].fitted else "held out"


def every_regime_rows() -> list[dict]:
    rows = []
    for label, budget, records in regimes_by_setup().values():
        records = as_fixed_runs(records)
        names = sorted({r["schedule"] for r in records})
        table = regime_table(records, budget, names)
        lin = table.get("linear")
        uba = best_uba(table)
        if lin is None or uba is None:
            continue
        everything = min(table.values(), key=ranking)
        zc = zero_config_of(records, budget)
        rows.append(
            dict(
                table=table,
                seen=seen_by_rule(label),
                label=label,
                budget=budget,
                area=everything.lr * budget,
                linear_area=lin.lr * budget,
                best=everything,
                best_uba=uba,
                uba_minus_linear=gap(uba, lin),
                zero_config=zc,
                zc_minus_uba=gap(zc, uba) if zc else None,
                zc_minus_best=gap(zc, everything) if zc else None,
            )
        )
    return sorted(rows, key=lambda r: r["linear_area"])


def every_regime_section(rows: list[dict]) -> list[str]:
    lines = [
        "## Every regime measured, by LR area",
        "",
        "Every results file under `benchmarks/` (v1 aside) grouped by setup and budget, this study's included, sorted",
        "by linear-to-zero's LR area (its best LR x updates). Gaps paired per seed, mean ± standard error (n seeds).",
        "",
        "| regime | rule | updates | linear's LR area | best of all (area) | best UBA | best UBA minus linear | "
        "zero-config minus best UBA | zero-config minus best of all |",
        "|---|---|---:|---:|---|---|---|---|---|",
    ]
    for r in rows:
        b, u = r["best"], r["best_uba"]
        lines.append(
            f"| {r['label']} | {r['seen']} | {r['budget']} | {r['linear_area']:.0f} | `{b.name}` ({r['area']:.0f}) | "
            f"`{u.name}` at {u.lr:g} | {r['uba_minus_linear']} | {r['zc_minus_uba'] or '-'} | "
            f"{r['zc_minus_best'] or '-'} |"
        )
    return [*lines, "", *across_regimes_section(rows)]


def schedule_gaps(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Each schedule's paired mean gap to each regime's best of all (the zero-config choice as one schedule):
    ``{name: {regime label: gap}}``, over the regimes where it ran."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        entries = dict(r["table"])
        if r["zero_config"] is not None:
            entries["zero-config"] = r["zero_config"]
        for name, b in entries.items():
            if name != "uba-zero-area":  # UBATrainer's own zero-config runs: already in "zero-config" above
                out.setdefault(name, {})[r["label"]] = gap(b, r["best"]).mean
    return out


def across_regimes_section(rows: list[dict]) -> list[str]:
    """The targets' second line: across every regime, which schedule has the smallest mean and worst gap to each
    regime's best of all; regimes the rule was fitted on apart from those it never saw (held out and new)."""
    rows = [r for r in rows if len(r["best"].losses) >= 3]  # the targets' 3 seeds: u20800 (seed 0) stays out
    gaps = schedule_gaps(rows)
    seen = {r["label"]: r["seen"] for r in rows}
    lines = [
        "## Across every regime: each schedule's gap to the regime's best of all",
        "",
        "The paired mean gap of each schedule at its own best LR to the best of everything measured in that regime,",
        "averaged and at its worst over the regimes where it ran (n). Fitted: the regimes the current rule was fitted",
        "on; unseen: those held out from its fit and this study's (all measured after it was fixed). A schedule run in",
        "fewer than half of a group's regimes is left out of that group (a mean over a few regimes does not compare),",
        "and so is a regime whose best ran on fewer than 3 seeds.",
        "",
        "| schedule | fitted: n | mean | worst | unseen: n | mean | worst |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {"fitted": {"fitted"}, "unseen": {"held out", "new"}}
    sizes = {g: sum(seen[label] in kinds for label in seen) for g, kinds in groups.items()}
    table = []
    for name, by_regime in gaps.items():
        cols, keep = [], False
        for g, kinds in groups.items():
            vals = [v for label, v in by_regime.items() if seen[label] in kinds]
            if len(vals) * 2 >= sizes[g] and vals:
                cols.append((len(vals), statistics.fmean(vals), max(vals)))
                keep = True
            else:
                cols.append(None)
        if keep:
            table.append((name, cols))
    table.sort(key=lambda t: (t[1][1] is None, t[1][1][1] if t[1][1] else 0.0))
    for name, cols in table:
        cells = [f"{n} | {m:+.3f} | {w:+.3f}" if c else "- | - | -" for c in cols for n, m, w in [c or (0, 0, 0)]]
        shown = f"**{name}**" if name == "zero-config" else f"`{name}`"
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot_gap_vs_area(rows: list[dict], path: Path = HERE / "gap_vs_area.png") -> None:
    from uba_hf.pretrain.plotting import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label, marker in (
        ("uba_minus_linear", "best UBA (any phi, floor) minus linear", "o"),
        ("zc_minus_best", "zero-config minus the best of all", "s"),
    ):
        pts = [(r["linear_area"], r[key]) for r in rows if r[key] is not None]
        ax.errorbar(
            [a for a, _ in pts],
            [g.mean for _, g in pts],
            yerr=[g.se or 0 for _, g in pts],
            fmt=marker,
            capsize=2,
            label=label,
            alpha=0.8,
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("LR area of linear-to-zero's best run (peak LR x updates)")
    ax.set_ylabel("final validation loss gap (nats)")
    ax.set_title("Paired gaps over seeds, ± standard error; every regime measured")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
