"""Command line of the host harness (`python -m hil`, or `pump-hil` once installed).

    python -m hil virtual [--runtime micropython|cpython] [--speed 1]   serve the virtual board on a pty
    python -m hil emulated [--uf2 PATH] [--speed 1]                     serve the firmware on an emulated Pico on a pty
    python -m hil accuracy FILE.csv --rate R_ML_H [...]                 IEC 60601-2-24 analysis of balance data
    python -m hil run [--port P] [...]                                  the acceptance suite
    python -m hil rig [--runtime ...] [--speed 0]                       a virtual QA bench: pump, balance, relays on ptys
"""

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {
        "virtual": "hil.virtual_board",
        "emulated": "hil.emulated_board",
        "accuracy": "hil.accuracy",
        "run": "hil.run",
        "rig": "hil.virtual_rig",
    }
    if argv[:1] in (["-h"], ["--help"]):
        print((__doc__ or "").strip())
        return 0
    if not argv or argv[0] not in commands:
        print((__doc__ or "").strip(), file=sys.stderr)
        return 2
    import importlib

    try:
        module = importlib.import_module(commands[argv[0]])
    except ModuleNotFoundError as e:
        print(f"error: `{argv[0]}` is not available in this build ({e.name} missing)", file=sys.stderr)
        return 2
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
