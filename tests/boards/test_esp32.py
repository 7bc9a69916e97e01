"""firmware.hal.esp32 built from boards/ESP32_DEVKITC/board.json on fakes of machine and esp32
that behave like MicroPython v1.28.0 (tests/boards/fakes/esp32.py): RMT trains bounded to one
tick and to the channel's memory, never interrupted; PCNT counting by DIR with soft wrap
interrupts; EN dropped before the generator stops; the firmware version checked at boot."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import alarms
from firmware.board import Board
from firmware.controller import ALARM, COMPLETE, PAUSED, RUNNING, Controller
from firmware.hal import esp32 as esp32_hal
from firmware.hal.virtual import VirtualClock
from tests.boards.fakes import esp32 as fake_esp32
from tests.boards.fakes import machine as fake_machine
from tests.firmware.fixtures import LIBRARY, SYRINGES, monitored, standard_rx

TICK_US = Board.load("ESP32_DEVKITC").tick_ms * 1000


@pytest.fixture(autouse=True)
def host_storage_and_no_console(tmp_path, monkeypatch):
    monkeypatch.setattr(esp32_hal, "STORAGE_ROOT", str(tmp_path / "data"))
    monkeypatch.setattr(esp32_hal, "build_link", lambda board: None)


def _pin(name: str):
    return fake_machine.Pin(Board.load("ESP32_DEVKITC").pins[name])


def _wire() -> None:
    """The bench jumpers: STEP to its sense pin; DIR's sense pin follows DIR."""
    fake_esp32.jumper(_pin("step").id, _pin("step_sense").id)
    _pin("dir_sense").reader = lambda: _pin("dir").level


@pytest.fixture
def hal():
    built = esp32_hal.build(Board.load("ESP32_DEVKITC"))
    _wire()
    return built


def _rmt():
    return fake_esp32.rmts[0]


def _settle(hal) -> None:
    fake_esp32.advance_us(10 * TICK_US)


@given(steps=st.integers(1, 5), period_us=st.integers(4, 3_000_000), high_us=st.integers(1, 3))
def test_step_train_has_exact_timing_within_the_rmt_item_limit(steps, period_us, high_us):
    """Every pulse is high_us high, pulses are period_us apart, the last is followed by the
    minimum low only, and no item exceeds 32,767."""
    durations, levels = esp32_hal.step_train(steps, period_us, high_us)
    assert all(1 <= d <= esp32_hal.RMT_PULSE_MAX for d in durations)
    starts = [i for i, level in enumerate(levels) if level == 1]
    assert len(starts) == steps
    for a, b in zip(starts, starts[1:]):
        assert durations[a] == high_us and sum(durations[a:b]) == period_us
    assert durations[starts[-1]:] == [high_us, high_us]


@settings(max_examples=200)
@given(period_us=st.integers(4, 4_000_000), steps=st.integers(1, 5000))
def test_a_train_lasts_at_most_one_tick_and_fits_the_channel_memory(period_us, steps):
    """Whatever the controller asks, one train plays within one control tick and within the
    RMT memory less the end marker, so a halt never waits long and no refill is ever needed."""
    high = esp32_hal.high_us_for(100)
    n = esp32_hal.steps_that_fit(max(period_us, 2 * high), high, TICK_US)
    durations, _ = esp32_hal.step_train(min(n, steps), max(period_us, 2 * high), high)
    assert sum(durations) <= TICK_US or min(n, steps) == 1 and sum(durations) <= 2 * high
    assert (len(durations) + 1) // 2 <= esp32_hal.TRAIN_SYMBOLS_MAX


