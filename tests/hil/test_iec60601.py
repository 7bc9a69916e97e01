"""Tests for hil.iec60601: flows, start-up curve, trumpet curve and mean error A on hand-worked data."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.iec60601 import (
    PROTOCOL,
    analyse,
    check_uniform_sampling,
    flows_ml_h,
    load_protocol,
    trumpet_curve,
)

S_MIN = 0.5
D_G_ML = 0.998
RATE_ML_H = 5.0
READINGS = 241  # W0 at 0 min .. W240 at 120 min


def masses_from_flows(flows_ml_h_list, start_g=0.0, s_min=S_MIN, d_g_ml=D_G_ML):
    """Balance readings a pump with these per-interval flows would produce (W0 = start_g)."""
    masses = [start_g]
    for q in flows_ml_h_list:
        masses.append(masses[-1] + q * s_min * d_g_ml / 60.0)
    return masses


def square_ripple(high_ml_h, low_ml_h, half_period_samples, count):
    """`half_period_samples` flows at high, then as many at low, repeated `count` flows long."""
    period = 2 * half_period_samples
    return [high_ml_h if i % period < half_period_samples else low_ml_h for i in range(count)]


def trumpet_by_window(result):
    return {point.window_min: point for point in result.trumpet}


def test_protocol_file_holds_the_standard_figures():
    """The data file gives S = 0.5 min, the second hour and the five windows of the method."""
    protocol = load_protocol()
    assert protocol.sample_interval_min == 0.5
    assert (protocol.analysis_start_min, protocol.analysis_end_min) == (60.0, 120.0)
    assert protocol.observation_windows_min == (2.0, 5.0, 11.0, 19.0, 31.0)
    assert protocol.water_density_g_ml == pytest.approx(0.998, abs=0.001)


def test_flow_per_sample_uses_interval_and_density():
    """Qi = 60 (Wi - Wi-1) / (S d): 0.041583 g in 0.5 min at d = 0.998 is 5.0 mL/h."""
    # 5 mL/h x 0.5 min / 60 min/h = 0.0416667 mL; x 0.998 g/mL = 0.0415833 g per interval.
    increment_g = 5.0 * 0.5 / 60.0 * 0.998
    flows = flows_ml_h([10.0, 10.0 + increment_g, 10.0 + 2 * increment_g], 0.5, 0.998)
    assert flows == pytest.approx([5.0, 5.0], rel=1e-12)


def test_constant_two_percent_over_gives_two_percent_everywhere():
    """A pump running 2 % fast (5.1 mL/h at r = 5): every Ep and A are +2 %."""
    # 5.1 mL/h -> 5.1 x 0.5 / 60 x 0.998 = 0.0424150 g per interval, W_i = 0.042415 i.
    masses = [0.0424150 * i for i in range(READINGS)]
    result = analyse(masses, RATE_ML_H)
    assert result.mean_error_pct == pytest.approx(2.0, abs=1e-9)
    assert result.mean_flow_ml_h == pytest.approx(5.1, abs=1e-9)
    for point in result.trumpet:
        assert point.ep_max_pct == pytest.approx(2.0, abs=1e-9)
        assert point.ep_min_pct == pytest.approx(2.0, abs=1e-9)


def test_window_sizes_and_counts_follow_the_standard():
    """k = P/S samples per window and m = (60 - P)/S + 1 windows in the second hour."""
    masses = [0.0415833 * i for i in range(READINGS)]
    points = trumpet_by_window(analyse(masses, RATE_ML_H))
    # P:   2    5    11   19   31
    # k:   4    10   22   38   62
    # m: 117  111   99   83   59   ((60 - P) / 0.5 + 1)
    expected = {2.0: (4, 117), 5.0: (10, 111), 11.0: (22, 99), 19.0: (38, 83), 31.0: (62, 59)}
    assert {p: (pt.samples_per_window, pt.window_count) for p, pt in points.items()} == expected


def test_square_ripple_trumpet_matches_hand_calculation():
    """A 4-min square ripple of +11 % / -9 % gives the hand-worked Ep(max), Ep(min) and A."""
    # Flow errors repeat every 8 samples (4 min): four at +11 %, four at -9 % (mean +1 %).
    # The second hour holds 15 whole periods, so A = (4 x 11 - 4 x 9) / 8 = +1 %.
    # A window of k samples = whole periods (sum 8 % per period) + r extra consecutive samples;
    # it can start at any phase, so the extremes come from the extras alone:
    #   P=2,  k=4  : 4 extras, all +11 or all -9            -> max 11,          min -9
    #   P=5,  k=10 : 1 period + 2 extras (max +22, min -18) -> (8+22)/10 = 3,   (8-18)/10 = -1
    #   P=11, k=22 : 2 periods + 6 extras; 6 consecutive hold 4 of one level and 2 of the
    #                other: max 4x11-2x9 = 26, min 2x11-4x9 = -14
    #                                                       -> 42/22 = 1.90909, 2/22 = 0.09091
    #   P=19, k=38 : 4 periods + 6 extras                   -> 58/38 = 1.52632, 18/38 = 0.47368
    #   P=31, k=62 : 7 periods + 6 extras                   -> 82/62 = 1.32258, 42/62 = 0.67742
    flows = square_ripple(5.55, 4.55, 4, READINGS - 1)
    result = analyse(masses_from_flows(flows), RATE_ML_H)
    expected = {
        2.0: (11.0, -9.0),
        5.0: (3.0, -1.0),
        11.0: (42 / 22, 2 / 22),
        19.0: (58 / 38, 18 / 38),
        31.0: (82 / 62, 42 / 62),
    }
    points = trumpet_by_window(result)
    for window_min, (ep_max, ep_min) in expected.items():
        assert points[window_min].ep_max_pct == pytest.approx(ep_max, abs=1e-9), window_min
        assert points[window_min].ep_min_pct == pytest.approx(ep_min, abs=1e-9), window_min
    assert result.mean_error_pct == pytest.approx(1.0, abs=1e-9)


def test_start_up_delay_shows_in_the_start_up_curve_only():
    """No flow for the first 3 min: Qi = 0 for six intervals, then r; the second hour is exact."""
    # Intervals 1-6 (ending at 0.5 .. 3.0 min) deliver nothing, the rest 5 mL/h exactly.
    flows = [0.0] * 6 + [5.0] * (READINGS - 7)
    result = analyse(masses_from_flows(flows, start_g=31.7), RATE_ML_H)
    assert result.t_min[:8] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0])
    assert result.flow_ml_h[:6] == pytest.approx([0.0] * 6, abs=1e-9)
    assert result.flow_ml_h[6] == pytest.approx(5.0, abs=1e-9)
    assert result.mean_error_pct == pytest.approx(0.0, abs=1e-9)
    assert all(abs(p.ep_max_pct) < 1e-9 and abs(p.ep_min_pct) < 1e-9 for p in result.trumpet)


def test_first_hour_bolus_and_readings_after_two_hours_are_not_analysed():
    """A bolus at 10 min and a stop after 120 min leave A and the trumpet untouched."""
    flows = [5.0] * (READINGS - 1)
    flows[19] = 300.0  # 2.5 mL in the half minute ending at 10 min
    flows += [0.0] * 20  # pump stopped, balance still read for 10 more minutes
    result = analyse(masses_from_flows(flows), RATE_ML_H)
    assert result.flow_ml_h[19] == pytest.approx(300.0)
    assert len(result.flow_ml_h) == 260
    assert result.mean_error_pct == pytest.approx(0.0, abs=1e-9)
    assert all(abs(p.ep_min_pct) < 1e-9 for p in result.trumpet)


def test_second_hour_window_alone_carries_a_local_dip():
    """One empty interval at 90 min: Ep(min) for P = 2 is -25 %, A = -100/120 %."""
    # One of 120 flows is 0 (-100 %): A = -100/120 = -0.8333 %.
    # The 4-sample windows that contain it average -100/4 = -25 %; the 62-sample ones -100/62.
    flows = [5.0] * (READINGS - 1)
    flows[179] = 0.0  # interval ending at 90 min
    points = trumpet_by_window(analyse(masses_from_flows(flows), RATE_ML_H))
    assert points[2.0].ep_min_pct == pytest.approx(-25.0, abs=1e-9)
    assert points[2.0].ep_max_pct == pytest.approx(0.0, abs=1e-9)
    assert points[31.0].ep_min_pct == pytest.approx(-100 / 62, abs=1e-9)
    assert analyse(masses_from_flows(flows), RATE_ML_H).mean_error_pct == pytest.approx(-100 / 120)


def test_mean_error_can_lie_above_every_31_min_window():
    """A is not bounded by the 31-min extremes: windows that all share the hour's middle."""
    # Second hour: 58 flows at +20 %, 4 at 0 % (samples 59-62), 58 at +20 %.
    # Every 62-sample window (j = 1..59) contains samples 59-62, so each holds 58 x 20 % + 4 x 0:
    #   Ep(max) = Ep(min) = 58 x 20 / 62 = 18.710 %, while A = 116 x 20 / 120 = 19.333 %.
    second_hour = [6.0] * 58 + [5.0] * 4 + [6.0] * 58
    flows = [5.0] * 120 + second_hour
    result = analyse(masses_from_flows(flows), RATE_ML_H)
    window_31 = trumpet_by_window(result)[31.0]
    assert window_31.ep_max_pct == pytest.approx(58 * 20 / 62, abs=1e-9)
    assert window_31.ep_min_pct == pytest.approx(58 * 20 / 62, abs=1e-9)
    assert result.mean_error_pct == pytest.approx(116 * 20 / 120, abs=1e-9)


