// The operator's link: the chip's USB CDC port, as a host's ACM driver sees it.
//
// rp2040js' USBCDC answers every OUT-endpoint read at once, with an empty packet when it has
// nothing, and the firmware re-arms the read every 10 us: the CPU never sleeps, and idle time
// cannot fast-forward. A real host only completes an OUT transfer when it has bytes to send, so
// reads are held here until there are.
import { USBCDC } from 'rp2040js';

export class UsbSerial {
  constructor(mcu) {
    this.mcu = mcu;
    this.cdc = new USBCDC(mcu.usbCtrl);
    this.toDevice = [];
    this.fromDevice = [];
    this.heldRead = null;
    this.connected = false;
    this.cdc.onDeviceConnected = () => {
      this.connected = true;
      this.pump();
    };
    this.cdc.onSerialData = (bytes) => {
      for (const b of bytes) this.fromDevice.push(b);
    };
    mcu.usbCtrl.onEndpointRead = (endpoint, size) => {
      if (endpoint !== this.cdc.outEndpoint) return;
      this.heldRead = size;
      this.pump();
    };
  }

  /** Bytes the host typed; delivered when the firmware next asks. */
  write(bytes) {
    for (const b of bytes) this.toDevice.push(b);
    this.pump();
  }

  /** What the firmware wrote since the last call. */
  take() {
    const out = Buffer.from(this.fromDevice);
    this.fromDevice.length = 0;
    return out;
  }

  pump() {
    if (this.heldRead === null || !this.toDevice.length) return;
    const chunk = Uint8Array.from(this.toDevice.splice(0, this.heldRead));
    this.heldRead = null;
    this.mcu.usbCtrl.endpointReadDone(this.cdc.outEndpoint, chunk);
  }
}
