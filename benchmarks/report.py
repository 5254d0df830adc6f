"""The three outputs of a run: a markdown report, a JSON file, a PNG bar chart of the ratios.

All three read the same run record (see runner.run): {"settings", "machine", "frameworks",
"cases": [{"name", "unit" ("seconds" or "bytes"), "frameworks": {fw: {"median", "q1", "q3",
...} or {"error"}}, "ratios": {fw: graphflow median / fw median}, "mismatches": {fw: message},
optionally "rates": {fw: work per second} and "rate_unit"}]}.
"""
import json
import sys
from pathlib import Path

from benchmarks.registry import FRAMEWORKS, LABELS

_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def format_seconds(seconds):
    for scale, unit in _UNITS:
        if seconds >= scale or scale == 1e-9:
            return f"{seconds / scale:.3g} {unit}"


def format_figure(value, unit):
    """A median in its case's unit: seconds (µs, ms, s) or bytes (MiB)."""
    return f"{value / 2**20:.0f} MiB" if unit == "bytes" else format_seconds(value)


def _time_cell(case, framework):
    stats = case["frameworks"].get(framework)
    if stats is None:
        return "—"
    if "error" in stats:
        return "error"
    spread = (stats["q3"] - stats["q1"]) / 2 / stats["median"] * 100
    cell = f"{format_figure(stats['median'], case.get('unit', 'seconds'))} ±{spread:.0f}%"
    rate = case.get("rates", {}).get(framework)
    if rate is None:
        return cell
    return f"{cell} ({rate:.0f} {case['rate_unit']})" if rate >= 1000 else \
        f"{cell} ({rate:.3g} {case['rate_unit']})"


def _ratio_cell(ratio):
    return "—" if ratio is None else f"{ratio:.3g}"


def _check_cell(case):
    problems = [f"{LABELS[fw]} error" for fw, s in case["frameworks"].items() if "error" in s]
    problems += [f"{LABELS[fw]} differs" for fw in case["mismatches"]]
    return ", ".join(problems) or "agree"


def _thread_line(framework, facts):
    if "error" in facts:
        return f"- {LABELS[framework]}: not run ({facts['error'].strip().splitlines()[-1]})"
    pools = facts["pools"]
    pools = ", ".join(pools) if isinstance(pools, list) else pools
    parts = [f"{LABELS[framework]} {facts.get('version', '')}".strip()]
    if framework == "graphflow":
        parts.append(f"Numba {facts['numba']} {facts['numba_threads']} threads "
                     f"({facts['numba_layer']})")
    if framework == "tf1":
        parts.append(f"intra-op {facts['intra_op_threads']}, "
                     f"inter-op {facts['inter_op_threads']} threads, "
                     f"{facts.get('kernels', 'oneDNN')} kernels")
    if framework == "pytensor":
        parts.append(f"mode {facts['mode']}, linker {facts['linker']}")
    parts.append(f"BLAS/OpenMP pools: {pools or 'none loaded'}")
    return f"- {'; '.join(parts)} — `{facts['python']}`"


def markdown(run):
    s, m = run["settings"], run["machine"]
    memory = f", {m['memory_gib']} GiB RAM" if m["memory_gib"] else ""
    lines = [
        f"## graphflow benchmarks — {s['mode']} mode",
        "",
        f"Machine: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable)"
        f"{memory}; {m['os']}; Python {m['python']}.",
        f"Command: `{s['command']}`",
        f"Thread budget {s['threads']} for every framework:",
        *(_thread_line(fw, facts) for fw, facts in run["frameworks"].items()),
        "",
        f"Each time is the median seconds per call over {s['reps']} interleaved repetition(s) "
        "after warm-up (fewer for the slow fresh-process cases: cold start and peak memory, "
        "whose figure is what one fresh process measured); ±% is half the interquartile range "
        "relative to the median; a rate in brackets is the case's work per call divided by "
        "the median. Ratios are graphflow figure / other figure: **below 1 means graphflow is "
        "faster (or smaller)**.",
        "",
    ]
    present = [fw for fw in FRAMEWORKS if fw in run["frameworks"]]
    others = [fw for fw in present if fw != "graphflow"]
    header = (["case"] + [LABELS[fw] for fw in present] +
              [f"graphflow/{LABELS[fw]}" for fw in others] + ["values"])
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in run["cases"]:
        cells = ([f"`{case['name']}`"] +
                 [_time_cell(case, fw) for fw in present] +
                 [_ratio_cell(case["ratios"].get(fw)) for fw in others] + [_check_cell(case)])
        lines.append("| " + " | ".join(cells) + " |")
    for case in run.get("skipped", ()):
        lines.append(f"\n{case['name']}: skipped, {case['reason']}.")
    for case in run["cases"]:
        for fw, message in case["mismatches"].items():
            lines.append(f"\n{case['name']}: {LABELS[fw]} differs from graphflow: {message}")
        for fw, stats in case["frameworks"].items():
            if "error" in stats:
                lines.append(f"\n{case['name']}: {LABELS[fw]} failed:\n```\n"
                             f"{stats['error'].rstrip()}\n```")
    return "\n".join(lines) + "\n"


def write_json(run, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run, indent=1) + "\n")
    return path


def write_png(run, path):
    """A horizontal bar per case and compared framework, on a log scale around 1; None (with
    a note on stderr) when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart written",
              file=sys.stderr)
        return None
    others = [fw for fw in FRAMEWORKS if fw != "graphflow" and fw in run["frameworks"]]
    cases = run["cases"]
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.45 * len(cases) * max(1, len(others))))
    height = 0.8 / max(1, len(others))
    for k, fw in enumerate(others):
        drawn = [(i + k * height, c["ratios"][fw]) for i, c in enumerate(cases)
                 if fw in c["ratios"]]
        ys, ratios = [y for y, _ in drawn], [r for _, r in drawn]
        bars = ax.barh(ys, [r - 1 for r in ratios], left=1, height=height,
                       label=f"graphflow / {LABELS[fw]}")
        ax.bar_label(bars, labels=[f"{r:.3g}" for r in ratios], padding=3, fontsize=8)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.margins(x=0.12)  # room for the value labels
    ax.set_yticks([i + height * (len(others) - 1) / 2 for i in range(len(cases))])
    ax.set_yticklabels([c["name"] for c in cases])
    ax.invert_yaxis()
    ax.set_xlabel("graphflow figure / other figure (log scale; left of 1: graphflow faster "
                  "or smaller)")
    ax.set_title(f"graphflow benchmarks, {run['settings']['mode']} mode — "
                 f"{run['machine']['cpu']}")
    ax.legend(loc="best")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