def test_uniform_sampling_accepts_jitter_of_a_second():
    """Readings alternately a second early and late (3 % of S) are accepted."""
    t_min = [0.5 * i + (1 / 60 if i % 2 else -1 / 60) * (i > 0) for i in range(READINGS)]
    check_uniform_sampling(t_min, 0.5)


def test_missing_reading_is_rejected_with_where_and_allowed_range():
    """A gap of one reading is non-uniform sampling: the error names the reading and range."""
    t_min = [0.5 * i for i in range(READINGS)]
    del t_min[37]
    masses = [0.0415833 * i for i in range(len(t_min))]
    with pytest.raises(ValueError, match=r"reading 38 at t = 19 min .* expected 18\.5 \+/- 0\.025 min"):
        analyse(masses, RATE_ML_H, t_min=t_min)


def test_drifting_clock_is_rejected_even_though_each_step_looks_fine():
    """Readings 0.51 min apart drift off the grid: the 4th is 0.03 min late (> 0.025)."""
    t_min = [0.51 * i for i in range(READINGS)]
    with pytest.raises(ValueError, match=r"reading 4 at t = 1\.53 min .* expected 1\.5"):
        check_uniform_sampling(t_min, 0.5)


def test_times_and_masses_must_pair_up():
    """A different number of times and weights is refused."""
    with pytest.raises(ValueError, match="240 reading times for 241 weights"):
        analyse([0.0] * READINGS, RATE_ML_H, t_min=[0.5 * i for i in range(240)])


