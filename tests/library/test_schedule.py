"""The UBA multiplier against the closed form of docs/schedule.md, pinned values, and bad input."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
from conftest import closed_form
from torch.optim.lr_scheduler import LambdaLR
from transformers import get_cosine_schedule_with_warmup, get_cosine_with_min_lr_schedule_with_warmup

from uba_hf import (
    UBAConfigError,
    UBASchedule,
    get_uba_schedule_with_warmup,
    schedule,
    suggest_schedule,
    uba_factor,
    uba_lr_lambda,
    zero_config_schedule,
)


def make_optimizer(lr: float = 1.0, groups: tuple[float, ...] = ()) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))]}]
    params += [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": g} for g in groups]
    return torch.optim.SGD(params, lr=lr)


def run_lrs(scheduler, steps: int) -> list[list[float]]:
    out = []
    for _ in range(steps):
        out.append(list(scheduler.get_last_lr()))
        scheduler.optimizer.step()
        scheduler.step()
    return out


CASES = [
    # (phi, warmup, budget, min_lr_ratio)
    (1.0, 0, 1, 0.0),
    (0.5, 0, 1, 0.1),
    (1.0, 0, 10, 0.0),
    (0.5, 3, 20, 0.1),
    (2.0, 5, 50, 0.0),
    (4.0, 10, 100, 0.05),
    (0.1, 1, 7, 0.5),
    (1.0, 10, 10, 0.0),  # warmup == budget
    (3.3, 0, 257, 0.0),
]


@pytest.mark.parametrize("phi,W,N,r", CASES)
def test_multiplier_equals_closed_form_at_every_step(phi, W, N, r):
    lr = 3e-4
    scheduler = get_uba_schedule_with_warmup(make_optimizer(lr), W, N, phi=phi, min_lr_ratio=r)
    lrs = run_lrs(scheduler, 3 * N + 5)
    for s, (got,) in enumerate(lrs):
        assert got == pytest.approx(lr * closed_form(s, W, N, phi, r), rel=1e-12, abs=1e-18), s


@pytest.mark.parametrize("phi,W,N,r", CASES)
def test_endpoints_monotone_and_floor_held(phi, W, N, r):
    f = [uba_lr_lambda(s, num_warmup_steps=W, num_training_steps=N, phi=phi, min_lr_ratio=r) for s in range(4 * N)]
    if W < N:
        assert f[W] == 1.0  # eta(0) = eta_max right after warmup
    assert all(a >= b for a, b in zip(f[W:-1], f[W + 1 :], strict=True)), "non-increasing after warmup"
    assert all(v == r for v in f[N:]), "min_lr_ratio reached at the budget and held after it"
    assert all(0 <= v <= 1 for v in f)


def test_phi2_is_transformers_cosine_at_every_step():
    for W, N in [(0, 1), (0, 10), (4, 40), (100, 1000)]:
        ours = run_lrs(get_uba_schedule_with_warmup(make_optimizer(1e-3), W, N, phi=2.0, min_lr_ratio=0.0), N + 1)
        theirs = run_lrs(get_cosine_schedule_with_warmup(make_optimizer(1e-3), W, N), N + 1)
        assert ours == theirs  # bit for bit, including the final 0


def test_phi2_with_floor_is_transformers_cosine_with_min_lr():
    W, N, r = 10, 200, 0.1
    ours = run_lrs(get_uba_schedule_with_warmup(make_optimizer(1e-3), W, N, phi=2.0, min_lr_ratio=r), N + 1)
    theirs = run_lrs(get_cosine_with_min_lr_schedule_with_warmup(make_optimizer(1e-3), W, N, min_lr_rate=r), N + 1)
    assert ours == theirs


@pytest.mark.parametrize("phi,mean", [(0.5, 0.667), (1.0, 0.586), (2.0, 0.500), (4.0, 0.415)])
def test_mean_factor_matches_uba_md(phi, mean):
    T = 100_000
    avg = sum(uba_factor(t, T, phi) for t in range(T)) / T
    assert avg == pytest.approx(mean, abs=1e-3)


def test_pinned_values():
    # Hand-computed: at mid-budget c = 1 so the factor is 2 / (2 + phi).
    for phi in (0.5, 1.0, 2.0, 4.0):
        assert uba_factor(50, 100, phi) == pytest.approx(2 / (2 + phi), rel=1e-15)
    # phi=1, t/T = 1/4: c = 1 + sqrt(2)/2, factor = 2c / (2 + c)
    c = 1 + math.sqrt(2) / 2
    assert uba_factor(25, 100, 1.0) == pytest.approx(2 * c / (2 + c), rel=1e-15)
    # 10-step table, phi=1, warmup 2, budget 10 (multiplier at scheduler steps 0..9)
    table = [uba_lr_lambda(s, num_warmup_steps=2, num_training_steps=10, phi=1.0, min_lr_ratio=0.0) for s in range(10)]
    expected = [0.0, 0.5, 1.0, 0.98060, 0.92099, 0.81751, 0.66667, 0.47172, 0.25548, 0.07333]
    assert table == pytest.approx(expected, abs=5e-6)


@pytest.mark.parametrize("phi", [0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
def test_identities_stated_in_docs_phi_md(phi):
    """The odds, mirror, tangent and mean-factor forms that docs/phi.md derives from the closed form."""
    T = 1000
    for t in (1, 100, 250, 500, 777, 999):
        f = uba_factor(t, T, phi)
        u = 0.5 * (1 + math.cos(math.pi * t / T))
        assert f / (1 - f) == pytest.approx((2 / phi) * u / (1 - u), rel=1e-9)  # odds form
        assert f == pytest.approx(1 - uba_factor(T - t, T, 4 / phi), rel=1e-9, abs=1e-12)  # mirror
        assert f == pytest.approx(1 / (1 + (phi / 2) * math.tan(math.pi * t / (2 * T)) ** 2), rel=1e-9)  # tangent
    T = 100_000
    avg = sum(uba_factor(t, T, phi) for t in range(T)) / T
    assert avg == pytest.approx(1 / (1 + math.sqrt(phi / 2)), abs=1e-4)  # mean factor ("area")


def test_small_phi_keeps_lr_high_large_phi_decays_early():
    mid = [uba_factor(30, 100, phi) for phi in (0.25, 0.5, 1, 2, 4, 8)]
    assert mid == sorted(mid, reverse=True)


def test_param_groups_keep_their_own_base_lr_and_floor():
    opt = make_optimizer(1e-3, groups=(1e-2,))
    sched = get_uba_schedule_with_warmup(opt, 0, 10, phi=1.0, min_lr_ratio=0.1)
    lrs = run_lrs(sched, 12)
    assert lrs[-1] == pytest.approx([1e-4, 1e-3])
    for a, b in lrs:
        assert b == pytest.approx(10 * a)


def test_pickle_and_state_dict_round_trip():
    opt = make_optimizer(1.0)
    sched = get_uba_schedule_with_warmup(opt, 2, 20, phi=0.7, min_lr_ratio=0.2)
    run_lrs(sched, 7)
    clone = pickle.loads(pickle.dumps(sched))
    assert clone.get_last_lr() == sched.get_last_lr()
    state = sched.state_dict()
    torch.save(state, buf := __import__("io").BytesIO())
    buf.seek(0)
    fresh = get_uba_schedule_with_warmup(make_optimizer(1.0), 2, 20, phi=0.7, min_lr_ratio=0.2)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert run_lrs(fresh, 15) == run_lrs(sched, 15)


def test_state_records_the_schedule_and_refuses_another_one():
    sched = get_uba_schedule_with_warmup(make_optimizer(1.0), 2, 20, phi=0.7, min_lr_ratio=0.2)
    run_lrs(sched, 5)
    state = sched.state_dict()
    assert isinstance(sched, LambdaLR) and isinstance(sched, UBASchedule)
    assert state["uba"] == {"num_training_steps": 20, "num_warmup_steps": 2, "phi": 0.7, "min_lr_ratio": 0.2}
    other = get_uba_schedule_with_warmup(make_optimizer(1.0), 3, 30, phi=0.7, min_lr_ratio=0.1)
    with pytest.raises(UBAConfigError) as err:
        other.load_state_dict(state)
    message = str(err.value)
    for diff in (
        "num_training_steps: checkpoint 20 vs now 30",
        "num_warmup_steps: checkpoint 2 vs now 3",
        "min_lr_ratio: checkpoint 0.2 vs now 0.1",
    ):
        assert diff in message
    assert "phi:" not in message  # only the values that differ
    assert "new run from the checkpoint's weights" in message
    assert other.last_epoch == 0  # nothing was loaded


def test_state_without_a_schedule_record_loads_with_a_warning(caplog):
    plain = LambdaLR(make_optimizer(1.0), lambda s: 1.0)
    plain.optimizer.step()  # the order PyTorch expects (no gradients: the weights stay)
    plain.step()
    state = plain.state_dict()
    sched = get_uba_schedule_with_warmup(make_optimizer(1.0), 2, 20, phi=1.0)
    with caplog.at_level("WARNING", logger="uba_hf"):
        sched.load_state_dict(state)
    assert "no UBA schedule record" in caplog.text
    assert sched.last_epoch == 1 and sched.uba["num_training_steps"] == 20


@pytest.mark.parametrize(
    ("lr", "budget", "want"),
    [(1e-3, 400, (0.01, 0.1)), (0.1, 400, (1.0, 0.1)), (0.003, 40_000, (1.0, 0.0)), (0.05, 500, (0.126, 0.1))],
)
def test_a_schedule_without_phi_or_floor_takes_the_zero_config_choice_from_its_budget_and_peak_lr(
    lr, budget, want, caplog
):
    """No fixed default: the LR area (peak LR x updates) decides, the largest param group's LR the peak."""
    pick = zero_config_schedule(budget, lr)
    assert (pick["phi"], pick["min_lr_ratio"]) == want
    with caplog.at_level("INFO", logger="uba_hf"):
        sched = get_uba_schedule_with_warmup(make_optimizer(lr / 10, groups=(lr,)), 2, budget)
        assert not caplog.records  # logged at the first step, when a resume would have replaced the choice
        sched.optimizer.step()  # the order PyTorch expects (no gradients: the weights stay)
        sched.step()
        sched.step()
    assert sched.uba == {"num_training_steps": budget, "num_warmup_steps": 2, "phi": want[0], "min_lr_ratio": want[1]}
    assert sched.not_given == ("phi", "min_lr_ratio")
    assert [r.getMessage() for r in caplog.records] == [
        f"UBA zero-config: phi={want[0]:g}, min_lr_ratio={want[1]:g}, from {pick['reason']}"
    ]
    for group, base in zip(sched.optimizer.param_groups, (lr / 10, lr), strict=True):  # each on the one curve
        assert group["lr"] == pytest.approx(base * closed_form(2, 2, budget, *want), rel=1e-12)


