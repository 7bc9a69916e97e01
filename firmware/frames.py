"""Frame codec of the operator protocol (docs/protocol.md), shared by firmware and host.

A frame is one ASCII line: "<seq> <COMMAND> key=value ... *<crc32 hex>". The CRC covers every
byte before " *"; both interpreters have binascii.crc32, so both ends compute it the same way.
"""

import binascii

SEQ_MODULO = 65536
SEQ_WINDOW = 32768  # a new seq must be 1..SEQ_WINDOW-1 ahead of the last


def crc_hex(body: bytes) -> str:
    return "%08x" % (binascii.crc32(body) & 0xFFFFFFFF)


def seal(body: str) -> bytes:
    """Append the CRC and the newline to a line body."""
    b = body.encode()
    return b + b" *" + crc_hex(b).encode() + b"\n"


def split_crc(line: bytes):
    """(body, crc_text or None) of a received line without its newline."""
    cut = line.rfind(b" *")
    if cut < 0:
        return line, None
    return line[:cut], line[cut + 2:]


def crc_ok(body: bytes, crc: bytes) -> bool:
    return crc.decode() == crc_hex(body)


def next_seq(seq: int) -> int:
    return 1 if seq >= SEQ_MODULO - 1 else seq + 1


def seq_after(seq: int, last: int) -> bool:
    """True when seq is a new number after last (serial-number arithmetic, 0 never used)."""
    ahead = (seq - last) % (SEQ_MODULO - 1)
    return 0 < ahead < SEQ_WINDOW


def format_pairs(pairs) -> str:
    return " ".join(["%s=%s" % (k, v) for k, v in pairs])


def parse_pairs(tokens) -> dict:
    """key=value tokens to a dict; integers become int. Raises ValueError on a malformed token."""
    out = {}
    for tok in tokens:
        eq = tok.find("=")
        if eq <= 0 or eq == len(tok) - 1:
            raise ValueError(tok)
        key = tok[:eq]
        if key in out:
            raise ValueError(tok)
        out[key] = parse_value(tok[eq + 1:])
    return out


def parse_value(text: str):
    digits = text[1:] if text[0] == "-" else text
    if digits and digits.isdigit() and len(digits) <= 12:
        return int(text)
    return text
