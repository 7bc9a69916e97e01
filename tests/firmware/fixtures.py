"""Shared set-up for firmware tests (both interpreters): the real data files and boards."""

from firmware import events
from firmware.board import Board
from firmware.controller import Controller
from firmware.hal.virtual import VirtualBoard
from firmware.library import DrugLibrary
from firmware.syringes import SyringeTable

LIBRARY = DrugLibrary.load()
SYRINGES = SyringeTable.load()
BOARD_NAMES = ("VIRTUAL", "RPI_PICO", "ESP32_DEVKITC")


def board(name: str = "VIRTUAL") -> Board:
    return Board.load(name)


def standard_rx(**changes) -> dict:
    """0.5 mg/kg over 40 min for 70 kg at 10 mg/mL in a BD Plastipak 50 mL."""
    rx = {"drug": "ketamine", "profile": "depression", "conc_ug_ml": 10000, "weight_g": 70000,
          "dose_ug_kg": 500, "duration_min": 40, "syringe": "bd_plastipak_50"}
    for k in changes:
        if changes[k] is None:
            del rx[k]
        else:
            rx[k] = changes[k]
    return rx


def pain_rx(**changes) -> dict:
    rx = {"drug": "ketamine", "profile": "pain", "conc_ug_ml": 1000, "weight_g": 70000,
          "rate_ug_kg_h": 200, "duration_min": 120, "syringe": "bd_plastipak_50"}
    rx.update(changes)
    return rx


def controller(start_ms: int = 0, board_name: str = "VIRTUAL"):
    vb = VirtualBoard(start_ms)
    return vb, Controller(vb.hal, board(board_name), LIBRARY, SYRINGES)


def run_until_state(vb, ctl, states, limit_ms: int, tick_ms: int = 100) -> int:
    """Tick the controller in simulated time until its state is one of `states`; return ms used."""
    t = 0
    while ctl.state not in states and t < limit_ms:
        vb.advance(tick_ms)
        ctl.tick(vb.clock.now_ms())
        ctl.service(vb.clock.now_ms())
        t += tick_ms
    return t


class Lcg:
    """A tiny deterministic generator, identical under both interpreters."""

    def __init__(self, seed: int) -> None:
        self.x = seed & 0x7FFFFFFF

    def below(self, n: int) -> int:
        self.x = (1103515245 * self.x + 12345) & 0x7FFFFFFF
        return self.x % n


NORMAL_VITALS = {"sbp": 125, "dbp": 80, "hr": 72, "spo2": 98}


def monitored(ctl, **changes) -> dict:
    """A new set of readings from the bedside monitor (a new cuff reading each call), as a
    monitored profile needs fresh before START and RESUME. Returns what was reported."""
    r = dict(NORMAL_VITALS)
    r["bp_id"] = ctl.vitals.get("bp_id", 0) % 65535 + 1
    for k in changes:
        if changes[k] is None:
            del r[k]
        else:
            r[k] = changes[k]
    ctl.report_vitals(r)
    return r


def warnings(ctl, *codes) -> list:
    """Drain the event ring; the warnings in it (only `codes`, if given), oldest first."""
    out = []
    while len(ctl.events):
        kind, value, _ = ctl.events.pop()
        if kind == events.WARNING and (not codes or value in codes):
            out.append(value)
    return out