def test_a_schedule_takes_only_what_is_not_given_from_the_zero_config_choice():
    opt = make_optimizer(0.003)  # area 120: phi 1, no floor
    assert get_uba_schedule_with_warmup(opt, 0, 40_000, phi=2.0).uba["min_lr_ratio"] == 0.0
    assert get_uba_schedule_with_warmup(opt, 0, 40_000, min_lr_ratio=0.2).uba["phi"] == 1.0
    given = get_uba_schedule_with_warmup(opt, 0, 40_000, phi=2.0, min_lr_ratio=0.2)
    assert (given.uba["phi"], given.uba["min_lr_ratio"], given.not_given) == (2.0, 0.2, ())
    with pytest.raises(UBAConfigError, match="give phi and min_lr_ratio"):
        get_uba_schedule_with_warmup(make_optimizer(0.0), 0, 100)  # a zero LR has no area


def test_the_removed_fixed_defaults_fail_with_the_way_forward():
    with pytest.raises(ImportError, match=r"DEFAULT_PHI was removed in 0\.4\.0.*zero_config_schedule"):
        from uba_hf import DEFAULT_PHI  # noqa: F401
    import uba_hf

    with pytest.raises(ImportError, match="give min_lr_ratio explicitly"):
        uba_hf.DEFAULT_MIN_LR_RATIO  # noqa: B018
    assert not hasattr(uba_hf, "NO_SUCH_NAME")


