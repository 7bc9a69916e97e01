"""Tests for sim.force_sensor: HX711 sample-and-hold, gain, noise, saturation and injected faults."""

import statistics

import pytest

from sim.force_sensor import COUNTS_MAX, COUNTS_MIN, ForceSensor, force_n_from_counts


class Source:
    """A settable force, standing in for the plant."""

    def __init__(self, force_n=0.0):
        self.force_n = force_n

    def __call__(self):
        return self.force_n


def quiet_sensor(source, samples_per_s=10, **kwargs):
    return ForceSensor(source, samples_per_s=samples_per_s, counts_per_n=4200, offset_counts=1000, noise_sd_counts=0.0, **kwargs)


def test_reading_is_offset_plus_gain_times_force():
    """Without noise a reading is offset + counts_per_n x force, and the host inverse recovers the force."""
    sensor = quiet_sensor(Source(12.5))
    counts = sensor.read(0.0)
    assert counts == 1000 + 4200 * 12.5
    assert force_n_from_counts(counts, 4200, 1000) == pytest.approx(12.5)


def test_sample_and_hold_between_conversions_at_10_per_s():
    """At 10 samples/s a change of force shows only at the next 100 ms conversion."""
    source = Source(1.0)
    sensor = quiet_sensor(source)
    first = sensor.read(0.0)
    source.force_n = 2.0
    assert sensor.read(0.05) == first
    assert sensor.read(0.0999) == first
    assert sensor.read(0.1) == 1000 + 4200 * 2.0


@pytest.mark.parametrize("samples_per_s", [10, 80])
def test_conversion_count_follows_the_output_rate(samples_per_s):
    """Over one second the converter completes samples_per_s conversions, however often it is read."""
    sensor = quiet_sensor(Source(), samples_per_s=samples_per_s)
    sensor.read(0.0)
    before = sensor.sample_count
    for tick in range(1, 11):
        sensor.read(tick * 0.1)
    assert sensor.sample_count - before == samples_per_s
    assert sensor.last_sample_t_s == pytest.approx(1.0)


def test_noise_has_the_configured_spread_and_no_bias():
    """Seeded Gaussian noise: mean at the true count, SD at the configured counts."""
    sensor = ForceSensor(Source(10.0), samples_per_s=80, counts_per_n=4200, offset_counts=0, noise_sd_counts=50.0, seed=4)
    readings = [sensor.read(i / 80) for i in range(4000)]
    assert statistics.fmean(readings) == pytest.approx(42000, abs=5)
    assert statistics.pstdev(readings) == pytest.approx(50.0, rel=0.08)


def test_default_noise_comes_from_the_data_and_is_larger_at_80_per_s():
    """Without an explicit noise figure the data file's per-rate value is used (80/s noisier)."""
    slow = ForceSensor(Source(), samples_per_s=10)
    fast = ForceSensor(Source(), samples_per_s=80)
    assert 0 < slow.noise_sd_counts < fast.noise_sd_counts


def test_same_seed_same_noise():
    """Two sensors with one seed give identical readings; another seed differs."""
    def readings(seed):
        sensor = ForceSensor(Source(3.0), samples_per_s=10, noise_sd_counts=40.0, seed=seed)
        return [sensor.read(i / 10) for i in range(50)]

    assert readings(7) == readings(7)
    assert readings(7) != readings(8)


def test_saturates_at_the_24_bit_rails():
    """Forces beyond the converter's range read as the 24-bit two's-complement extremes."""
    source = Source(5000.0)
    sensor = quiet_sensor(source)
    assert sensor.read(0.0) == COUNTS_MAX == 2**23 - 1
    source.force_n = -5000.0
    assert sensor.read(0.1) == COUNTS_MIN == -(2**23)


def test_silent_fault_stops_conversions_until_cleared():
    """A silent sensor returns its last value and its conversion count stops rising."""
    source = Source(1.0)
    sensor = quiet_sensor(source)
    held = sensor.read(0.0)
    sensor.inject_fault("silent")
    count = sensor.sample_count
    source.force_n = 9.0
    assert sensor.read(1.0) == held
    assert sensor.sample_count == count
    sensor.clear_fault()
    assert sensor.read(1.1) == 1000 + 4200 * 9.0
    assert sensor.sample_count == count + 1


def test_stuck_fault_keeps_converting_one_value():
    """A stuck sensor keeps converting but repeats one value whatever the force."""
    source = Source(1.0)
    sensor = quiet_sensor(source)
    held = sensor.read(0.0)
    sensor.inject_fault("stuck")
    source.force_n = 9.0
    count = sensor.sample_count
    assert sensor.read(0.5) == held
    assert sensor.sample_count == count + 5
    sensor.inject_fault("stuck", counts=123)
    assert sensor.read(0.6) == 123


def test_out_of_range_fault_pins_a_rail():
    """An out-of-range fault reads the upper rail, or the lower one when asked."""
    sensor = quiet_sensor(Source(1.0))
    sensor.inject_fault("out_of_range")
    assert sensor.read(0.0) == COUNTS_MAX
    sensor.inject_fault("out_of_range", counts=-1)
    assert sensor.read(0.1) == COUNTS_MIN


def test_bad_configuration_is_refused():
    """A rate the HX711 does not have, a zero gain and an unknown fault are refused."""
    with pytest.raises(ValueError, match="use 10 or 80"):
        ForceSensor(Source(), samples_per_s=20)
    with pytest.raises(ValueError, match="must be > 0"):
        ForceSensor(Source(), counts_per_n=0)
    with pytest.raises(ValueError, match="silent, stuck, out_of_range"):
        ForceSensor(Source()).inject_fault("smoke")
