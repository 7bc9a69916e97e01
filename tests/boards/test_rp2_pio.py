"""The Pico's PIO programs (firmware/hal/rp2_pio.py, assembled from the firmware's own source)
run in the RP2040 PIO emulator: exact step counts, pulse widths and periods from 0.5 to 20,000
steps/s, a counter that counts what was emitted, and a gate that stops a runaway generator."""

import pytest

from firmware.hal import rp2_pio
from tests.boards.fakes import machine as fake_machine
from tests.boards.fakes import rp2 as fake_rp2
from tests.boards.fakes.pio_cosim import SYS_HZ

STEP, DIR, GATE = 2, 3, 5
CYCLES_PER_US = SYS_HZ // 1_000_000
DRIVER_MIN_NS = {"A4988": 1000, "DRV8825": 1900, "TMC2209": 100}


class Rig:
    """Generator, gate and counter wired as firmware.hal.rp2 wires them."""

    def __init__(self, high_cycles: int) -> None:
        self.high = high_cycles
        self.gen = fake_rp2.StateMachine(0, rp2_pio.step_generator(high_cycles), freq=rp2_pio.GENERATOR_FREQ_HZ,
                                         set_base=STEP, out_base=DIR, in_base=GATE)
        self.gate = fake_rp2.StateMachine(5, rp2_pio.step_gate, set_base=GATE, in_base=STEP)
        self.counter = fake_rp2.StateMachine(4, rp2_pio.step_counter, in_base=STEP, jmp_pin=DIR)
        self.counter.exec("mov(x, invert(null))")
        self.counter.exec("mov(y, invert(null))")
        for sm in (self.gen, self.gate, self.counter):
            sm.active(1)
        self.bus = fake_rp2.bus

    def budget(self, steps: int) -> None:
        self.gate.put(steps - 1)

    def command(self, steps: int, period_us: int, dir_level: int = 1) -> None:
        self.gen.put(rp2_pio.command_word(steps, dir_level))
        self.gen.put(rp2_pio.timing_word(period_us, self.high))

    def counted(self, register: str) -> int:
        self.counter.exec("mov(isr, invert(%s))" % register)
        self.counter.exec("push(noblock)")
        return self.counter.get()

    def pulses_us(self) -> list[tuple[float, float]]:
        return [(rise / CYCLES_PER_US, fall / CYCLES_PER_US) for rise, fall in self.bus.pulses(STEP)]


def _widths_and_periods(rig: Rig):
    pulses = rig.pulses_us()
    highs = [fall - rise for rise, fall in pulses]
    periods = [b[0] - a[0] for a, b in zip(pulses, pulses[1:])]
    lows = [b[0] - a[1] for a, b in zip(pulses, pulses[1:])]
    return pulses, highs, periods, lows


RATES = [(driver, 10_000, 5) for driver in sorted(DRIVER_MIN_NS)] + [(driver, 200, 40) for driver in sorted(DRIVER_MIN_NS)]
RATES += [("A4988", 50, 40), ("DRV8825", 2_000_000, 2)]  # 20,000 steps/s and 0.5 step/s


@pytest.mark.parametrize("driver,period_us,steps", RATES)
def test_pulse_train_is_exact_at_every_rate(driver, period_us, steps):
    """n pulses, each high for the driver's minimum (rounded up) and exactly period_us apart."""
    high = rp2_pio.high_cycles_for(DRIVER_MIN_NS[driver])
    rig = Rig(high)
    rig.budget(steps)
    rig.command(steps, period_us)
    rig.bus.run_us(period_us * (steps + 1))
    pulses, highs, periods, lows = _widths_and_periods(rig)
    assert len(pulses) == steps
    assert all(h * 1000 >= DRIVER_MIN_NS[driver] for h in highs)
    assert highs == [high] * steps
    assert periods == [period_us] * (steps - 1)
    assert all(low * 1000 >= DRIVER_MIN_NS[driver] for low in lows)


