"""pytest plugin of the HIL harness: the same acceptance tests on a bench board or the virtual board.

Options (each also a fixture of the same name, with dashes as underscores):

    --pump-port URL     the pump's command link (/dev/ttyACM0, socket://..., a pty); none: virtual board
    --balance-port URL  the lab balance (MT-SICS); none on a bench: gravimetric checks are skipped
    --board NAME        board definition (boards/NAME/board.json), default VIRTUAL
    --hil-seed N        seed of the virtual plant and balance, default 1
    --hil-runtime RT    where the virtual board's firmware runs: micropython (default) or cpython
    --hil-report DIR    report root: each run writes DIR/<UTC date-time>/ and points DIR/latest
                        at it (default out/hil); --hil-run-folder DIR writes into DIR as it is
    --hil-operator NAME who ran the bench (shown in the report and the JUnit XML)
    --balance-calibrated DATE  the balance's last calibration, from its certificate
    --bench-operator    on a bench: prompt the operator for the hands' steps (hil/procedure.py)
    --bench-fixture F   on a bench: a rig does the hands' steps, as the TOML file F says

Fixtures: `bench` (hil.bench.RealBench or VirtualBench, fresh for each test on the virtual board),
`pump` (a connected hil.client.PumpClient with its own serial log), `balance` (hil.balance.Balance
or None), `plant` (the simulated plant, or a skip on a real bench), `hil_report` (to add figures,
tables and CSVs to the report, and `measure()` for a value against its tolerance). The JUnit
XML carries the same run properties as the report (hil.report) as suite properties, and each
test's measured values and serial log as test properties; every failure names its serial log.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from hil.bench import RealBench, VirtualBench
from hil.client import PumpClient
from hil.report import HilReport, iso_utc
from hil.run import ACCEPTANCE

HARNESS_VERSION = "0.1.0"
OPTIONS = {
    "--pump-port": dict(default=None, help="pump command link URL (default: start a virtual board)"),
    "--balance-port": dict(default=None, help="lab balance URL (MT-SICS)"),
    "--board": dict(default="VIRTUAL", help="board name under boards/ (default VIRTUAL)"),
    "--hil-seed": dict(default=1, type=int, help="seed of the virtual plant (default 1)"),
    "--hil-runtime": dict(default="micropython", choices=("micropython", "cpython"), help="virtual board firmware runtime"),
    "--hil-report": dict(default="out/hil", help="report root; each run gets a fresh folder in it (default out/hil)"),
    "--hil-run-folder": dict(default=None, help="write the report into this folder as it is (hil run makes it)"),
    "--hil-operator": dict(default="", help="name of the operator who ran the bench, for the report"),
    "--balance-calibrated": dict(default="", help="date of the balance's last calibration, from its certificate"),
    "--bench-operator": dict(action="store_true", default=False, help="prompt the operator for the bench steps"),
    "--bench-fixture": dict(default=None, help="TOML file of the rig's actions for the bench steps"),
}


def pytest_addoption(parser):
    group = parser.getgroup("hil", "hardware-in-the-loop bench")
    for name, kw in OPTIONS.items():
        group.addoption(name, **kw)


def _option_fixture(name: str):
    dest = name.lstrip("-").replace("-", "_")

    @pytest.fixture(scope="session", name=dest)
    def fixture(request):
        return request.config.getoption(dest)

    return fixture


for _opt in OPTIONS:
    globals()["_fixture_" + _opt.lstrip("-").replace("-", "_")] = _option_fixture(_opt)


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_plant: needs the simulated plant (skipped on a real bench)")
    config.addinivalue_line("markers", "needs_balance: needs a lab balance (skipped without one)")
    folder = config.getoption("hil_run_folder")
    config._hil_report = HilReport(Path(config.getoption("hil_report")), folder=Path(folder) if folder else None)


@pytest.fixture(scope="session")
def hil_report(request) -> HilReport:
    return request.config._hil_report


@pytest.fixture(scope="session")
def _suite_properties(request, record_testsuite_property, pump_port, board, hil_seed, hil_runtime, balance_port):
    """Identify what was tested, asked of the pump and the balance themselves; also in the JUnit XML."""
    config = request.config
    props = config._hil_properties = run_properties(config, pump_port, hil_seed, hil_runtime)
    fixture = config.getoption("bench_fixture")
    props["bench_hands"] = ("the simulated plant" if not pump_port else f"rig fixture {fixture}" if fixture
                            else "operator prompts" if config.getoption("bench_operator") else "none: steps needing hands skipped")
    bench = _make_bench(pump_port, balance_port, board, hil_seed, hil_runtime, None)
    try:
        props.update(pump_properties(bench, config._hil_report.path("logs") / IDENTIFY_LOG))
        props.update(balance_properties(bench, config.getoption("balance_calibrated")))
    finally:
        bench.close()
        for k, v in props.items():
            record_testsuite_property(k, v)
    return props


@pytest.fixture(scope="session")
def bench_procedure(bench_operator, bench_fixture):
    """The bench's hands (hil.procedure), one for the session; None on the virtual board."""
    from hil.procedure import load

    procedure = load(bench_operator, bench_fixture)
    yield procedure
    if procedure is not None:
        procedure.close()


