// One RP2040 running the board's flash, in rp2040js 1.4.1, with what that emulator leaves out or
// gets wrong put right from outside (nothing in node_modules is edited):
//
// 1. flash program/erase: rp2040js has no SPI-flash model, so MicroPython's littlefs writes
//    vanish. The boot ROM's flash_range_erase ('RE') and flash_range_program ('RP') entry
//    points are looked up in its function table and applied to the flash array when called.
// 2. USB CDC reads are held until the host has bytes (usb_serial.mjs).
// 3. PIO: rp2040js runs the state machines on a wall-clock JS timer, ignoring CLKDIV and
//    [delay]. Here they are stepped from the CPU loop in emulated clock cycles, honouring both,
//    so a 200 us STEP period is 200 emulated us.
// 4. A pin's input reads back the level the chip drives on it (on silicon the input samples the
//    pad): the PIO counter and gate watch the STEP line the generator drives.
// 5. UART TX interrupt as an edge after each byte written, not re-raised on every check
//    (machine.UART would otherwise hang in an interrupt storm).
// 6. Watchdog expiry and CHIP_RESET: an expiry stops the chip (the board then starts a new one
//    on the same flash, as the RP2040 resets), and VREG_AND_CHIP_RESET says why it last reset,
//    so machine.reset_cause() tells a power-on from a watchdog reset.
import { BasePeripheral, ConsoleLogger, LogLevel, RP2040 } from 'rp2040js';
import { FLASH_START } from './uf2.mjs';

const CYCLE_NS = 8; // 125 MHz, the clock MicroPython's rp2 port runs at
const WATCHDOG_BASE = 0x40058;
const CHIP_RESET_BASE = 0x40064;
const CHIP_RESET = 0x08;
const HAD_POR = 1 << 8;
const WATCHDOG_REASON_TIMER = 1;

/** The boot ROM's function table (pointer at 0x14): two-letter code -> entry address. */
export function romFunctions(rom) {
  const bytes = Buffer.from(rom.buffer, rom.byteOffset, rom.byteLength);
  const table = {};
  for (let p = bytes.readUInt16LE(0x14); bytes.readUInt16LE(p); p += 4) {
    const code = bytes.readUInt16LE(p);
    table[String.fromCharCode(code & 0xff, code >> 8)] = bytes.readUInt16LE(p + 2) & ~1;
  }
  return table;
}

/** VREG_AND_CHIP_RESET, of which the firmware reads CHIP_RESET (why the chip last reset). */
class ChipResetRegisters extends BasePeripheral {
  constructor(rp2040, poweredOn) {
    super(rp2040, 'VREG_AND_CHIP_RESET_BASE');
    this.chipReset = poweredOn ? HAD_POR : 0;
  }
  readUint32(offset) {
    return offset === CHIP_RESET ? this.chipReset : 0;
  }
  writeUint32() {}
}

export class Chip {
  /** `flash`: the 16 MiB image to run; `cause`: 'power' or 'watchdog' (why this life began). */
  constructor({ rom, flash, cause = 'power' }) {
    const mcu = (this.mcu = new RP2040());
    mcu.logger = new ConsoleLogger(LogLevel.Error);
    mcu.loadBootrom(rom);
    mcu.flash.set(flash);
    this.clock = mcu.clock;
    const rf = romFunctions(rom);
    this.romErase = rf.RE;
    this.romProgram = rf.RP;
    this.flashWrites = 0;
    this.instructions = 0;
    this.watchdogFired = false;
    this._fixPads();
    this._fixUarts();
    for (const pio of mcu.pio) pio.run = () => {}; // stepped from run() instead
    mcu.peripherals[CHIP_RESET_BASE] = new ChipResetRegisters(mcu, cause === 'power');
    const watchdog = mcu.peripherals[WATCHDOG_BASE];
    if (cause === 'watchdog') watchdog.reason = WATCHDOG_REASON_TIMER;
    watchdog.onWatchdogTrigger = () => {
      this.watchdogFired = true;
      watchdog.timer.enable = false;
      watchdog.alarm.enable = false;
    };
    mcu.core.PC = FLASH_START;
  }

  _fixPads() {
    for (const pin of this.mcu.gpio) {
      pin.addListener((state) => {
        if (state === 1) pin.setInputValue(true);
        else if (state === 0) pin.setInputValue(false);
      });
    }
  }

