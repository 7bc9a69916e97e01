"""A minimal `rp2` for the MicroPython allocation probe: programs are not assembled, state
machines keep one word and answer small integers."""


class PIO:
    IN_LOW, IN_HIGH, OUT_LOW, OUT_HIGH = 0, 1, 2, 3
    SHIFT_LEFT, SHIFT_RIGHT = 0, 1


def asm_pio(**kw):
    def keep(fn):
        return fn

    return keep


def asm_pio_encode(text, sideset_count, sideset_opt=False):
    return 0xA042


class StateMachine:
    def __init__(self, id, prog=None, freq=-1, **pins):
        self.id = id
        self.word = 0
        self.count = 0
        self.running = False

    def active(self, v=None):
        if v is not None:
            self.running = bool(v)
        return self.running

    def restart(self):
        pass

    def exec(self, instr):
        self.count += 1

    def put(self, value, shift=0):
        self.word = value

    def get(self, buf=None, shift=0):
        return self.count & 0xFFFF

    def tx_fifo(self):
        return 0

    def rx_fifo(self):
        return 0
