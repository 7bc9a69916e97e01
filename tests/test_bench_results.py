"""The benchmark's figure records, table and results file (the figures themselves come from make bench)."""

import json

from bench.results import Figure, table, write


def test_ratio_is_value_over_baseline():
    """A figure with a baseline carries value/baseline; without one, none."""
    assert Figure("t", 80.0, "s", baseline=400.0).ratio == 0.2
    assert Figure("t", 80.0, "s").ratio is None


def test_table_and_file(tmp_path):
    """The table names every figure; the JSON has name, value, unit, baseline, ratio and params."""
    figs = [Figure("realtime_factor_cpython", 12345.6, "x", target=">= 2000x"),
            Figure("occlusion_time_to_alarm_5mlh_s", 81.5, "s", 695.6, "threshold", params={"seeds": [1, 2]})]
    text = table(figs)
    assert "realtime_factor_cpython" in text and "12,346" in text and "695.6 (threshold)" in text
    write(figs, tmp_path / "r.json", wall_s=1.0)
    doc = json.loads((tmp_path / "r.json").read_text())
    second = doc["figures"][1]
    assert second["name"] == "occlusion_time_to_alarm_5mlh_s" and second["ratio"] == round(81.5 / 695.6, 3)
    assert second["params"] == {"seeds": [1, 2]} and second["unit"] == "s"
