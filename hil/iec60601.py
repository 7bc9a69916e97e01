"""IEC 60601-2-24 gravimetric accuracy: start-up curve, trumpet curve and mean error.

A syringe pump set to r = 5 mL/h pushes water into a beaker on a lab balance. The balance
is read every S = 0.5 min for 120 min, which gives the weights W0 (at 0 min) .. W240 (at
120 min). Each sample interval i gives one flow

    Qi = 60 (Wi - Wi-1) / (S d)   mL/h      (d: water density, ~0.998 g/mL at 20 C)

so 0.04158 g in a half minute of water at d = 0.998 g/mL is a flow of 5.00 mL/h. Where the
readings carry their own times, S is the interval that actually passed between them (a balance
reply can come a second late; taking it as exactly 30 s would misread a perfect pump).

Start-up curve: Qi against time over the whole 2 h; a pump that takes 3 min to take up
the slack of its drive shows six intervals of near-zero flow at the start.

Trumpet curve, over the analysis period T = the second hour (60-120 min), as the
standard's clause (50.102 in the 1998 edition, 201.12.1.102 in 2012) forms it:

- the analysis period holds the N = T/S = 120 flows Q121 .. Q240 (intervals ending at
  60.5 .. 120 min);
- an observation window of P minutes spans k = P/S consecutive flows: P = 2, 5, 11, 19
  and 31 min give k = 4, 10, 22, 38 and 62;
- window j holds the j-th to (j+k-1)-th flows of the analysis period and slides one sample
  at a time, so there are m = (T - P)/S + 1 windows: 117, 111, 99, 83 and 59;
- Ep(max) = max over j of (1/k) sum 100 (Qi - r)/r, Ep(min) the min; the sum's mean is
  the percentage error of the window's mean flow (the volume delivered in the window);
- plotted against P, the max and min close in like the bell of a trumpet.

Overall mean error A = 100 (Q - r)/r, with Q the mean flow over the analysis period, i.e.
the volume delivered in the second hour.

A lies between Ep(min) and Ep(max) whenever k divides N (the tiling windows are among the
sliding ones and A is their average: P = 2 and 5 min at S = 0.5 min); for the other windows
it usually does but need not, because windows that overlap the middle of the hour weigh
its samples more than the ends.

The sample interval, windows and water density come from hil/data/iec60601_2_24.json.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

PROTOCOL_PATH = Path(__file__).parent / "data" / "iec60601_2_24.json"
# Relative slack when checking that a ratio such as P/S is a whole number.
_WHOLE_TOLERANCE = 1e-9
# Reading times may jitter by this fraction of S (a balance reply takes ~0.1-1 s).
DEFAULT_JITTER_FRACTION = 0.05


@dataclass(frozen=True)
class GravimetricProtocol:
    """The figures of the test: sample interval, test length, analysis period, windows."""

    sample_interval_min: float
    test_duration_min: float
    analysis_start_min: float
    analysis_end_min: float
    observation_windows_min: tuple[float, ...]
    water_density_g_ml: float
    flow_limit_pct: float
    flow_limit_source: str = ""
    trumpet_limits_pct: tuple[tuple[float, float], ...] = ()  # (window P min, +/- limit %)
    trumpet_limits_source: str = ""

    def trumpet_limit_pct(self, window_min: float) -> float:
        """The +/- limit on Ep(max) and Ep(min) for window P; the flow limit where none is declared."""
        return dict(self.trumpet_limits_pct).get(float(window_min), self.flow_limit_pct)


def load_protocol(path: Path = PROTOCOL_PATH) -> GravimetricProtocol:
    """Read the test's figures from its JSON data file."""
    table = json.loads(Path(path).read_text())
    return GravimetricProtocol(
        sample_interval_min=float(table["sample_interval_min"]),
        test_duration_min=float(table["test_duration_min"]),
        analysis_start_min=float(table["analysis_start_min"]),
        analysis_end_min=float(table["analysis_end_min"]),
        observation_windows_min=tuple(float(p) for p in table["observation_windows_min"]),
        water_density_g_ml=float(table["water_density_g_ml"]),
        flow_limit_pct=float(table["flow_limit_pct"]),
        flow_limit_source=str(table.get("flow_limit_source", "")),
        trumpet_limits_pct=tuple((float(p), float(v)) for p, v in table.get("trumpet_limits_pct", {}).items()),
        trumpet_limits_source=str(table.get("trumpet_limits_source", "")),
    )


PROTOCOL = load_protocol()


@dataclass(frozen=True)
class TrumpetPoint:
    """Extremes of the windowed percentage error for one observation window P."""

    window_min: float
    samples_per_window: int  # k = P / S
    window_count: int  # m = (T - P) / S + 1
    ep_max_pct: float
    ep_min_pct: float