  _fixUarts() {
    for (const uart of this.mcu.uart) {
      uart.checkInterrupts = function () {
        this.rp2040.setInterrupt(this.irq, !!(this.interruptStatus & this.interruptMask));
      };
      const write = uart.writeUint32.bind(uart);
      uart.writeUint32 = (offset, value) => {
        write(offset, value);
        if (offset === 0) { // UARTDR: the byte left at once, TX has room again
          uart.interruptStatus |= 1 << 5;
          uart.checkInterrupts();
        }
      };
    }
  }

  _flashCall(pc) {
    const r = this.mcu.core.registers;
    const flash = this.mcu.flash;
    if (pc === this.romErase) { // flash_range_erase(addr, count, block_size, block_cmd)
      flash.fill(0xff, r[0] >>> 0, (r[0] >>> 0) + (r[1] >>> 0));
    } else { // flash_range_program(addr, data, count): NOR flash only clears bits
      const addr = r[0] >>> 0, src = r[1] >>> 0, count = r[2] >>> 0;
      for (let i = 0; i < count; i++) flash[addr + i] &= this.mcu.readUint8(src + i);
    }
    this.flashWrites++;
  }

  /** System cycles until the next state machine instruction is due (Infinity when every machine
   * is stalled on a pin or a FIFO: then nothing moves until the CPU wakes). A stalled machine is
   * re-checked first: its FIFO may have been written or its pin changed since it stopped. */
  _pioCyclesToNext() {
    let next = Infinity;
    for (const pio of this.mcu.pio) {
      if (pio.stopped) continue;
      for (const sm of pio.machines) {
        if (!sm.enabled) continue;
        if (sm.waiting) sm.checkWait();
        if (sm.waiting) continue;
        const divider = (sm.clockDivInt || 65536) + sm.clockDivFrac / 256;
        next = Math.min(next, Math.max(1, Math.ceil((1 - (sm.owedCycles || 0)) * divider)));
      }
    }
    return next;
  }

  _stepPio(cycles) {
    for (const pio of this.mcu.pio) {
      if (pio.stopped) continue;
      let moved = false;
      for (const sm of pio.machines) {
        if (!sm.enabled) { sm.owedCycles = 0; continue; }
        const divider = (sm.clockDivInt || 65536) + sm.clockDivFrac / 256;
        let owed = (sm.owedCycles || 0) + cycles / divider;
        while (owed >= 1) {
          const before = sm.cycles;
          sm.step();
          const used = sm.cycles - before;
          if (used > 0) owed -= used;
          else if (sm.waiting) { // stalled on a WAIT or a FIFO: nothing to do until a pin or the CPU acts
            owed = 0;
            break;
          } // else it just left a wait (a PULL found its word): the next step runs on
          moved = true;
        }
        sm.owedCycles = owed;
      }
      if (moved) pio.checkChangedPins();
    }
  }

  /** Run until the chip's clock reads `untilNs` (or its watchdog expires). */
  run(untilNs) {
    const { mcu, clock } = this;
    const core = mcu.core;
    const regs = core.registers;
    const erase = this.romErase, program = this.romProgram;
    const [pio0, pio1] = mcu.pio;
    let n = 0;
    while (clock.nanos < untilNs && !this.watchdogFired) {
      const pioOn = !(pio0.stopped && pio1.stopped);
      if (core.waiting) {
        let dt = clock.nanosToNextAlarm;
        const left = untilNs - clock.nanos;
        if (dt <= 0 || dt > left) dt = left;
        // While the CPU sleeps, time jumps from one PIO instruction to the next (so every edge
        // has its exact instant), or straight to the next alarm when all of PIO is stalled.
        if (pioOn) dt = Math.min(dt, this._pioCyclesToNext() * CYCLE_NS);
        clock.tick(dt);
        if (pioOn) this._stepPio(dt / CYCLE_NS);
      } else {
        const pc = regs[15] & ~1;
        if (pc === erase || pc === program) this._flashCall(pc);
        const cycles = core.executeInstruction();
        clock.tick(cycles * CYCLE_NS);
        if (pioOn) this._stepPio(cycles);
        n++;
      }
    }
    this.instructions += n;
  }
}
