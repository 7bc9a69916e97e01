// The emulated Pico as a process, driven in lock step by the host (hil/emulated_board.py).
//
//   node hil/pico/serve.mjs --rom ROM.bin --uf2 FIRMWARE.uf2 --fs FS.img --fs-offset 655360 --board board.json
//
// One JSON object a line each way. The host asks the chip to run to an emulated instant,
// handing over what it typed on the USB port, the HX711's new conversion (if one completed)
// and the switch levels; the chip runs, then answers with what the firmware wrote, the STEP
// edges the driver has seen so far and the EN level. Time moves only when asked, so the plant on
// the host side advances on the chip's clock. Other requests: a power cut (the chip starts
// again from its flash) and saving a flash region to a file.
import fs from 'node:fs';
import readline from 'node:readline';
import { Chip } from './chip.mjs';
import { UsbSerial } from './usb_serial.mjs';
import { writeUf2 } from './uf2.mjs';
import { Hx711, StepperDriver, setSwitches } from './wiring.mjs';

function options(argv) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    opts[argv[i].slice(2)] = argv[i + 1];
  }
  for (const key of ['rom', 'uf2', 'board']) if (!opts[key]) throw new Error(`--${key} is required`);
  return opts;
}

/** The board: one chip at a time (a reset starts a new one on the same flash) and its wiring. */
class Board {
  constructor(opts) {
    const rom = Uint8Array.from(fs.readFileSync(opts.rom));
    if (rom.length !== 16384) throw new Error(`${opts.rom}: ${rom.length} bytes, a boot ROM has 16384`);
    this.rom = new Uint32Array(rom.buffer);
    this.doc = JSON.parse(fs.readFileSync(opts.board, 'utf8'));
    this.flash = new Uint8Array(16 * 1024 * 1024).fill(0xff);
    writeUf2(fs.readFileSync(opts.uf2), this.flash, opts.uf2);
    if (opts.fs) this.flash.set(fs.readFileSync(opts.fs), Number(opts['fs-offset']));
    this.baseNs = 0; // emulated time before this chip's life
    this.edges = { forward: 0, backward: 0, disabled: 0 }; // over all lives: the wires keep counting
    this.switches = {};
    this.watchdogResets = 0;
    this.flashWrites = 0;
    this.instructions = 0;
    this.hx711Reads = 0;
    this.boot('power');
  }

  boot(cause) {
    if (this.chip) {
      this.baseNs += this.chip.clock.nanos;
      this._retire();
    }
    this.chip = new Chip({ rom: this.rom, flash: this.flash, cause });
    this.flash = this.chip.mcu.flash; // the chip writes its own copy; that copy survives it
    const gpio = this.chip.mcu.gpio;
    const pins = this.doc.pins;
    this.usb = new UsbSerial(this.chip.mcu);
    this.driver = new StepperDriver(gpio, pins, {
      forwardLevel: this.doc.drive.dir_forward_level,
      enableActiveLevel: this.doc.drive.enable_active_level,
    });
    this.hx711 = new Hx711(gpio, pins, this.doc.force.gain_pulses ?? 25);
    setSwitches(gpio, pins, this.switches, this.doc.switches.active_level);
  }

  _retire() {
    for (const k of Object.keys(this.edges)) this.edges[k] += this.driver.edges[k];
    this.flashWrites += this.chip.flashWrites;
    this.instructions += this.chip.instructions;
    this.hx711Reads += this.hx711.reads;
  }

  get nowNs() {
    return this.baseNs + this.chip.clock.nanos;
  }

  run(req) {
    if (req.serial) this.usb.write(Buffer.from(req.serial, 'base64'));
    if (req.switches) {
      Object.assign(this.switches, req.switches);
      setSwitches(this.chip.mcu.gpio, this.doc.pins, req.switches, this.doc.switches.active_level);
    }
    if (req.hx711 !== undefined && req.hx711 !== null) this.hx711.convert(req.hx711);
    let serial = Buffer.alloc(0);
    const untilNs = req.run_to_us * 1000;
    while (this.nowNs < untilNs) {
      this.chip.run(untilNs - this.baseNs);
      serial = Buffer.concat([serial, this.usb.take()]);
      if (this.chip.watchdogFired) {
        this.watchdogResets++;
        this.boot('watchdog');
      }
    }
    return { serial: serial.toString('base64'), ...this.state() };
  }

  powerCut(req) {
    this.boot('power');
    this.baseNs += req.off_us * 1000;
    return this.state();
  }

  state() {
    const d = this.driver.edges;
    return {
      t_us: Math.floor(this.nowNs / 1000),
      edges: { forward: this.edges.forward + d.forward, backward: this.edges.backward + d.backward,
        disabled: this.edges.disabled + d.disabled },
      enabled: this.driver.enabled(),
      hx711_reads: this.hx711Reads + this.hx711.reads,
      watchdog_resets: this.watchdogResets,
      flash_writes: this.flashWrites + this.chip.flashWrites,
      instructions: this.instructions + this.chip.instructions,
    };
  }

  saveFlash(req) {
    fs.writeFileSync(req.path, this.flash.subarray(req.offset, req.offset + req.size));
    return this.state();
  }
}

function main() {
  let board;
  try {
    board = new Board(options(process.argv.slice(2)));
  } catch (e) {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(2);
  }
  const answer = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  answer(board.state());
  const handlers = { run: (r) => board.run(r), power_cut: (r) => board.powerCut(r), save_flash: (r) => board.saveFlash(r) };
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const req = JSON.parse(line);
    const handler = handlers[req.op];
    answer(handler ? handler(req) : { error: `unknown op ${JSON.stringify(req.op)}` });
  });
  lines.on('close', () => process.exit(0));
}

main();
