"""pytest plugin of the HIL harness: the same acceptance tests on a bench board or the virtual board.

Options (each also a fixture of the same name, with dashes as underscores):

    --pump-port URL     the pump's command link (/dev/ttyACM0, socket://..., a pty); none: virtual board
    --balance-port URL  the lab balance (MT-SICS); none on a bench: gravimetric checks are skipped
    --board NAME        board definition (boards/NAME/board.json), default VIRTUAL
    --hil-seed N        seed of the virtual plant and balance, default 1
    --hil-runtime RT    where the virtual board's firmware runs: micropython (default) or cpython
    --hil-report DIR    report folder (HTML page, PNG figures, CSV samples), default out/hil
    --operator          on a bench: prompt the operator for the hands' steps (hil/procedure.py)
    --bench-fixture F   on a bench: a rig does the hands' steps, as the TOML file F says

Fixtures: `bench` (hil.bench.RealBench or VirtualBench, fresh for each test on the virtual board),
`pump` (a connected hil.client.PumpClient with its own serial log), `balance` (hil.balance.Balance
or None), `plant` (the simulated plant, or a skip on a real bench), `hil_report` (to add figures,
tables and CSVs to the report). The JUnit XML carries firmware version, board, drug-library
version, seed and harness version as suite properties; every failure names its serial log.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hil.bench import RealBench, VirtualBench
from hil.client import PumpClient
from hil.report import HilReport

HARNESS_VERSION = "0.1.0"
OPTIONS = {
    "--pump-port": dict(default=None, help="pump command link URL (default: start a virtual board)"),
    "--balance-port": dict(default=None, help="lab balance URL (MT-SICS)"),
    "--board": dict(default="VIRTUAL", help="board name under boards/ (default VIRTUAL)"),
    "--hil-seed": dict(default=1, type=int, help="seed of the virtual plant (default 1)"),
    "--hil-runtime": dict(default="micropython", choices=("micropython", "cpython"), help="virtual board firmware runtime"),
    "--hil-report": dict(default="out/hil", help="report folder (default out/hil)"),
    "--operator": dict(action="store_true", default=False, help="prompt the operator for the bench steps"),
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
    config._hil_report = HilReport(Path(config.getoption("hil_report")))


def pytest_sessionfinish(session):
    report = getattr(session.config, "_hil_report", None)
    if report is not None and hasattr(session.config, "_hil_properties"):  # the acceptance suite ran
        report.write(session.config._hil_properties)


@pytest.fixture(scope="session")
def hil_report(request) -> HilReport:
    return request.config._hil_report


@pytest.fixture(scope="session")
def _suite_properties(request, record_testsuite_property, pump_port, board, hil_seed, hil_runtime):
    """Identify what was tested: asked of the pump itself."""
    bench = _make_bench(pump_port, None, board, hil_seed, hil_runtime, None)
    try:
        with PumpClient.open(bench.pump_url) as pump:
            ident = pump.identify()
    finally:
        bench.close()
    props = {"firmware_version": ident["fw"], "board": ident["board"], "drug_library_version": ident["library"],
             "syringe_table_version": ident["syringes"], "seed": hil_seed, "harness_version": HARNESS_VERSION,
             "bench": "virtual" if not pump_port else "real", "runtime": hil_runtime if not pump_port else "board"}
    for k, v in props.items():
        record_testsuite_property(k, v)
    request.config._hil_properties = props
    return props


@pytest.fixture(scope="session")
def bench_procedure(operator, bench_fixture):
    """The bench's hands (hil.procedure), one for the session; None on the virtual board."""
    from hil.procedure import load

    procedure = load(operator, bench_fixture)
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
    return Path(request.config.getoption("hil_report")) / "logs" / f"{name}.log"


@pytest.fixture
def pump(request, bench):
    path = _log_path(request)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    request.node.user_properties.append(("serial_log", str(path)))
    client = PumpClient.open(bench.pump_url, log_path=path)
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for key, value in item.user_properties:
            if key == "serial_log":
                rep.sections.append(("serial log", f"full serial log of this test: {value}"))