def _make_bench(pump_port, balance_port, board, seed, runtime, storage_dir, procedure=None):
    if pump_port:
        return RealBench(pump_port, balance_port, board, procedure)
    return VirtualBench(board=board, runtime=runtime, seed=seed, storage_dir=storage_dir)


@pytest.fixture
def bench(request, pump_port, balance_port, board, hil_seed, hil_runtime, tmp_path, _suite_properties, bench_procedure):
    b = _make_bench(pump_port, balance_port, board, hil_seed, hil_runtime, tmp_path / "flash",
                    bench_procedure if pump_port else None)
    yield b
    b.close()


def _log_path(request) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    return request.config._hil_report.path("logs") / f"{name}.log"


def _start_log(path: Path, what: str) -> float:
    """A serial log's header; returns its start time, from which its lines count their seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t0_s = time.time()
    path.write_text(f"# serial log of {what}\n# started {iso_utc(t0_s)}; each line: UTC time, "
                    "seconds since the start, > sent or < received, the line\n")
    return t0_s


@pytest.fixture
def pump(request, bench):
    path = _log_path(request)
    t0_s = _start_log(path, request.node.nodeid)
    request.node.user_properties.append(("serial_log", str(path)))
    client = PumpClient.open(bench.pump_url, log_path=path, log_t0_s=t0_s)
    bench.prepare(client)
    yield client
    client.close()


@pytest.fixture
def balance(bench):
    if not bench.balance_url:
        yield None
        return
    from hil.balance import Balance

    b = Balance(bench.balance_url)
    yield b
    b.close()


@pytest.fixture
def plant(bench):
    if bench.plant is None:
        pytest.skip("needs the simulated plant (a real bench has no hands to close the line or cut the power)")
    return bench.plant


# The report: which tests ran, how, and what they measured -----------------------------------------

def _is_acceptance(item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(ACCEPTANCE)


def pytest_collection_finish(session):
    """Every selected acceptance test gets its row, with what it checks, before any runs."""
    report = session.config._hil_report
    for item in session.items:
        if _is_acceptance(item):
            doc = (getattr(getattr(item, "obj", None), "__doc__", None) or "").strip()
            report.record(item.nodeid).checks = " ".join(doc.split("\n\n", 1)[0].split())


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.config._hil_report.current_test = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "call" and item.nodeid in item.config._hil_report.records:
        for m in item.config._hil_report.records[item.nodeid].measurements:
            item.user_properties.append((f"measured {m.quantity}", f"{m.value:g} {m.unit}".rstrip()))
            item.user_properties.append((f"tolerance {m.quantity}", m.tolerance()))
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for key, value in item.user_properties:
            if key == "serial_log":
                rep.sections.append(("serial log", f"full serial log of this test: {value}"))
    if item.nodeid in item.config._hil_report.records:
        _record_phase(item.config._hil_report, item.config._hil_report.records[item.nodeid], rep)


IDENTIFY_LOG = "identify_the_pump.log"  # the exchange before the first test: ID and STATUS


def _record_phase(hil_report, record, report) -> None:
    """Fold one phase (setup, call, teardown) into the test's row; a test that failed before it
    had a serial log of its own points at the log of the pump's identification."""
    record.duration_s += report.duration
    record.log = next((str(v) for k, v in report.user_properties if k == "serial_log"), record.log)
    if report.failed and not record.log and (hil_report.path("logs") / IDENTIFY_LOG).exists():
        record.log = str(hil_report.path("logs") / IDENTIFY_LOG)
    if report.skipped and record.outcome == "not run":
        record.outcome = "skipped"
        record.message = _skip_reason(report)
    elif report.failed:
        record.outcome = "failed" if report.when == "call" else "error"
        crash = getattr(report.longrepr, "reprcrash", None)
        record.message = (crash.message if crash else "") + "\n\n" + "\n".join(report.longreprtext.splitlines()[-40:])
    elif report.when == "call" and record.outcome == "not run":
        record.outcome = "passed"


