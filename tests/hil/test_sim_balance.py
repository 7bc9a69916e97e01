"""Tests for hil.sim_balance: the simulated MT-SICS balance, alone and over its pty through pyserial."""

import os
import statistics

import pytest
import serial

from hil.balance import Balance
from hil.mtsics import BalanceBusy, Overload, Reply, parse_reply
from hil.sim_balance import SimulatedBalance, load_model


class FakeClock:
    """A clock the test moves by hand, so stability does not depend on how fast CI runs."""

    def __init__(self):
        self.now_s = 1000.0

    def __call__(self):
        return self.now_s


def weighed(line):
    """parse_reply for lines that must be a Reply (not an ES/ET/EL line)."""
    parsed = parse_reply(line)
    assert isinstance(parsed, Reply)
    return parsed


def value_g(line):
    """The weight a reply line carries (it must carry one)."""
    value = weighed(line).value
    assert value is not None
    return value


def quiet_sim(load_g, **kwargs):
    """A noiseless 0.01 g balance on a hand-moved clock weighing load_g[0]."""
    kwargs.setdefault("noise_g", 0.0)
    kwargs.setdefault("clock", FakeClock())
    return SimulatedBalance(lambda: load_g[0], **kwargs)


def test_models_from_the_data_file():
    """'precision' reads to 0.01 g (2 decimals), 'analytical' to 0.1 mg (4 decimals)."""
    assert load_model("precision").readability_g == 0.01 and load_model("precision").decimals == 2
    assert load_model("analytical").readability_g == 0.0001 and load_model("analytical").decimals == 4
    with pytest.raises(ValueError, match="no balance model 'kitchen'; choose one of analytical, precision"):
        load_model("kitchen")


def test_reading_is_rounded_to_readability_in_mt_sics_layout():
    """52.3049 g on a 0.01 g balance reads 'S S      52.30 g'; on a 0.1 mg one '52.3049'."""
    assert quiet_sim([52.3049]).respond("SI") == "S S      52.30 g"
    assert quiet_sim([52.3049], model="analytical").respond("SI") == "S S    52.3049 g"


def test_reading_is_dynamic_while_the_load_moves_then_stable():
    """A load change makes SI answer D until the stability window (1 s) has passed."""
    load_g, clock = [10.0], FakeClock()
    sim = quiet_sim(load_g, clock=clock)
    assert sim.respond("SI") == "S S      10.00 g"
    load_g[0] = 10.5
    assert sim.respond("SI") == "S D      10.50 g"
    clock.now_s += 0.5
    assert weighed(sim.respond("SI")).status == "D"
    clock.now_s += 0.6
    assert sim.respond("SI") == "S S      10.50 g"


def test_change_smaller_than_one_step_stays_stable():
    """A 4 mg drift on a 0.01 g balance does not make the reading dynamic."""
    load_g = [10.000]
    sim = quiet_sim(load_g)
    sim.respond("SI")
    load_g[0] = 10.004
    assert weighed(sim.respond("SI")).status == "S"


def test_stable_weight_request_times_out_with_s_i():
    """S on a load that keeps moving answers 'S I' after the stability time-out."""
    load_g = [10.0]
    sim = quiet_sim(load_g, stability_timeout_s=0.1)
    sim.respond("SI")
    load_g[0] = 11.0
    assert sim.respond("S") == "S I"


def test_zero_and_tare():
    """Z zeroes an empty pan, T tares a beaker; later readings are net of both."""
    load_g, clock = [1.37], FakeClock()
    sim = quiet_sim(load_g, clock=clock)
    assert sim.respond("Z") == "Z A"
    assert sim.respond("SI") == "S S       0.00 g"
    load_g[0] = 1.37 + 52.30
    clock.now_s += 2.0
    assert sim.respond("T") == "T S      52.30 g"
    load_g[0] += 4.99
    clock.now_s += 2.0
    assert sim.respond("S") == "S S       4.99 g"


def test_zero_outside_the_zero_range_is_refused():
    """Z with 52 g on a 620 g balance (zero range +/-2 % = 12.4 g) answers 'Z +'."""
    assert quiet_sim([52.0]).respond("Z") == "Z +"
    assert quiet_sim([-20.0]).respond("ZI") == "ZI -"


def test_zero_immediately_reports_dynamic_state():
    """ZI on a moving load zeroes at once and says so with 'ZI D'."""
    load_g = [0.5]
    sim = quiet_sim(load_g)
    sim.respond("SI")
    load_g[0] = 0.8
    assert sim.respond("ZI") == "ZI D"
    assert value_g(sim.respond("SI")) == 0.0


def test_overload_and_underload():
    """Above capacity reads 'S +', a missing pan (well below zero) 'S -'."""
    assert quiet_sim([620.02]).respond("SI") == "S +"
    assert quiet_sim([-15.0]).respond("SI") == "S -"


