// UF2 files (https://github.com/microsoft/uf2): 512-byte blocks, each carrying up to 476 bytes
// for one flash address. MicroPython's RPI_PICO download is one; this writes it into the
// emulated chip's flash the way the Pico's boot ROM does when the file is dropped on RPI-RP2.
const MAGIC_START0 = 0x0a324655;
const MAGIC_START1 = 0x9e5d5157;
const MAGIC_END = 0x0ab16f30;
const FLAG_NOT_MAIN_FLASH = 0x1;
const FLAG_FAMILY_ID = 0x2000;
const RP2040_FAMILY = 0xe48bff56;
export const FLASH_START = 0x10000000;

/** Copy every RP2040 block of `data` (a Buffer) into `flash` (a Uint8Array); returns the bytes written. */
export function writeUf2(data, flash, name = 'UF2') {
  let written = 0;
  for (let off = 0; off + 512 <= data.length; off += 512) {
    const word = (i) => data.readUInt32LE(off + i);
    if (word(0) !== MAGIC_START0 || word(4) !== MAGIC_START1 || word(508) !== MAGIC_END) {
      throw new Error(`${name}: block at byte ${off} is not a UF2 block (bad magic)`);
    }
    const flags = word(8);
    if (flags & FLAG_NOT_MAIN_FLASH) continue;
    if (flags & FLAG_FAMILY_ID && word(28) !== RP2040_FAMILY) {
      throw new Error(`${name}: block at byte ${off} is for family 0x${word(28).toString(16)}, not the RP2040`);
    }
    const address = word(12) - FLASH_START;
    const size = word(16);
    if (address < 0 || address + size > flash.length || size > 476) {
      throw new Error(`${name}: block at byte ${off} writes outside the flash (address 0x${word(12).toString(16)})`);
    }
    flash.set(data.subarray(off + 32, off + 32 + size), address);
    written += size;
  }
  if (!written) throw new Error(`${name}: no RP2040 flash blocks`);
  return written;
}