def test_too_few_readings_names_what_is_needed():
    """A 100-min recording cannot give the second hour: 241 readings are needed."""
    masses = [0.0415833 * i for i in range(201)]
    with pytest.raises(ValueError, match=r"needs 241 readings .* got 201 \(100 min\)"):
        analyse(masses, RATE_ML_H)


@pytest.mark.parametrize("rate_ml_h", [0.0, -5.0, math.nan])
def test_non_positive_rate_is_rejected(rate_ml_h):
    """r must be a positive number of mL/h."""
    with pytest.raises(ValueError, match="set rate r must be a positive number of mL/h"):
        analyse([0.0415833 * i for i in range(READINGS)], rate_ml_h)


def test_non_positive_density_is_rejected():
    """d = 0 would divide by zero: refused with the expected value in the message."""
    with pytest.raises(ValueError, match=r"water density d .*0\.998 g/mL"):
        flows_ml_h([0.0, 1.0], 0.5, 0.0)


def test_non_finite_reading_is_rejected():
    """A NaN weight (an overload logged as NaN) stops the analysis and names the reading."""
    masses = [0.0415833 * i for i in range(READINGS)]
    masses[100] = math.nan
    with pytest.raises(ValueError, match="reading 101 is nan g"):
        analyse(masses, RATE_ML_H)


