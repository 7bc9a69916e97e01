"""firmware.hal.esp32 built from boards/ESP32_DEVKITC/board.json on fakes of machine and esp32:
RMT pulse trains within the item limit, PCNT counting by DIR, EN and the backlog."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.board import Board
from firmware.hal import esp32 as esp32_hal
from tests.boards.fakes import esp32 as fake_esp32
from tests.boards.fakes import machine as fake_machine


@pytest.fixture(autouse=True)
def host_storage_and_no_console(tmp_path, monkeypatch):
    monkeypatch.setattr(esp32_hal, "STORAGE_ROOT", str(tmp_path / "data"))
    monkeypatch.setattr(esp32_hal, "build_link", lambda board: None)


@pytest.fixture
def hal():
    return esp32_hal.build(Board.load("ESP32_DEVKITC"))


def _pin(name: str):
    return fake_machine.Pin(Board.load("ESP32_DEVKITC").pins[name])


@given(steps=st.integers(1, 5), period_us=st.integers(4, 3_000_000), high_us=st.integers(1, 3))
def test_step_train_has_exact_timing_within_the_rmt_item_limit(steps, period_us, high_us):
    """Every pulse is high_us high, every period sums to period_us, no item exceeds 32,767."""
    durations, levels = esp32_hal.step_train(steps, period_us, high_us)
    assert all(1 <= d <= esp32_hal.RMT_PULSE_MAX for d in durations)
    starts = [i for i, level in enumerate(levels) if level == 1]
    assert len(starts) == steps
    bounds = starts + [len(durations)]
    for a, b in zip(bounds, bounds[1:]):
        assert durations[a] == high_us and sum(durations[a:b]) == period_us


def test_two_second_period_is_split_into_low_items():
    """0.5 step/s: one 2 us high item and 62 low items that add up to the rest of 2 s."""
    durations, levels = esp32_hal.step_train(1, 2_000_000, 2)
    assert levels[0] == 1 and levels[1:] == [0] * 62 and sum(durations) == 2_000_000


def test_pins_and_peripherals_follow_the_board_file(hal):
    """RMT on STEP at 1 us ticks; PCNT on the sense pins, DIR low reverses; EN high (inactive)."""
    rmt = fake_esp32.rmts[0]
    assert rmt.pin.id == 25 and rmt.clock_div == 80 and rmt.idle_level is False
    cfg = fake_esp32.pcnts[0].config
    assert cfg["pin"].id == 34 and cfg["mode_pin"].id == 35
    assert cfg["mode_low"] == fake_esp32.PCNT.REVERSE and cfg["mode_high"] == fake_esp32.PCNT.NORMAL
    assert _pin("enable").mode == fake_machine.Pin.OUT and _pin("enable").level == 1


def _play(hal):
    """The RMT train goes out; jumpers carry STEP and DIR to their sense pins."""
    _pin("dir_sense").level = _pin("dir").level
    fake_esp32.rmts[0].finish(sense_pin=_pin("step_sense").id)


def test_counter_reads_back_forward_and_reverse_trains(hal):
    """40 forward then 15 back: PCNT says 25 and nothing is pending."""
    hal.stepper.move(40, 125)
    _play(hal)
    hal.stepper.move(-15, 125)
    _play(hal)
    assert hal.counter.count() == 25 and hal.stepper.pending() == 0


def test_counter_carries_across_pcnt_wraps(hal):
    """70,000 steps in trains of 1000 pass the 32,000 hardware limit twice and still add up."""
    hal.stepper.move(70_000, 125)
    while hal.stepper.pending():
        _play(hal)
    assert hal.counter.count() == 70_000


def test_busy_channel_never_blocks_the_loop(hal):
    """A move while a train plays waits in the backlog and goes out on a later call."""
    hal.stepper.move(10, 200)
    hal.stepper.move(10, 200)
    assert len(fake_esp32.rmts[0].sent) == 1 and hal.stepper.pending() == 20
    _play(hal)
    hal.stepper.pending()
    _play(hal)
    assert hal.counter.count() == 20


def test_same_move_reuses_its_train(hal):
    """The controller's steady ticks (same count, same period) send the very same list."""
    hal.stepper.move(12, 8000)
    _play(hal)
    hal.stepper.move(12, 8000)
    sent = fake_esp32.rmts[0].sent
    assert sent[0][0] is sent[1][0]


def test_halt_stops_the_train_and_clears_the_backlog(hal):
    """halt(): the channel stops, nothing waits, EN is the controller's to drop."""
    hal.stepper.enable(True)
    assert _pin("enable").level == 0
    hal.stepper.move(10, 200)
    hal.stepper.move(10, 200)
    hal.stepper.halt()
    hal.stepper.enable(False)
    assert fake_esp32.rmts[0].wait_done() and hal.stepper.pending() == 0 and _pin("enable").level == 1


def test_missing_sense_pin_is_named():
    """Without pins.step_sense the build stops and says which key to add."""
    board = Board.load("ESP32_DEVKITC")
    del board.pins["step_sense"]
    with pytest.raises(ValueError, match="pins.step_sense"):
        esp32_hal.build(board)
