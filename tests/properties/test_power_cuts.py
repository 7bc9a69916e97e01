"""A power cut at every journal write boundary of a scripted session (whole write lost, or torn
in half): after recovery the pump never under-states what it delivered, so finishing the
infusion never over-delivers, no event written before the cut is lost, and the occlusion level
and the patient's identity are those last written whole."""

import pytest

from firmware import alarms
from firmware.controller import ALARM, COMPLETE, IDLE, PAUSED, Controller
from firmware.hal.virtual import MemoryStorage, VirtualBoard
from firmware.journal import EVENT_VALUE_KEYS, decode
from tests.firmware.fixtures import LIBRARY, SYRINGES, board, run_until_state, standard_rx, monitored

MIN = 60000
RX = standard_rx(dose_ug_kg=100, conc_ug_ml=1000)  # 7 mL over 40 min: ~2 steps a tick


class CutStorage(MemoryStorage):
    """Flash that loses power during its write number `cut_at` (0-based)."""

    def __init__(self, cut_at: int, torn: bool) -> None:
        MemoryStorage.__init__(self)
        self.cut_at = cut_at
        self.torn = torn
        self.writes = 0
        self.cut = False
        self.event_seqs = []  # events whose record was written whole before the cut
        self.kinds = []  # kinds of the records written whole before the cut

    def append(self, name, data):
        if self.cut:
            raise OSError("no power")
        if self.writes == self.cut_at:
            self.cut = True
            MemoryStorage.append(self, name, data[: len(data) // 2] if self.torn else b"")
            raise OSError("power cut")
        self.writes += 1
        MemoryStorage.append(self, name, data)
        for line in data.split(b"\n"):
            rec = decode(line) if line else None
            if rec is not None and rec[2] in EVENT_VALUE_KEYS:
                self.event_seqs.append(rec[0])
            if rec is not None:
                self.kinds.append(rec[2])


def _session(storage):
    """Occlusion level, program, start, pause, resume, occlusion alarm, ack, resume, stop, another
    patient; returns the true steps."""
    vb = VirtualBoard(storage=storage)
    try:
        ctl = Controller(vb.hal, board(), LIBRARY, SYRINGES)
        ctl.set_occlusion_level("low")
        ctl.program_prescription(RX)
        monitored(ctl)
        ctl.start()
        run_until_state(vb, ctl, (), MIN)
        ctl.pause()
        run_until_state(vb, ctl, (), 20000)
        monitored(ctl)
        ctl.resume()
        run_until_state(vb, ctl, (), MIN)
        ctl.raise_alarm(alarms.OCCLUSION)
        run_until_state(vb, ctl, (), 10000)
        ctl.acknowledge()
        monitored(ctl)
        ctl.resume()
        run_until_state(vb, ctl, (), MIN)
        ctl.stop()
        ctl.reidentify_patient(80000, RX["weight_g"])
    except OSError:
        pass
    return vb.stepper.position


def _writes_in_full_session() -> int:
    s = CutStorage(10 ** 9, False)
    _session(s)
    return s.writes


N_WRITES = _writes_in_full_session()


def _recover(storage):
    vb = VirtualBoard(storage=MemoryStorage(dict(storage.files)))
    return vb, Controller(vb.hal, board(), LIBRARY, SYRINGES)


@pytest.mark.parametrize("torn", [False, True])
def test_every_cut_point(torn):
    """For every write boundary: delivered bound >= true steps; events before the cut kept."""
    assert N_WRITES > 30
    for cut_at in range(N_WRITES):
        storage = CutStorage(cut_at, torn)
        true_steps = _session(storage)
        vb, ctl = _recover(storage)
        if ctl.plan is not None:
            assert ctl.state == ALARM and ctl.alarm_code == alarms.POWER_LOSS
            assert ctl.delivered_steps() >= true_steps, (cut_at, torn)
        else:
            assert ctl.state == IDLE
        # every event fully written before the cut is still in the log
        kept = [seq for seq, _t, _k, _v in ctl.recovered_events]
        assert storage.event_seqs[-64:] == [seq for seq in kept if seq in storage.event_seqs][-64:], (cut_at, torn)
        # settings and the patient are the last ones written whole
        assert ctl.occlusion_level == ("low" if "set" in storage.kinds else "medium"), (cut_at, torn)
        if "patient" in storage.kinds:
            assert ctl.journal.patient_g() is None, (cut_at, torn)
        elif "start" in storage.kinds:
            assert ctl.journal.patient_g() == RX["weight_g"], (cut_at, torn)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.8])
def test_finishing_after_a_cut_never_over_delivers(fraction):
    """Resume after a cut mid-infusion and run to completion: true steps over both lives <= total + 1."""
    cut_at = int(N_WRITES * fraction)
    while True:  # the nearest cut that interrupts a running infusion
        storage = CutStorage(cut_at, True)
        true_steps = _session(storage)
        vb, ctl = _recover(storage)
        if ctl.plan is not None:
            break
        cut_at += 1
    ctl.acknowledge()
    assert ctl.state == PAUSED
    monitored(ctl)
    ctl.resume()
    run_until_state(vb, ctl, (COMPLETE,), 45 * MIN)
    assert ctl.state == COMPLETE
    assert true_steps + vb.stepper.position <= ctl.program.total_steps + 1