def test_shortest_period_is_the_programs_own_overhead():
    """At min_period_us the pulses still come out whole and evenly spaced (about 24,000 steps/s)."""
    high = rp2_pio.high_cycles_for(DRIVER_MIN_NS["A4988"])
    rig = Rig(high)
    period = rp2_pio.min_period_us(high)
    rig.budget(20)
    rig.command(20, period)
    rig.bus.run_us(period * 22)
    _, highs, periods, lows = _widths_and_periods(rig)
    assert len(highs) == 20 and set(periods) == {period} and min(lows) > high


def test_dir_is_set_well_before_the_first_step_of_a_command():
    """After a reversal DIR changes at least the DRV8825's 650 ns before the next rising edge."""
    rig = Rig(3)
    rig.budget(3)
    rig.command(3, 100, dir_level=1)
    rig.budget(3)
    rig.command(3, 100, dir_level=0)
    rig.bus.run_us(1000)
    dir_change = [e.t for e in rig.bus.edges if e.pin == DIR and e.level == 0][0]
    next_rise = min(t for t in rig.bus.rising_edges(STEP) if t > dir_change)
    assert next_rise - dir_change >= 650 * CYCLES_PER_US // 1000


def test_counter_counts_each_edge_by_the_dir_level_it_saw():
    """Forward and reverse commands: the counter's two tallies equal the edges seen on the pads."""
    rig = Rig(2)
    for steps, level in ((7, 1), (3, 0), (5, 1)):
        rig.budget(steps)
        rig.command(steps, 80, dir_level=level)
        rig.bus.run_us(80 * (steps + 1))
    dir_at = {}
    level = 0
    for e in rig.bus.edges:
        if e.pin == DIR:
            level = e.level
        if e.pin == STEP and e.level == 1:
            dir_at[e.t] = level
    assert rig.counted("y") == sum(1 for v in dir_at.values() if v == 1) == 12
    assert rig.counted("x") == sum(1 for v in dir_at.values() if v == 0) == 3


def test_runaway_generator_stops_at_the_budget():
    """A command for 50 steps with a budget of 8: 8 pulses (at most one over), then the gate shuts."""
    rig = Rig(2)
    rig.budget(8)
    rig.command(50, 60)
    rig.bus.run_us(60 * 60)
    assert len(rig.bus.pulses(STEP)) == 8
    assert rig.counted("y") == 8
    assert rig.bus.level(GATE) == 1  # closed


def test_a_new_budget_lets_exactly_that_many_more_through():
    """The held runaway goes on for 4 steps only when 4 more are budgeted."""
    rig = Rig(2)
    rig.budget(5)
    rig.command(50, 60)
    rig.bus.run_us(60 * 20)
    rig.budget(4)
    rig.bus.run_us(60 * 20)
    assert len(rig.bus.pulses(STEP)) == 9


def test_no_budget_no_steps():
    """A command with no budget loaded emits nothing: the gate starts closed."""
    rig = Rig(2)
    rig.command(10, 60)
    rig.bus.run_us(2000)
    assert rig.bus.pulses(STEP) == [] and rig.bus.level(GATE) == 1


def test_budgets_chain_without_a_gap():
    """Two budgets loaded back to back carry one command through with even spacing."""
    rig = Rig(2)
    rig.budget(6)
    rig.budget(6)
    rig.command(12, 100)
    rig.bus.run_us(100 * 14)
    _, _, periods, _ = _widths_and_periods(rig)
    assert len(periods) == 11 and set(periods) == {100}


def test_high_time_beyond_one_instruction_is_refused():
    """A driver needing more than 32 us of STEP high is refused with a message, not mis-timed."""
    with pytest.raises(ValueError, match="STEP high time"):
        rp2_pio.step_generator(rp2_pio.MAX_HIGH_CYCLES + 1)


def test_fake_clock_is_the_boards():
    """The emulated generator runs at a whole divider of the 125 MHz system clock."""
    assert fake_machine.freq() % rp2_pio.GENERATOR_FREQ_HZ == 0
