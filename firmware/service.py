"""The SERVICE state: bench work and maintenance, never therapy.

A QA bench runs delivery after delivery on water; a clinical profile would soon meet its 24-hour
cumulative limit, and raising that limit would weaken the pump for patients. Instead the drug
library carries test-only profiles (water/saline, no cumulative limit), and the pump accepts
them only in the SERVICE state:

- entered by an explicit command (`SERVICE action=enter`) from idle only, left by another
  (`SERVICE action=leave`) from idle or complete only: never with an infusion running, paused
  or in alarm, so no infusion crosses the boundary;
- journalled as a safety setting (`set service=1`, kept by compaction): a reset comes back in
  the same state;
- in SERVICE only test-only profiles may be programmed (a clinical one: SERVICE_ACTIVE), and
  outside it no test-only profile may (SERVICE_REQUIRED). So therapy is impossible in
  SERVICE, and a bench profile can never reach a patient. The clinical limits never change.
  Test-only infusions record no drug in the journal, so they never count towards a clinical
  24-hour limit.

Maintenance: re-flashing a running board (`mpremote` interrupts main.py, and the watchdog,
which cannot be stopped once started, would reset the board mid-copy). `SERVICE action=flash`,
in SERVICE with no syringe loaded and nothing programmed to run, hands the watchdog to a
hardware timer (`hal.watchdog.feed_from_timer()`) and asks the main loop to stop
(`loop_stopped`): main.py returns to the REPL, the timer keeps the board alive while the copy
runs, and the reset that ends the copy starts everything afresh.
"""

from firmware.errors import BAD_STATE, BAD_VALUE, NOT_READY, SERVICE_ACTIVE, SERVICE_REQUIRED, Rejected

ACTIONS = ("enter", "leave", "flash")
SETTING = "service"  # the journal's safety setting: 1 in SERVICE, 0 out
_ENTER_FROM = ("idle",)
_LEAVE_FROM = ("idle", "complete")


class Service:
    def __init__(self, journal, hal) -> None:
        self.journal = journal
        self.hal = hal
        self.active = journal.state.settings.get(SETTING) == 1  # what the journal recovered at power-on
        self.loop_stopped = False  # set by the flash action: the main loop returns

    def act(self, action: str, state: str) -> None:
        """One SERVICE command; `state` is the controller's state name."""
        if action == "enter":
            self._require(state, _ENTER_FROM, "enter")
            if not self.active:
                self.journal.setting(SETTING, 1)
                self.active = True
        elif action == "leave":
            self._require(state, _LEAVE_FROM, "leave")
            if self.active:
                self.journal.setting(SETTING, 0)
                self.active = False
        elif action == "flash":
            self._prepare_flash(state)
        else:
            raise Rejected(BAD_VALUE, "action", action, ",".join(ACTIONS))

    def check_profile(self, profile, library) -> None:
        """May this profile be programmed now? Rejected with the way out when not."""
        if profile.test_only and not self.active:
            raise Rejected(SERVICE_REQUIRED, "profile", "%s/%s" % (profile.drug, profile.name),
                           "in_SERVICE")  # allowed texts carry no spaces: they travel as one token
        if self.active and not profile.test_only:
            raise Rejected(SERVICE_ACTIVE, "profile", "%s/%s" % (profile.drug, profile.name),
                           ",".join(library.test_profiles()))

    def _prepare_flash(self, state: str) -> None:
        if not self.active:
            raise Rejected(BAD_STATE, "flash", "not_in_service", "in_SERVICE")
        self._require(state, _ENTER_FROM, "flash")
        if self.hal.switches.syringe_present():
            raise Rejected(NOT_READY, "syringe_present", "true", "no_syringe")
        self.hal.stepper.halt()
        self.hal.stepper.enable(False)
        self.hal.watchdog.feed_from_timer()
        self.loop_stopped = True

    def _require(self, state: str, allowed: tuple, action: str) -> None:
        if state not in allowed:
            raise Rejected(BAD_STATE, action, state, ",".join(allowed))