def test_suggest_schedule_is_deprecated_with_a_warning_that_names_the_replacement():
    with pytest.warns(FutureWarning, match="removed in 0.5.0.*zero_config_schedule"):
        suggest_schedule(1.0)


@pytest.mark.filterwarnings("ignore:uba_hf.suggest_schedule is deprecated:FutureWarning")
def test_suggest_schedule_switches_at_the_documented_budget():
    """Short budgets: phi 1 with a 10% floor; from SHORT_BUDGET_TOKENS_PER_PARAM on: phi 4 to zero."""
    edge = schedule.SHORT_BUDGET_TOKENS_PER_PARAM
    assert suggest_schedule(0.19) == suggest_schedule(math.nextafter(edge, 0)) == {"phi": 1.0, "min_lr_ratio": 0.1}
    assert suggest_schedule(edge) == suggest_schedule(20) == suggest_schedule(1e4) == {"phi": 4.0, "min_lr_ratio": 0.0}
    # A fresh dict each call (usable as lr_scheduler_kwargs and mutable), always a valid schedule.
    kwargs = suggest_schedule(20)
    kwargs["phi"] = 2.0
    assert suggest_schedule(20)["phi"] == 4.0
    with pytest.raises(TypeError):
        schedule.LONG_BUDGET_SCHEDULE["phi"] = 2.0  # the rule's constants are read-only
    assert suggest_schedule(np.float32(20)) == {"phi": 4.0, "min_lr_ratio": 0.0}  # numpy numbers are numbers
    assert suggest_schedule(np.int64(1)) == {"phi": 1.0, "min_lr_ratio": 0.1}


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "20", True, None])
@pytest.mark.filterwarnings("ignore:uba_hf.suggest_schedule is deprecated:FutureWarning")
def test_suggest_schedule_rejects_a_bad_budget(bad):
    with pytest.raises(UBAConfigError, match="`tokens_per_param`"):
        suggest_schedule(bad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"phi": 0.0}, "`phi`"),
        ({"phi": -1.0}, "`phi`"),
        ({"phi": float("nan")}, "`phi`"),
        ({"phi": float("inf")}, "`phi`"),
        ({"phi": "1.0"}, "`phi`"),
        ({"min_lr_ratio": 1.0}, r"`min_lr_ratio`.*\[0, 1\)"),
        ({"min_lr_ratio": -0.1}, r"`min_lr_ratio`.*\[0, 1\)"),
        ({"min_lr_ratio": float("nan")}, r"`min_lr_ratio`"),
        ({"num_warmup_steps": 11}, r"`num_warmup_steps` \(11\) must be <= `num_training_steps` \(10\)"),
        ({"num_warmup_steps": -1}, "`num_warmup_steps`.*>= 0"),
        ({"num_training_steps": 0}, "`num_training_steps`.*>= 1"),
        ({"num_training_steps": 10.5}, "`num_training_steps`.*integer"),
        ({"num_warmup_steps": 0.5}, "`num_warmup_steps`.*integer"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(kwargs, match):
    args = {"num_warmup_steps": 0, "num_training_steps": 10, "phi": 1.0, "min_lr_ratio": 0.0} | kwargs
    with pytest.raises(ValueError, match=match):
        get_uba_schedule_with_warmup(make_optimizer(), **args)
