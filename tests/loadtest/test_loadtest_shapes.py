"""Unit tests of the load shapes and duration parsing."""

from __future__ import annotations

import pytest

from loadtest import shapes


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("500ms", 0.5), (12, 12.0)],
)
def test_parse_duration(text, seconds):
    assert shapes.parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten", "5x", "-3"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ValueError, match="duration"):
        shapes.parse_duration(text)


def test_constant_ramps_within_a_quarter_of_short_runs():
    (stage,) = shapes.build_stages("constant", 20, duration=20)
    assert stage == shapes.Stage(20.0, 20, 4.0)
    (stage,) = shapes.build_stages("constant", 200, duration=600)
    assert stage.spawn_rate == 20.0


def test_step_ramp_levels():
    stages = shapes.build_stages("step", 50, step_users=20, step_time=10)
    assert [(s.end, s.users) for s in stages] == [(10.0, 20), (20.0, 40), (30.0, 50)]
    assert shapes.total_duration(stages) == 30.0


def test_spike_returns_to_baseline():
    stages = shapes.build_stages("spike", 10, duration=90, spike_users=100, spike_at=30, spike_time=20)
    assert [(s.end, s.users) for s in stages] == [(30.0, 10), (50.0, 100), (90.0, 10)]
    assert stages[1].spawn_rate == 45.0
    with pytest.raises(ValueError, match="spike must end"):
        shapes.build_stages("spike", 10, duration=30, spike_at=20, spike_time=20)


def test_soak_and_poisson_defaults():
    assert shapes.total_duration(shapes.build_stages("soak", 5)) == 1800.0
    (stage,) = shapes.build_stages("poisson", 2, duration=60)
    assert (stage.users, stage.spawn_rate) == (2, 2.0)


def test_stage_at_ends_the_run():
    stages = shapes.build_stages("step", 20, step_users=10, step_time=5)
    assert shapes.stage_at(stages, 0).users == 10
    assert shapes.stage_at(stages, 7).users == 20
    assert shapes.stage_at(stages, 10) is None


def test_unknown_shape_lists_valid_ones():
    with pytest.raises(ValueError, match="constant, step, spike, soak, poisson"):
        shapes.build_stages("ramp", 1)