@dataclass(frozen=True)
class AccuracyResult:
    """Everything the accuracy report shows: start-up curve, trumpet curve, A."""

    rate_ml_h: float
    sample_interval_min: float
    density_g_ml: float
    analysis_start_min: float
    analysis_end_min: float
    t_min: tuple[float, ...]  # end of each sample interval, from the first reading
    flow_ml_h: tuple[float, ...]  # Qi over the whole recording: the start-up curve
    mean_flow_ml_h: float  # Q over the analysis period
    mean_error_pct: float  # A
    trumpet: tuple[TrumpetPoint, ...]

    def to_dict(self) -> dict:
        """Plain JSON-ready form (lists, floats, nested dicts)."""
        result = asdict(self)
        result["t_min"] = list(self.t_min)
        result["flow_ml_h"] = list(self.flow_ml_h)
        result["trumpet"] = [asdict(point) for point in self.trumpet]
        return result


def percent_error(flow_ml_h: float, rate_ml_h: float) -> float:
    """100 (Q - r) / r: how far a flow is from the set rate, in percent."""
    return 100.0 * (flow_ml_h - rate_ml_h) / rate_ml_h


def flows_ml_h(
    mass_g: Sequence[float], sample_interval_min: float, density_g_ml: float, t_min: Sequence[float] | None = None
) -> list[float]:
    """Qi = 60 (Wi - Wi-1) / ((ti - ti-1) d) for each interval between successive readings.

    With the readings' own times t_min the interval is the one that actually passed, so a
    reading that came 1.44 s late does not show a perfect pump 1.2 % slow then 1.2 % fast;
    without them every interval is taken to be S (the standard's formula)."""
    _check_positive("sample interval S", sample_interval_min, "min")
    _check_positive("water density d", density_g_ml, "g/mL", hint="0.998 g/mL at 20 C")
    _check_finite_masses(mass_g)
    times = t_min if t_min is not None else [i * sample_interval_min for i in range(len(mass_g))]
    return [60.0 * (w1 - w0) / ((t1 - t0) * density_g_ml)
            for w0, w1, t0, t1 in zip(mass_g, mass_g[1:], times, times[1:])]


def mean_error_pct(flows: Sequence[float], rate_ml_h: float) -> float:
    """A = 100 (Q - r) / r with Q the mean of the given flows (the analysis period)."""
    _check_rate(rate_ml_h)
    if not flows:
        raise ValueError("no flow samples in the analysis period; record the full test")
    return percent_error(math.fsum(flows) / len(flows), rate_ml_h)


def trumpet_curve(
    flows: Sequence[float],
    rate_ml_h: float,
    sample_interval_min: float,
    windows_min: Sequence[float] = PROTOCOL.observation_windows_min,
) -> tuple[TrumpetPoint, ...]:
    """Ep(max) and Ep(min) for each observation window, sliding over the analysis flows."""
    _check_rate(rate_ml_h)
    errors_pct = [percent_error(q, rate_ml_h) for q in flows]
    period_min = len(errors_pct) * sample_interval_min
    return tuple(
        _trumpet_point(errors_pct, window_min, sample_interval_min, period_min)
        for window_min in windows_min
    )


def check_uniform_sampling(
    t_min: Sequence[float],
    sample_interval_min: float,
    jitter_fraction: float = DEFAULT_JITTER_FRACTION,
) -> None:
    """Raise ValueError unless reading i comes at t0 + i S, give or take the jitter.

    Checking against the grid rather than step by step lets a reply that came a second
    late be followed by one on time, while a missed reading or a drifting clock is caught.
    """
    _check_positive("sample interval S", sample_interval_min, "min")
    allowed_min = sample_interval_min * jitter_fraction
    for index, t in enumerate(t_min):
        expected_min = t_min[0] + index * sample_interval_min
        if not abs(t - expected_min) <= allowed_min:
            raise ValueError(
                f"reading {index + 1} at t = {t:g} min is off the {sample_interval_min:g}-min grid: "
                f"expected {expected_min:g} +/- {allowed_min:g} min. The method needs one reading "
                "every S minutes; re-record at a fixed interval, or give the interval actually used."
            )


def analyse(
    mass_g: Sequence[float],
    rate_ml_h: float,
    t_min: Sequence[float] | None = None,
    sample_interval_min: float = PROTOCOL.sample_interval_min,
    density_g_ml: float = PROTOCOL.water_density_g_ml,
    analysis_start_min: float = PROTOCOL.analysis_start_min,
    analysis_end_min: float = PROTOCOL.analysis_end_min,
    windows_min: Sequence[float] = PROTOCOL.observation_windows_min,
) -> AccuracyResult:
    """The whole method on balance readings taken every S minutes from t = 0."""
    _check_rate(rate_ml_h)
    if t_min is not None:
        if len(t_min) != len(mass_g):
            raise ValueError(f"{len(t_min)} reading times for {len(mass_g)} weights; give one time per weight")
        check_uniform_sampling(t_min, sample_interval_min)
    first, last = _analysis_slice(len(mass_g), sample_interval_min, analysis_start_min, analysis_end_min)
    flows = flows_ml_h(mass_g, sample_interval_min, density_g_ml, t_min)
    period_flows = flows[first:last]
    mean_error = mean_error_pct(period_flows, rate_ml_h)
    return AccuracyResult(
        rate_ml_h=rate_ml_h,
        sample_interval_min=sample_interval_min,
        density_g_ml=density_g_ml,
        analysis_start_min=analysis_start_min,
        analysis_end_min=analysis_end_min,
        t_min=tuple(t - t_min[0] for t in t_min[1:]) if t_min is not None
        else tuple(sample_interval_min * (i + 1) for i in range(len(flows))),
        flow_ml_h=tuple(flows),
        mean_flow_ml_h=math.fsum(period_flows) / len(period_flows),
        mean_error_pct=mean_error,
        trumpet=trumpet_curve(period_flows, rate_ml_h, sample_interval_min, windows_min),
    )


