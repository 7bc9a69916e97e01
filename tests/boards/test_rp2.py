"""firmware.hal.rp2 built from boards/RPI_PICO/board.json on fakes of machine and rp2, with its
state machines running in the PIO emulator."""

import pytest

from firmware import alarms
from firmware.board import Board
from firmware.controller import ALARM, Controller
from firmware.hal import rp2 as rp2_hal
from firmware.hal import rp2_pio
from firmware.hal.virtual import VirtualClock
from firmware.link_budget import LINK_BUFFER_BYTES, READ_BYTES_PER_POLL
from tests.boards.fakes import machine as fake_machine
from tests.boards.fakes import rp2 as fake_rp2
from tests.firmware.fixtures import LIBRARY, SYRINGES, standard_rx, monitored


def _board(**pins):
    board = Board.load("RPI_PICO")
    board.pins = dict(board.pins, **pins)
    return board


def _pin(name: str, board=None):
    return fake_machine.Pin((board or Board.load("RPI_PICO")).pins[name])


@pytest.fixture(autouse=True)
def host_storage_and_no_console(tmp_path, monkeypatch):
    monkeypatch.setattr(rp2_hal, "STORAGE_ROOT", str(tmp_path / "data"))
    monkeypatch.setattr(rp2_hal, "build_link", lambda board: None)


@pytest.fixture
def hal():
    return rp2_hal.build(Board.load("RPI_PICO"))


def test_pins_take_the_directions_and_idle_levels_of_the_board_file(hal):
    """EN is an output driven inactive (high for the DRV8825), switches inputs with pull-ups,
    HX711 clock an output held low and data an input."""
    en = _pin("enable")
    assert en.mode == fake_machine.Pin.OUT and en.level == 1
    for name in ("syringe_present", "plunger_engaged", "end_stop_empty"):
        p = _pin(name)
        assert p.mode == fake_machine.Pin.IN and p.pull == fake_machine.Pin.PULL_UP
    assert _pin("hx711_clock").mode == fake_machine.Pin.OUT and _pin("hx711_clock").level == 0
    assert _pin("hx711_data").mode == fake_machine.Pin.IN


def test_state_machines_are_wired_to_the_board_pins(hal):
    """Generator: set STEP, out DIR, waits on the gate; gate and counter read STEP; counter jmp DIR."""
    pins = Board.load("RPI_PICO").pins
    gen, counter, gate = fake_rp2.machines[0], fake_rp2.machines[4], fake_rp2.machines[5]
    assert gen.pins == dict(in_base=pins["step_gate"], out_base=pins["dir"], set_base=pins["step"], jmp_pin=None)
    assert gen.freq == rp2_pio.GENERATOR_FREQ_HZ
    assert gate.pins == dict(in_base=pins["step"], out_base=None, set_base=pins["step_gate"], jmp_pin=None)
    assert counter.pins == dict(in_base=pins["step"], out_base=None, set_base=None, jmp_pin=pins["dir"])


def test_counter_reads_back_what_went_out_on_the_line(hal):
    """move(25) forward then move(-10): count() is the net of the edges on the STEP pad."""
    hal.stepper.enable(True)
    hal.stepper.move(25, 200)
    fake_rp2.bus.run_us(200 * 27)
    hal.stepper.move(-10, 200)
    fake_rp2.bus.run_us(200 * 12)
    step = Board.load("RPI_PICO").pins["step"]
    assert len(fake_rp2.bus.pulses(step)) == 35
    assert hal.counter.count() == 15
    assert hal.stepper.pending() == 0


def test_halt_drops_the_queue_at_once(hal):
    """Halting mid-move: no edge after the halt, nothing pending, and the next move is exact."""
    hal.stepper.enable(True)
    hal.stepper.move(100, 100)
    fake_rp2.bus.run_us(100 * 10)
    hal.stepper.halt()
    held = hal.counter.count()
    fake_rp2.bus.run_us(100 * 50)
    assert hal.counter.count() == held and 0 < held < 100
    assert hal.stepper.pending() == 0
    hal.stepper.move(7, 100)
    fake_rp2.bus.run_us(100 * 9)
    assert hal.counter.count() == held + 7


def test_runaway_generator_is_held_by_the_gate(hal):
    """A generator fed 500 steps behind the HAL's back emits only the 20 the HAL budgeted."""
    hal.stepper.move(20, 100)
    fake_rp2.machines[0].put(rp2_pio.command_word(500, 1))
    fake_rp2.machines[0].put(rp2_pio.timing_word(100, rp2_pio.high_cycles_for(1900)))
    fake_rp2.bus.run_us(100 * 600)
    assert hal.counter.count() == 20


def test_alarm_drives_en_inactive_and_halts(hal):
    """A controller alarm leaves EN at its inactive level and the generator empty."""
    hal.clock = VirtualClock()  # CPython's time has no ticks_ms
    _pin("end_stop_empty").level = 1  # open: the syringe is not empty (switches close to ground)
    ctl = Controller(hal, Board.load("RPI_PICO"), LIBRARY, SYRINGES)
    ctl.program_prescription(standard_rx())
    monitored(ctl)
    ctl.start()
    assert _pin("enable").level == 0  # active low
    hal.stepper.move(50, 100)
    ctl.raise_alarm(alarms.DOSE_OVERRUN)
    assert ctl.state == ALARM and _pin("enable").level == 1
    before = hal.counter.count()
    fake_rp2.bus.run_us(100 * 60)
    assert hal.counter.count() == before