def test_window_that_is_not_a_whole_number_of_intervals_is_rejected():
    """With S = 2 min a 5-min window is 2.5 intervals: refused."""
    masses = [0.166333 * i for i in range(61)]
    with pytest.raises(ValueError, match=r"window P = 5 min .* 2\.5 sample intervals"):
        analyse(masses, RATE_ML_H, sample_interval_min=2.0)


def test_window_longer_than_the_analysis_period_is_rejected():
    """A 31-min window does not fit into a 20-min analysis period."""
    flows = [5.0] * 40
    with pytest.raises(ValueError, match="31 min is longer than the 20 min analysis period"):
        trumpet_curve(flows, RATE_ML_H, 0.5)


# Properties ------------------------------------------------------------------------------------

flow_series = st.lists(st.floats(min_value=0.0, max_value=20.0), min_size=READINGS - 1, max_size=READINGS - 1)


@settings(max_examples=40, deadline=None)
@given(flows=flow_series, offset_g=st.floats(min_value=-500.0, max_value=500.0))
def test_adding_a_constant_to_every_weight_changes_nothing(flows, offset_g):
    """A beaker's tare (any offset on all readings) does not change A or the trumpet."""
    plain = analyse(masses_from_flows(flows), RATE_ML_H)
    shifted = analyse(masses_from_flows(flows, start_g=offset_g), RATE_ML_H)
    assert shifted.mean_error_pct == pytest.approx(plain.mean_error_pct, abs=1e-6)
    for a, b in zip(plain.trumpet, shifted.trumpet):
        assert b.ep_max_pct == pytest.approx(a.ep_max_pct, abs=1e-6)
        assert b.ep_min_pct == pytest.approx(a.ep_min_pct, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(flows=flow_series)
def test_mean_error_lies_within_tiling_windows(flows):
    """For P = 2 and 5 min (windows that tile the hour) Ep(min) <= A <= Ep(max)."""
    result = analyse(masses_from_flows(flows), RATE_ML_H)
    for point in result.trumpet:
        if 120 % point.samples_per_window == 0:
            assert point.ep_min_pct - 1e-9 <= result.mean_error_pct <= point.ep_max_pct + 1e-9


@settings(max_examples=40, deadline=None)
@given(flows=flow_series)
def test_window_extremes_lie_within_sample_extremes(flows):
    """Every window mean lies between the worst single-sample errors of the second hour."""
    result = analyse(masses_from_flows(flows), RATE_ML_H)
    second_hour = [100 * (q - RATE_ML_H) / RATE_ML_H for q in result.flow_ml_h[120:240]]
    for point in result.trumpet:
        assert min(second_hour) - 1e-9 <= point.ep_min_pct <= point.ep_max_pct <= max(second_hour) + 1e-9


@settings(max_examples=30, deadline=None)
@given(flows=flow_series, scale=st.floats(min_value=0.1, max_value=10.0))
def test_errors_are_relative_to_the_set_rate(flows, scale):
    """Scaling every flow and the set rate by the same factor leaves all percentages alone."""
    plain = analyse(masses_from_flows(flows), RATE_ML_H)
    scaled = analyse(masses_from_flows([q * scale for q in flows]), RATE_ML_H * scale)
    assert scaled.mean_error_pct == pytest.approx(plain.mean_error_pct, abs=1e-6)
    for a, b in zip(plain.trumpet, scaled.trumpet):
        assert b.ep_max_pct == pytest.approx(a.ep_max_pct, abs=1e-6)


def test_default_windows_are_the_protocol_windows():
    """analyse() without windows reports the five windows of the method, in order."""
    result = analyse([0.0415833 * i for i in range(READINGS)], RATE_ML_H)
    assert tuple(p.window_min for p in result.trumpet) == PROTOCOL.observation_windows_min
