"""How fast a broken run config is refused, through the real CLI in a fresh process, and whether torch was loaded.

    python benchmarks/bench_validation.py [--repeats N]

Every run config is validated before the first stage and before torch (4-10 s, about 400 MB) is imported. For each
command that reads a run config (`run`, `search`, `supernet train`) and each kind of mistake (an out-of-bounds
value, a missing data file, hardware that cannot hold one tile), this starts `python -m nas.cli` the way a user's
shell does, takes the median wall time over `--repeats` runs and the peak memory, and asks the same process,
after the refusal, which heavy libraries it imported. The first line printed is the summary:

    broken config refused in 0.31 s (torch imported: no)

Bars (the constants below): no heavy library imported by any refusal, and the refusal costing a fraction of what
importing torch costs, in time and in memory, both measured in the same run (a fresh `python -c "import torch"`).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bars import Bar, check, exit_if_missed

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "pandas", "sklearn", "matplotlib")

HEAVY_BAR = Bar("==", 0, "d")  # heavy modules imported by any refusal: none, as the docstring promises
# median refusal time / a fresh process's `import torch` time: measured 0.31-1.2 s against 4-10 s (about 0.1-0.25
# on 2 shared cores); 0.5 leaves room for a busy machine and still fails if validation imported torch (ratio >= 1)
TIME_BAR = Bar("<=", 0.5, ".3f")
# the largest refusal's peak memory / that torch process's: 53 MB against about 400 MB (0.13)
MEMORY_BAR = Bar("<=", 0.5, ".3f")

# A valid config, then one mistake each.
BASE = {"space": {"depth": [2, 3], "embed_dim": [64, 128], "heads": [2, 4], "ffn_dim": [128, 256],
                  "head_dim": 32, "max_seq_len": 128},
        "supernet": {"steps": 10, "seq_len": 64}, "hardware": "gemmini-ibert", "workload": {"seq_len": 128},
        "output": "runs/bench"}
MISTAKES = {
    "max_seq_len: 1e9": {"space": {**BASE["space"], "max_seq_len": 10**9}},
    "missing data file": {"supernet": {**BASE["supernet"], "data": "no-such-corpus.txt"}},
    "4096x4096 array": {"hardware": {"extends": "gemmini-ibert", "rows": 4096, "cols": 4096}},
}
COMMANDS = (["run"], ["search"], ["supernet", "train"])

# Runs the CLI in this process, then reports its exit code, the heavy modules it imported and its peak memory.
PROBE = """
import json, resource, sys
from nas.cli import app
try:
    app(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def refuse(command: list[str], config: Path) -> tuple[float, dict, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *command, str(config)],
                         capture_output=True, text=True, cwd=config.parent, env=env, timeout=300)
    seconds = time.perf_counter() - start
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, report, out.stderr.strip()


def torch_import(repeats: int) -> tuple[float, float]:
    """The reference: a fresh process that imports torch, the median wall time and its peak memory (MB)."""
    probe = "import resource, torch; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
        runs.append((time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])))
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows, times, heavy = [], [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, (mistake, change) in enumerate(MISTAKES.items()):
            config = Path(tmp) / f"broken{i}.yaml"
            config.write_text(json.dumps({**BASE, **change}))
            for command in COMMANDS:
                runs = [refuse(command, config) for _ in range(args.repeats)]
                seconds = statistics.median(r[0] for r in runs)
                _, report, stderr = runs[-1]
                if report["code"] != 2 or len(stderr.splitlines()) != 1 or not stderr.startswith("error: "):
                    raise SystemExit(f"{' '.join(command)} with {mistake}: expected one line and exit code 2, got "
                                     f"exit code {report['code']} and:\n{stderr}")
                times.append(seconds)
                heavy.update(report["heavy"])
                rows.append((" ".join(command), mistake, seconds, report["max_rss_mb"], report["heavy"], stderr))
    print(f"broken config refused in {statistics.median(times):.2f} s (torch imported: "
          f"{'yes' if 'torch' in heavy else 'no'})")
    print(f"slowest {max(times):.2f} s over {len(times)} cases, median of {args.repeats} runs each, "
          f"python {sys.version.split()[0]}")
    for command, mistake, seconds, rss, imported, stderr in rows:
        print(f"  hwnas {command:<14} {mistake:<18} {seconds:5.2f} s  {rss:5.0f} MB  "
              f"heavy imports: {', '.join(imported) or 'none'}  | {stderr}")
    torch_s, torch_mb = torch_import(args.repeats)
    print(f"reference: a fresh python importing torch, {torch_s:.2f} s (median of {args.repeats}), {torch_mb:.0f} MB")
    check(f"heavy modules imported by a refusal ({', '.join(sorted(heavy)) or 'none'})", len(heavy), HEAVY_BAR)
    check("refusal time / torch import time", statistics.median(times) / torch_s, TIME_BAR)
    check("refusal peak memory / torch import's", max(r[3] for r in rows) / torch_mb, MEMORY_BAR)
    exit_if_missed()


if __name__ == "__main__":
    main()