def pytest_sessionfinish(session):
    report = session.config._hil_report
    if report.records:  # the acceptance suite was selected: write its report, whatever happened
        props = getattr(session.config, "_hil_properties", None) or run_properties(
            session.config, session.config.getoption("pump_port"), session.config.getoption("hil_seed"),
            session.config.getoption("hil_runtime"))
        page = report.write(props)
        session.config._hil_report_page = page


def pytest_terminal_summary(terminalreporter, config):
    page = getattr(config, "_hil_report_page", None)
    if page is not None:
        terminalreporter.write_line(f"HIL report: {page}")


def _skip_reason(report) -> str:
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    return report.longreprtext


def run_properties(config, pump_port, seed, runtime) -> dict:
    """What is known before the pump is asked: when, who, which code, which bench."""
    return {"date_utc": iso_utc(config._hil_report.started_s), "operator": config.getoption("hil_operator") or "not given",
            "git_commit": git_commit(), "harness_version": HARNESS_VERSION,
            "bench": "virtual" if not pump_port else f"real ({pump_port})",
            "runtime": runtime if not pump_port else "board", "seed": seed}


def pump_properties(bench, log_path: Path) -> dict:
    """The pump's own word on what it runs: ID, and STATUS for its occlusion setting."""
    t0_s = _start_log(log_path, "the pump's identification before the first test")
    with PumpClient.open(bench.pump_url, log_path=log_path, log_t0_s=t0_s) as pump:
        ident = pump.identify()
        status = pump.status()
    build = ident.get("build", "not reported (firmware older than the build stamp)")
    if build == "source":
        build = "source (the firmware runs from the source tree: the git commit identifies it)"
    return {"board": ident["board"], "firmware_version": ident["fw"], "firmware_build": build,
            "drug_library_version": ident["library"], "syringe_table_version": ident["syringes"],
            "occlusion_setting": occlusion_setting(status.get("occlusion"))}


def balance_properties(bench, calibrated: str) -> dict:
    if not bench.balance_url:
        return {"balance": "none (gravimetric tests skipped)"}
    from hil.balance import Balance, BalanceError
    from hil.mtsics import MtSicsError

    calibration = {"balance_last_calibration": calibrated or "not given (--balance-calibrated)"}
    try:
        with Balance(bench.balance_url) as balance:
            ident = balance.identity()
    except (BalanceError, MtSicsError) as e:  # the gravimetric tests will say more; the run goes on
        return {"balance_model": f"unknown: the balance did not identify itself ({e})", **calibration}
    return {"balance_model": ident["model"], "balance_software": ident["software"], "balance_serial": ident["serial"],
            **calibration}


def occlusion_setting(level) -> str:
    """The pump's occlusion level with what it means, from the firmware's alarm limits."""
    from firmware.datafile import data_path, load_json

    limits = load_json(data_path("alarm_limits.json"))
    levels, trend = limits["occlusion_levels_mmhg"], limits["occlusion_trend"]
    if level not in levels:
        return str(level)
    return (f"{level}: alarm at {levels[level]} mmHg, or on a rise of {trend['rise_mmhg']} mmHg above the recent floor "
            f"held {trend['confirm_ms'] / 1000:g} s (trend detector); figures from this harness's copy of "
            "firmware/data/alarm_limits.json")


def git_commit() -> str:
    """The commit the harness runs from, '+ local changes' if the tree differs; or why none."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return f"not a git checkout (installed harness {HARNESS_VERSION})"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown ({e})"
    return head.stdout.strip() + (" + local changes" if dirty else "")