@dataclass(frozen=True)
class Check:
    """One figure of the result against its limit."""

    what: str
    value_pct: float
    limit_pct: float

    @property
    def passed(self) -> bool:
        return abs(self.value_pct) <= self.limit_pct


def checks(result: AccuracyResult, protocol: GravimetricProtocol = PROTOCOL, limit_pct: float | None = None) -> list[Check]:
    """A against the flow limit, and Ep(max), Ep(min) of each window against its trumpet limit."""
    limit = protocol.flow_limit_pct if limit_pct is None else limit_pct
    out = [Check("mean error A", result.mean_error_pct, limit)]
    for point in result.trumpet:
        window_limit = protocol.trumpet_limit_pct(point.window_min)
        out.append(Check(f"Ep(max) P={point.window_min:g} min", point.ep_max_pct, window_limit))
        out.append(Check(f"Ep(min) P={point.window_min:g} min", point.ep_min_pct, window_limit))
    return out


def _trumpet_point(
    errors_pct: Sequence[float], window_min: float, sample_interval_min: float, period_min: float
) -> TrumpetPoint:
    k = _whole_number(window_min / sample_interval_min, f"window P = {window_min:g} min over S = {sample_interval_min:g} min")
    if window_min > period_min + _WHOLE_TOLERANCE:
        raise ValueError(
            f"observation window {window_min:g} min is longer than the {period_min:g} min analysis "
            "period; use windows no longer than the period"
        )
    # Running sums make every window O(1): window j is prefix[j + k] - prefix[j].
    prefix = [0.0]
    for error in errors_pct:
        prefix.append(prefix[-1] + error)
    means = [(prefix[j + k] - prefix[j]) / k for j in range(len(errors_pct) - k + 1)]
    return TrumpetPoint(
        window_min=window_min,
        samples_per_window=k,
        window_count=len(means),
        ep_max_pct=max(means),
        ep_min_pct=min(means),
    )


def _analysis_slice(
    reading_count: int, sample_interval_min: float, start_min: float, end_min: float
) -> tuple[int, int]:
    """Indices [first, last) into the flow list for the analysis period."""
    _check_positive("sample interval S", sample_interval_min, "min")
    if not 0.0 <= start_min < end_min:
        raise ValueError(
            f"analysis period {start_min:g}-{end_min:g} min is empty or starts before the test; "
            "give 0 <= start < end (the method uses 60-120 min)"
        )
    first = _whole_number(start_min / sample_interval_min, f"analysis start {start_min:g} min over S")
    last = _whole_number(end_min / sample_interval_min, f"analysis end {end_min:g} min over S")
    needed = last + 1
    if reading_count < needed:
        recorded_min = max(reading_count - 1, 0) * sample_interval_min
        raise ValueError(
            f"the analysis period {start_min:g}-{end_min:g} min needs {needed} readings at "
            f"{sample_interval_min:g} min (the first at 0 min); got {reading_count} "
            f"({recorded_min:g} min). Record the full {end_min:g} min test."
        )
    return first, last


def _whole_number(ratio: float, what: str) -> int:
    nearest = round(ratio)
    if nearest < 1 or abs(ratio - nearest) > _WHOLE_TOLERANCE * max(1.0, abs(ratio)):
        raise ValueError(
            f"{what} gives {ratio:g} sample intervals; it must be a whole number of at least 1. "
            "Choose an interval that divides the windows and the analysis period (0.5 min does)."
        )
    return int(nearest)


def _check_rate(rate_ml_h: float) -> None:
    _check_positive("set rate r", rate_ml_h, "mL/h", hint="the rate programmed on the pump, e.g. 5 mL/h")


def _check_positive(name: str, value: float, unit: str, hint: str = "") -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        extra = f" ({hint})" if hint else ""
        raise ValueError(f"{name} must be a positive number of {unit}{extra}; got {value!r}")


def _check_finite_masses(mass_g: Sequence[float]) -> None:
    for index, mass in enumerate(mass_g):
        if not math.isfinite(mass):
            raise ValueError(
                f"reading {index + 1} is {mass!r} g; every balance reading must be a finite number "
                "of grams (drop or repeat the test if the balance overloaded)"
            )