def test_moves_beyond_fifo_room_wait_in_a_backlog(hal):
    """Three moves at once: the third waits for FIFO room instead of blocking, then goes out."""
    for _ in range(3):
        hal.stepper.move(4, 100)
    assert hal.stepper.pending() == 12
    fake_rp2.bus.run_us(100 * 6)
    hal.stepper.pending()  # a later call flushes the backlog
    fake_rp2.bus.run_us(100 * 12)
    assert hal.counter.count() == 12 and hal.stepper.pending() == 0


def test_periods_below_the_programs_minimum_are_stretched(hal):
    """A period shorter than the program can make is raised to min_period_us, never garbled."""
    hal.stepper.move(5, 1)
    fake_rp2.bus.run_us(1000)
    step = Board.load("RPI_PICO").pins["step"]
    rises = fake_rp2.bus.rising_edges(step)
    shortest = rp2_pio.min_period_us(rp2_pio.high_cycles_for(1900)) * 125
    assert len(rises) == 5 and min(b - a for a, b in zip(rises, rises[1:])) == shortest


def test_watchdog_starts_on_the_first_feed_with_the_board_timeout(hal):
    """No WDT runs during boot; the first feed starts one with watchdog_ms and feeds it."""
    assert fake_machine.watchdogs == []
    hal.watchdog.feed()
    hal.watchdog.feed()
    assert len(fake_machine.watchdogs) == 1
    assert fake_machine.watchdogs[0].timeout == 2000 and fake_machine.watchdogs[0].feeds == 2


def test_reset_cause_names_the_watchdog(hal):
    """machine.reset_cause() == WDT_RESET reads as "watchdog", also through the built HAL; on the
    rp2 port any other reset says only that it was not the watchdog."""
    fake_machine.use_port("rp2")
    fake_machine.set_reset_cause(3)
    assert rp2_hal.reset_cause() == "watchdog" and getattr(hal, "reset_cause")() == "watchdog"
    fake_machine.set_reset_cause(1)
    assert rp2_hal.reset_cause() == "not_watchdog"


def test_board_watchdog_fits_the_rp2040_limit(hal):
    """boards/RPI_PICO's watchdog_ms is accepted by the rp2 port's WDT (at most 8388 ms)."""
    fake_machine.use_port("rp2")
    hal.watchdog.feed()
    assert fake_machine.watchdogs[0].timeout <= 8388


def test_missing_pin_is_named():
    """A board file without the gate pin stops the build with the key and the file named."""
    board = _board()
    del board.pins["step_gate"]
    with pytest.raises(ValueError, match="pins.step_gate"):
        rp2_hal.build(board)


def test_non_mhz_system_clock_is_refused():
    """133.3 MHz would make the 1 MHz generator clock fractional: refused with the figure."""
    fake_machine.freq(133_333_333)
    with pytest.raises(ValueError, match="133333333"):
        rp2_hal.build(Board.load("RPI_PICO"))


def test_uart_link_is_built_from_the_board_file(monkeypatch):
    """link.kind uart: a machine.UART with the board's id, baud and pins, and buffers that hold a
    tick of the link budget each way (MicroPython's default of 256 bytes overruns at 115200 baud)."""
    monkeypatch.undo()
    board = Board.load("RPI_PICO")
    board.doc = dict(board.doc, link={"kind": "uart", "uart": 1, "baud": 57600, "tx": 8, "rx": 9})
    link = rp2_hal.build_link(board)
    uart = fake_machine.uarts[-1]
    assert (uart.id, uart.baudrate) == (1, 57600)
    assert uart.kw["rxbuf"] == uart.kw["txbuf"] == LINK_BUFFER_BYTES >= READ_BYTES_PER_POLL
    uart.rx.extend(b"ID\n")
    buf = bytearray(8)
    assert link.read(buf) == 3 and bytes(buf[:3]) == b"ID\n"


def test_maintenance_hands_the_watchdog_to_a_machine_timer(hal):
    """SERVICE action=flash: a periodic machine.Timer at a quarter of watchdog_ms feeds the WDT
    while main.py is stopped, so a re-flash is not cut short by a watchdog reset."""
    fake_machine.use_port("rp2")  # the soft Timer(-1): the RP2040 port's only machine.Timer
    hal.watchdog.feed()
    hal.watchdog.feed_from_timer()
    (timer,) = fake_machine.timers
    assert timer.mode == timer.PERIODIC and timer.period_ms == 2000 // 4
    feeds = fake_machine.watchdogs[0].feeds
    timer.run_ms(10000)  # ten seconds of copying, no control tick
    assert fake_machine.watchdogs[0].feeds == feeds + 20 and len(fake_machine.watchdogs) == 1