def test_pins_and_peripherals_follow_the_board_file(hal):
    """RMT on STEP at 1 us ticks with 256 symbols of memory; PCNT on the sense pins, DIR low
    reverses; EN high (inactive)."""
    rmt = _rmt()
    assert rmt.pin.id == 25 and rmt.resolution_hz == 1_000_000 and rmt.idle_level is False
    assert rmt.num_symbols == esp32_hal.RMT_SYMBOLS
    cfg = fake_esp32.pcnts[0].config
    assert cfg["pin"].id == 34 and cfg["mode_pin"].id == 35
    assert cfg["mode_low"] == fake_esp32.PCNT.REVERSE and cfg["mode_high"] == fake_esp32.PCNT.NORMAL
    assert _pin("enable").mode == fake_machine.Pin.OUT and _pin("enable").level == 1


def test_counter_reads_back_forward_and_reverse_trains(hal):
    """40 forward then 15 back: PCNT says 25 and nothing is pending."""
    assert hal.stepper.move(40, 125) == 40
    _settle(hal)
    assert hal.stepper.move(-15, 125) == -15
    _settle(hal)
    assert hal.counter.count() == 25 and hal.stepper.pending() == 0


def test_counter_carries_across_pcnt_wraps_with_soft_interrupts(hal):
    """70,000 steps pass the 32,000 hardware limit twice. The wrap handler is a soft IRQ that
    runs later; count() still adds up, whether the scheduled handler ran before (run_scheduled)
    or value() had to run it, and running it late never counts a wrap twice."""
    left = 70_000
    while left:
        left -= hal.stepper.move(left, 125)
        fake_esp32.advance_us(TICK_US)
        if left % 3 == 0:
            fake_esp32.run_scheduled()
        assert hal.counter.count() == 70_000 - left - hal.stepper.pending()
    _settle(hal)
    fake_esp32.run_scheduled()
    assert hal.counter.count() == 70_000


def test_a_busy_channel_takes_nothing_and_never_blocks(hal):
    """A move while a train plays returns 0 (the plan keeps the steps); write_pulses, which
    would hold the loop until the train ended, is never reached."""
    assert hal.stepper.move(10, 200) == 10
    assert hal.stepper.move(10, 200) == 0
    assert len(_rmt().sent) == 1 and _rmt().blocked_us == 0
    _settle(hal)
    assert hal.stepper.move(10, 200) == 10 and _rmt().blocked_us == 0


def test_same_move_reuses_its_train(hal):
    """The controller's steady ticks (same count, same period) send the very same list."""
    hal.stepper.move(12, 8000)
    _settle(hal)
    hal.stepper.move(12, 8000)
    sent = _rmt().sent
    assert sent[0][0] is sent[1][0]


def test_halt_never_interrupts_a_train(hal):
    """halt() leaves the train in flight to play out to a disabled driver: RMT.active(False),
    which drains with interrupts off and leaves the in-flight count stuck, is never called, so
    the next train goes out normally."""
    hal.stepper.enable(True)
    taken = hal.stepper.move(800, 125)
    hal.stepper.enable(False)
    hal.stepper.halt()
    assert _pin("enable").level == 1 and _rmt().enabled  # never deactivated
    _settle(hal)
    assert hal.counter.count() == taken and hal.stepper.pending() == 0
    assert hal.stepper.move(5, 200) == 5


def test_flash_writes_during_a_train_add_no_pulses(hal):
    """Trains fit the channel's memory, so a flash write (the journal) while one plays cannot
    delay a refill into replayed STEP pulses: the counter sees exactly what was taken."""
    taken = 0
    with fake_esp32.flash_write():
        for _ in range(20):
            taken += hal.stepper.move(5000, 125)
            fake_esp32.advance_us(TICK_US)
    _settle(hal)
    assert _rmt().refills == 0 and hal.counter.count() == taken