def test_unknown_command_and_bad_bytes():
    """Unknown commands get ES; bytes that are not ASCII get ET."""
    sim = quiet_sim([1.0])
    assert sim.respond("XYZ") == "ES"
    assert sim.respond("S 5") == "ES"
    assert sim.respond_bytes(b"S\xff\r") == "ET"


def test_identification_commands():
    """@ and I4 give the serial number, I2 the model and capacity."""
    sim = quiet_sim([0.0], serial_number="B123456789")
    assert sim.respond("I4") == 'I4 A "B123456789"'
    assert sim.respond("@") == 'I4 A "B123456789"'
    assert sim.respond("I2") == 'I2 A "SIM-PRECISION 620.00 g"'


def test_noise_is_seeded_and_has_the_given_spread():
    """Same seed, same readings; 2000 readings at noise 0.05 g have a spread of about 0.05 g."""
    sim_a = quiet_sim([100.0], noise_g=0.05, seed=7, readability_g=0.001)
    sim_b = quiet_sim([100.0], noise_g=0.05, seed=7, readability_g=0.001)
    series_a = [value_g(sim_a.respond("SI")) for _ in range(2000)]
    series_b = [value_g(sim_b.respond("SI")) for _ in range(2000)]
    assert series_a == series_b
    assert statistics.stdev(series_a) == pytest.approx(0.05, rel=0.1)
    assert statistics.mean(series_a) == pytest.approx(100.0, abs=0.005)


def test_evaporation_is_off_by_default_and_takes_mass_per_minute():
    """With 2 mg/min evaporation, 10 min take 0.02 g off the reading; without, nothing."""
    clock = FakeClock()
    dry = quiet_sim([50.0], clock=clock)
    wet = quiet_sim([50.0], clock=clock, evaporation_g_min=0.002)
    clock.now_s += 600.0
    assert dry.respond("SI") == "S S      50.00 g"
    assert wet.respond("SI") == "S S      49.98 g"


def test_bad_parameters_are_refused():
    """Zero readability or negative noise is refused with the name and value."""
    with pytest.raises(ValueError, match="readability_g must be positive; got 0"):
        quiet_sim([0.0], readability_g=0.0)
    with pytest.raises(ValueError, match="noise_g and evaporation_g_min must be >= 0"):
        quiet_sim([0.0], noise_g=-0.1)


def test_port_exists_only_while_serving():
    """.port is a pty path between start() and stop()."""
    sim = quiet_sim([0.0])
    with pytest.raises(RuntimeError, match="start"):
        _ = sim.port
    with sim:
        assert os.path.exists(sim.port) and sim.port.startswith("/dev/")


# Over the real pty, through pyserial -------------------------------------------------------------


def test_balance_client_zeroes_and_reads_over_the_pty():
    """The Balance client zeroes the simulator and reads its weight over the pty."""
    load_g, clock = [2.5], FakeClock()
    with quiet_sim(load_g, clock=clock) as sim, Balance(sim.port, timeout_s=5.0) as balance:
        balance.zero()
        reading = balance.weight_stable()
        assert (reading.value_g, reading.stable) == (0.0, True)
        load_g[0] = 2.5 + 1.25
        dynamic = balance.weight_immediate()
        assert (dynamic.value_g, dynamic.stable) == (1.25, False)
        clock.now_s += 2.0
        assert balance.weight_immediate().stable


def test_stable_request_on_moving_load_raises_busy_over_the_pty():
    """S that never settles comes back as 'S I', raised as BalanceBusy naming the port."""
    load_g = [1.0]
    with quiet_sim(load_g, stability_timeout_s=0.1) as sim, Balance(sim.port, timeout_s=5.0) as balance:
        balance.weight_immediate()
        load_g[0] = 3.0
        with pytest.raises(BalanceBusy, match=f"'S I' to 'S'.*port {sim.port}"):
            balance.weight_stable()


def test_overload_over_the_pty():
    """An overloaded pan raises Overload through the client."""
    with quiet_sim([700.0]) as sim, Balance(sim.port, timeout_s=5.0) as balance:
        with pytest.raises(Overload):
            balance.weight_immediate()


def test_overlong_line_is_a_transmission_error():
    """More than 256 bytes without a line end are answered ET and dropped."""
    with quiet_sim([0.0]) as sim, serial.serial_for_url(sim.port, timeout=5.0) as port:
        port.write(b"S" * 300)
        assert port.read_until(b"\n") == b"ET\r\n"
        port.write(b"SI\r\n")
        assert port.read_until(b"\n") == b"S S       0.00 g\r\n"


def test_failure_in_the_load_function_is_reported_at_stop():
    """If mass_g_at raises, stop() says so instead of the failure passing silently."""

    def broken_load():
        raise ZeroDivisionError("plant model failed")

    sim = SimulatedBalance(broken_load, clock=FakeClock())
    sim.start()
    with pytest.raises(RuntimeError, match="plant model failed"):
        sim.stop()
