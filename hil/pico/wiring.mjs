// What is wired to the Pico's pins on the pump (boards/RPI_PICO/board.json "pins"), seen from
// outside the chip: the stepper driver counting STEP edges, the HX711 answering its clock, and
// the microswitches holding their levels. Pin listeners run inside the CPU loop, so every edge
// is seen at its emulated instant.

/** The DRV8825's inputs: rising STEP edges by the DIR level at the edge and whether EN was active. */
export class StepperDriver {
  constructor(gpio, { step, dir, enable }, { forwardLevel, enableActiveLevel }) {
    this.edges = { forward: 0, backward: 0, disabled: 0 };
    const level = (pin) => (gpio[pin].outputEnable && gpio[pin].outputValue ? 1 : 0);
    this.enabled = () => level(enable) === enableActiveLevel;
    gpio[step].addListener((state, old) => {
      if (state !== 1 || old === 1) return;
      if (!this.enabled()) this.edges.disabled++;
      else if (level(dir) === forwardLevel) this.edges.forward++;
      else this.edges.backward++;
    });
  }
}

/** The HX711: DOUT low when a conversion waits, its 24 bits MSB first on PD_SCK's rising edges,
 * then DOUT high until the next conversion. The host hands it each new conversion (`convert`). */
export class Hx711 {
  constructor(gpio, { hx711_data: data, hx711_clock: clock }, gainPulses) {
    this.dout = gpio[data];
    this.gainPulses = gainPulses;
    this.latched = 0;
    this.pulse = gainPulses; // no conversion yet: DOUT high
    this.waiting = null; // a conversion that came while the firmware was clocking one out
    this.reads = 0;
    this.dout.setInputValue(true);
    gpio[clock].addListener((state, old) => {
      if (state === 1 && old !== 1) this._rising();
    });
  }

  convert(raw) {
    if (this.pulse > 0 && this.pulse < this.gainPulses) {
      this.waiting = raw; // the exchange paused the chip mid-read: finish that read first
      return;
    }
    this.latched = raw & 0xffffff;
    this.pulse = 0;
    this.dout.setInputValue(false);
  }

  _rising() {
    if (this.pulse < 24) {
      this.dout.setInputValue(((this.latched >> (23 - this.pulse)) & 1) === 1);
    } else if (this.pulse === 24) {
      this.dout.setInputValue(true); // busy until the host hands over the next conversion
      this.reads++;
    }
    this.pulse++;
    if (this.pulse === this.gainPulses && this.waiting !== null) {
      const raw = this.waiting;
      this.waiting = null;
      this.convert(raw);
    }
  }
}

/** Microswitches to ground (or to 3V3): each pin reads the level the host says. */
export function setSwitches(gpio, pins, closed, activeLevel) {
  for (const [name, isClosed] of Object.entries(closed)) {
    if (!(name in pins)) throw new Error(`board.json has no pin "${name}"`);
    gpio[pins[name]].setInputValue((isClosed ? activeLevel : 1 - activeLevel) === 1);
  }
}