class _NoisyForce:
    """An HX711 at 80 conversions/s whose readings wobble, as a live load cell does."""

    def __init__(self, clock) -> None:
        self._clock = clock

    def raw(self) -> int:
        return 2000 + (self._clock.now_ms() // 100) % 7

    def samples(self) -> int:
        return self._clock.now_ms() * 80 // 1000


def _pump(hal):
    hal.clock = VirtualClock()  # CPython's time has no ticks_ms
    hal.force = _NoisyForce(hal.clock)
    for name in ("syringe_present", "plunger_engaged"):
        _pin(name).level = 0  # switches close to ground
    _pin("end_stop_empty").level = 1
    ctl = Controller(hal, Board.load("ESP32_DEVKITC"), LIBRARY, SYRINGES)
    return ctl


def _run(ctl, hal, ticks: int, late_us: int = 0) -> None:
    """Control ticks; each train ends `late_us` after the tick that follows it."""
    for _ in range(ticks):
        fake_esp32.advance_us(TICK_US - late_us)
        hal.clock.advance(TICK_US // 1000)
        ctl.tick(hal.clock.now_ms())
        ctl.service(hal.clock.now_ms())  # the journal's commitments, as the main loop does
        fake_esp32.advance_us(late_us)


def test_pause_and_resume_mid_train_keep_the_count_and_the_channel(hal):
    """Pause while a train plays, resume, finish: no STEP_MISMATCH, no stuck channel, and the
    counted total is the programmed one, exactly. (With RMT.active(False) in halt() the
    interrupted train's count stays in flight and the pump alarms within seconds.)"""
    ctl = _pump(hal)
    ctl.program_prescription(standard_rx(duration_min=40))
    monitored(ctl)
    ctl.start()
    _run(ctl, hal, 50)
    ctl.pause()
    assert ctl.state == PAUSED and _pin("enable").level == 1
    _run(ctl, hal, 20)
    monitored(ctl)
    ctl.resume()
    _run(ctl, hal, 41 * 600)
    assert ctl.state == COMPLETE, (ctl.state_name(), ctl.alarm_code)
    assert ctl.delivered_steps() == ctl.program.total_steps


def test_trains_stay_one_tick_long_when_each_ends_just_after_a_tick(hal):
    """A train that ends just after the next tick finds the channel busy: the plan keeps the
    steps and the next train carries them, within one tick; trains never grow and the pump
    neither lags into a stall alarm nor passes the plan."""
    ctl = _pump(hal)
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    _run(ctl, hal, 3000, late_us=500)
    assert ctl.state == RUNNING, alarms.name(ctl.alarm_code)
    longest = max(sum(d) for d, _ in _rmt().sent)
    assert longest <= TICK_US
    assert _rmt().blocked_us == 0


def test_an_alarm_drops_en_before_the_generator_stops(hal):
    """EN first, always: the driver's enable is the safety cut. The order of the pin write and
    the generator's stop is recorded on the fakes."""
    ctl = _pump(hal)
    order = []
    _pin("enable").on_write = lambda level: order.append(("en", level))
    real_halt = hal.stepper.halt
    hal.stepper.halt = lambda: (order.append(("halt",)), real_halt())[1]
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    _run(ctl, hal, 10)
    order.clear()
    ctl.raise_alarm(alarms.FORCE_SENSOR)
    assert ctl.state == ALARM
    assert order[0] == ("en", 1) and ("halt",) in order


def test_too_old_micropython_is_named_at_boot():
    """A firmware before 1.27 (no RMT.active / num_symbols, or no esp32.PCNT before 1.26)
    stops the boot with the version needed, not an AttributeError later."""
    with pytest.raises(RuntimeError, match=r"1\.26\.1 is too old.*v1\.27 or later"):
        esp32_hal.check_firmware((1, 26, 1), fake_esp32)

    class NoPcnt:
        RMT = fake_esp32.RMT

    with pytest.raises(RuntimeError, match="esp32.PCNT"):
        esp32_hal.check_firmware((1, 28, 0), NoPcnt)
    esp32_hal.check_firmware((1, 28, 0), fake_esp32)


def test_missing_sense_pin_is_named():
    """Without pins.step_sense the build stops and says which key to add."""
    board = Board.load("ESP32_DEVKITC")
    del board.pins["step_sense"]
    with pytest.raises(ValueError, match="pins.step_sense"):
        esp32_hal.build(board)


# ---- the fakes behave like MicroPython v1.28.0 ----------------------------------------------

def _channel(**kw):
    return fake_esp32.RMT(0, pin=fake_machine.Pin(25), clock_div=80, **kw)


def test_fake_rmt_active_false_drains_the_train_and_sticks_the_in_flight_count():
    """rmt_disable() sends the rest of the train (interrupts off), the transfer never reports
    done, and after one more train wait_done(timeout=0) is False for good."""
    rmt = _channel()
    rmt.write_pulses([2, 98] * 50, [1, 0] * 50)
    fake_esp32.advance_us(1000)
    rmt.active(False)
    assert rmt.tx_ongoing == 1 and not rmt._queue
    assert rmt.wait_done(timeout=0)  # disabled: answers True
    rmt.write_pulses([2, 98], [1, 0])
    fake_esp32.advance_us(1000)
    assert not rmt.wait_done(timeout=0) and rmt.active()


def test_fake_rmt_long_drain_trips_the_interrupt_watchdog():
    """Over ~300 ms left in the train when active(False) is called: the chip would reset."""
    rmt = _channel()
    rmt.write_pulses([2, 9998] * 40, [1, 0] * 40)  # 400 ms
    with pytest.raises(fake_esp32.InterruptWatchdogReset):
        rmt.active(False)


def test_fake_rmt_write_pulses_blocks_while_busy_and_active_true_is_refused():
    rmt = _channel()
    rmt.write_pulses([2, 998] * 10, [1, 0] * 10)
    rmt.write_pulses([2, 998], [1, 0])
    assert rmt.blocked_us == 10_000
    with pytest.raises(ValueError):
        rmt.active(True)
    with pytest.raises(ValueError):
        _channel(num_symbols=65)


def test_fake_rmt_replays_stale_items_when_a_refill_meets_a_flash_write():
    """A train longer than the channel's memory needs refills; during a flash write they come
    late and the hardware sends stale items again: extra pulses."""
    rmt = _channel()
    rmt.write_pulses([2, 8] * 200, [1, 0] * 200)
    with fake_esp32.flash_write():
        fake_esp32.advance_us(10_000)
    assert rmt.refills == 1 and rmt.extra_pulses > 0


def test_fake_pcnt_irq_object_flags_clear_on_read_and_init_checks_ranges():
    unit = fake_esp32.PCNT(1, pin=fake_machine.Pin(34), rising=fake_esp32.PCNT.INCREMENT, min=-100, max=100)
    seen = []
    irq = unit.irq(lambda u: seen.append(u.irq().flags()), fake_esp32.PCNT.IRQ_MAX)
    assert isinstance(irq, fake_esp32.IRQ) and unit.irq() is irq
    unit.start()
    unit.see_edges(34, 100)
    assert seen == []  # soft: scheduled, not run yet
    assert unit.value() == 0 and seen == [fake_esp32.PCNT.IRQ_MAX]  # value() ran it
    fake_esp32.run_scheduled()
    assert seen == [fake_esp32.PCNT.IRQ_MAX, 0]  # the late run finds the flags cleared
    for bad in ({"min": 1}, {"max": -1}, {"max": 40000}, {"filter": 1024}, {"value": 5}):
        with pytest.raises(ValueError):
            unit.init(**bad)


def test_maintenance_timer_is_a_hardware_timer_on_the_esp32(hal):
    """The ESP32 has no soft Timer(-1): the maintenance feed uses hardware timer 0."""
    hal.watchdog.feed()
    hal.watchdog.feed_from_timer()
    (timer,) = fake_machine.timers
    assert timer.id == 0 and timer.mode == timer.PERIODIC
    feeds = fake_machine.watchdogs[0].feeds
    timer.run_ms(hal.watchdog.timeout_ms * 3)
    assert fake_machine.watchdogs[0].feeds == feeds + 12
