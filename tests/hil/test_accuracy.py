"""Tests for hil.accuracy (and the plots of hil.report_plots): the accuracy report from a CSV."""

import json
import struct

import pytest

from hil.accuracy import main

RATE_ML_H = 5.0
# A pump 2 % fast: 5.1 mL/h x 0.5 min / 60 x 0.998 g/mL = 0.0424150 g per half minute.
FAST_INCREMENT_G = 0.0424150
# A pump 1 % slow: 4.95 mL/h -> 0.0411675 g per half minute; 4 % slow: 4.8 mL/h -> 0.0399200 g.
SLOW_INCREMENT_G = 0.0411675
VERY_SLOW_INCREMENT_G = 0.0399200


def write_log(path, rows, header="t_min,mass_g"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def two_percent_fast_log(path, readings=241, beaker_g=48.37, increment_g=FAST_INCREMENT_G):
    """A 2-h log, one reading every 0.5 min, from a pump delivering 5.1 mL/h (or another rate)."""
    rows = [f"{0.5 * i:.1f},{beaker_g + increment_g * i:.7f}" for i in range(readings)]
    return write_log(path, rows)


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_from_a_one_percent_slow_log(tmp_path, capsys):
    """A = -1 % and every Ep = -1 %: printed with PASS against the suite's limits, in
    results.json, and both plots written."""
    log = two_percent_fast_log(tmp_path / "run7.csv", increment_g=SLOW_INCREMENT_G)
    out = tmp_path / "report"
    assert main([str(log), "--rate", "5", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "mean flow 4.9500 mL/h, A = -1.00 % (limit +/-2 %) PASS" in printed
    for window, limit in ((2, "+/-5"), (5, "+/-3.5"), (11, "+/-2.5"), (19, "+/-2"), (31, "+/-2")):
        assert f"{window:>8} {'-1.00':>10} {'-1.00':>10} {limit:>8} PASS" in printed
    assert printed.splitlines()[-2] == "verdict: PASS"

    results = json.loads((out / "results.json").read_text())
    assert results["mean_error_pct"] == pytest.approx(-1.0, abs=1e-6)
    assert results["mean_flow_ml_h"] == pytest.approx(4.95, abs=1e-6)
    assert [p["window_min"] for p in results["trumpet"]] == [2, 5, 11, 19, 31]
    assert all(p["ep_max_pct"] == pytest.approx(-1.0, abs=1e-6) for p in results["trumpet"])
    assert all(p["ep_min_pct"] == pytest.approx(-1.0, abs=1e-6) for p in results["trumpet"])
    assert len(results["startup_curve"]["flow_ml_h"]) == 240
    assert results["file"] == str(log) and results["mean_error_within_limit"] is True
    assert results["verdict"] == "PASS" and results["limit_pct"] == 2.0

    for name in ("startup.png", "trumpet.png"):
        width, height = png_size(out / name)
        assert width > 600 and height > 400


def test_a_pump_four_percent_slow_fails(tmp_path, capsys):
    """A = -4 % is outside the suite's +/-2 %: FAIL on A and on every window, exit code 1."""
    log = two_percent_fast_log(tmp_path / "run.csv", increment_g=VERY_SLOW_INCREMENT_G)
    assert main([str(log), "--rate", "5", "--out", str(tmp_path / "o")]) == 1
    printed = capsys.readouterr().out
    assert "A = -4.00 % (limit +/-2 %) FAIL" in printed and "verdict: FAIL" in printed
    assert f"{2:>8} {'-4.00':>10} {'-4.00':>10} {'+/-5':>8} PASS" in printed
    assert f"{31:>8} {'-4.00':>10} {'-4.00':>10} {'+/-2':>8} FAIL" in printed
    assert json.loads((tmp_path / "o" / "results.json").read_text())["verdict"] == "FAIL"


def test_the_default_limit_is_the_suites(tmp_path):
    """`hil accuracy` and the acceptance suite hold the same number: one tolerance, one place."""
    from hil.acceptance.helpers import VOLUME_TOLERANCE_PCT
    from hil.acceptance.test_accuracy import MEAN_ERROR_LIMIT_PCT

    log = two_percent_fast_log(tmp_path / "run.csv", increment_g=SLOW_INCREMENT_G)
    assert main([str(log), "--rate", "5", "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["limit_pct"] == VOLUME_TOLERANCE_PCT == MEAN_ERROR_LIMIT_PCT == 2.0


def test_a_late_reading_is_no_flow_error(tmp_path, capsys):
    """A perfect 5 mL/h pump, one reading 1.44 s late (its weight is the weight at that moment):
    with each reading's own time every flow is 5 mL/h; taken as exactly 30 s apart it would read
    -/+1.2 % on the two intervals around it."""
    increment_g_per_min = 5.0 / 60 * 0.998
    times = [0.5 * i for i in range(241)]
    times[150] += 1.44 / 60
    log = write_log(tmp_path / "run.csv", [f"{t!r},{increment_g_per_min * t!r}" for t in times])
    assert main([str(log), "--rate", "5", "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["startup_curve"]["flow_ml_h"] == pytest.approx([5.0] * 240, abs=1e-9)
    assert all(abs(p["ep_max_pct"]) < 1e-9 and abs(p["ep_min_pct"]) < 1e-9 for p in results["trumpet"])
    assert results["startup_curve"]["t_min"][149] == pytest.approx(75.0 + 1.44 / 60)


def test_density_option_changes_the_flow(tmp_path):
    """--density 1.0 on water weighed at 0.998: Q = 5.1 x 0.998 = 5.0898 mL/h, A = +1.796 %."""
    log = two_percent_fast_log(tmp_path / "run.csv")
    assert main([str(log), "--rate", "5", "--density", "1.0", "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["mean_error_pct"] == pytest.approx(1.796, abs=1e-6)
    assert results["density_g_ml"] == 1.0


def test_limit_option_sets_the_pass_flag(tmp_path):
    """With a +/-1 % limit a +2 % pump is outside it."""
    log = two_percent_fast_log(tmp_path / "run.csv")
    assert main([str(log), "--rate", "5", "--limit-pct", "1", "--out", str(tmp_path / "o")]) == 1
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["limit_pct"] == 1.0 and results["mean_error_within_limit"] is False


def test_interval_option_on_a_one_minute_log(tmp_path):
    """A log read every 1 min (121 readings) is analysed with --interval-min 1."""
    rows = [f"{float(i):.1f},{2 * SLOW_INCREMENT_G * i:.7f}" for i in range(121)]
    log = write_log(tmp_path / "slow.csv", rows)
    assert main([str(log), "--rate", "5", "--interval-min", "1", "--out", str(tmp_path / "o")]) == 0
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["mean_error_pct"] == pytest.approx(-1.0, abs=1e-6)
    assert [p["samples_per_window"] for p in results["trumpet"]] == [2, 5, 11, 19, 31]


def test_default_output_folder_is_named_after_the_log(tmp_path, monkeypatch):
    """Without --out the report goes to out/accuracy/<csv name>/ under the working folder."""
    log = two_percent_fast_log(tmp_path / "bench-run-3.csv", increment_g=SLOW_INCREMENT_G)
    monkeypatch.chdir(tmp_path)
    assert main([str(log), "--rate", "5"]) == 0
    assert (tmp_path / "out" / "accuracy" / "bench-run-3" / "trumpet.png").exists()


def test_missing_file(tmp_path, capsys):
    """A file that does not exist: exit 2 and a message naming it."""
    assert main([str(tmp_path / "nope.csv"), "--rate", "5"]) == 2
    assert f"no such file: {tmp_path / 'nope.csv'}" in capsys.readouterr().err


def test_wrong_columns(tmp_path, capsys):
    """Columns other than t_min,mass_g: exit 2, listing what was found and what is needed."""
    log = write_log(tmp_path / "run.csv", ["0.0,1.0", "0.5,1.04"], header="time,weight")
    assert main([str(log), "--rate", "5", "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert "has columns time, weight; it needs t_min and mass_g (missing: t_min, mass_g)" in error
    assert not (tmp_path / "o").exists()


def test_value_that_is_not_a_number(tmp_path, capsys):
    """A cell that is not a number: exit 2 naming the line and the column."""
    rows = [f"{0.5 * i:.1f},{FAST_INCREMENT_G * i:.6f}" for i in range(241)]
    rows[3] = "1.5,overload"
    log = write_log(tmp_path / "run.csv", rows)
    assert main([str(log), "--rate", "5"]) == 2
    assert "line 5: mass_g 'overload' is not a number" in capsys.readouterr().err


def test_empty_log(tmp_path, capsys):
    """A header without readings: exit 2."""
    log = tmp_path / "run.csv"
    log.write_text("t_min,mass_g\n")
    assert main([str(log), "--rate", "5"]) == 2
    assert "has no readings" in capsys.readouterr().err


def test_log_too_short_for_the_second_hour(tmp_path, capsys):
    """90 min of readings cannot give the second hour: exit 2 saying how many are needed."""
    log = two_percent_fast_log(tmp_path / "run.csv", readings=181)
    assert main([str(log), "--rate", "5"]) == 2
    assert "needs 241 readings at 0.5 min" in capsys.readouterr().err


def test_wrong_interval_for_the_log(tmp_path, capsys):
    """--interval-min 1 on a 0.5-min log is uneven sampling: exit 2."""
    log = two_percent_fast_log(tmp_path / "run.csv")
    assert main([str(log), "--rate", "5", "--interval-min", "1"]) == 2
    assert "off the 1-min grid" in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["0", "-5"])
def test_non_positive_rate(tmp_path, capsys, rate):
    """--rate 0 or negative: exit 2."""
    log = two_percent_fast_log(tmp_path / "run.csv")
    assert main([str(log), f"--rate={rate}"]) == 2
    assert "set rate r must be a positive number of mL/h" in capsys.readouterr().err


def test_missing_rate_is_a_usage_error(tmp_path, capsys):
    """Without --rate argparse prints usage and main returns 2."""
    log = two_percent_fast_log(tmp_path / "run.csv")
    assert main([str(log)]) == 2
    assert "--rate" in capsys.readouterr().err
