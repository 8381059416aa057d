"""Each seed paper's headline claims, measured under the evaluation protocol (issue 10's closing table).

Runs the digits paper presets (overridden to the ``cnn`` model and 3 seeds, methods cut to the references and
the paper's own method) through the CLI, then prints, per claim, the paper's printed number next to ours
(mean ± std over seeds). Takes ~10 minutes on 2 CPU cores. Usage::

    .venv/bin/python bench/headline_claims.py [--cache-dir DIR] [--seeds 3] [--out-dir DIR]

Prints figures; asserts nothing (whether a claim "held" is read off the table and argued in the note).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

RUNS = {  # name -> (preset, methods)
    "udru_sl": ("udru_sl", "original,retrain,udru"),
    "udru_pll": ("udru_pll", "original,retrain,udru"),
    "laf_label_free": ("laf_label_free", "original,retrain,laf,laf_r"),
    "laf_class": ("laf_class_removal", "original,retrain,laf,laf_r"),
    "ugradsl_class": ("ugradsl_class", "original,retrain,finetune,ugradsl,ugradsl_plus"),
    "pgu_selective": ("pgu_selective", "original,retrain,pgu"),
    "pgu_depoison": ("pgu_depoison", "original,retrain,pgu"),
    "ppu_selective": ("ppu_selective", "original,retrain,ppu"),
    "ppu_privacy": ("ppu_privacy", "original,retrain,ppu"),
}
COLUMNS = ["forget_acc", "forget_acc_observed", "retain_acc", "test_acc", "mia_efficacy", "mia_loss_acc",
           "mia_asr", "gap_to_retrain", "speedup_vs_retrain"]


def run(name: str, preset: str, methods: str, seeds: int, cache: Path, out: Path) -> pd.DataFrame:
    """One preset through the CLI (one torch thread, the protocol's default); returns its CSV."""
    csv = out / f"{name}.csv"
    if not csv.exists():
        cmd = [sys.executable, "-m", "engine", "compare", "--preset", preset, "--model", "cnn", "--seeds",
               str(seeds), "--methods", methods, "--device", "cpu", "--cache-dir", str(cache), "--out", str(csv)]
        subprocess.run(cmd, check=True, env={**os.environ, "UNLEARN_THREADS": "1"},
                       stdout=subprocess.DEVNULL)
    return pd.read_csv(csv)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """``mean±std`` per method (ok rows) of :data:`COLUMNS` present in ``df``."""
    ok = df[df["status"] == "ok"]
    cols = [c for c in COLUMNS if c in ok.columns and ok[c].notna().any()]
    g = ok.groupby("method", sort=False)[cols]
    mean, std = g.mean(), g.std(ddof=1)
    return mean.combine(std, lambda m, s: m.map("{:.3f}".format) + "±" + s.map("{:.3f}".format))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", default=".cache/headline")
    ap.add_argument("--out-dir", default=".cache/headline-csv")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    print(f"machine load (1 min) before: {load:.2f}; {os.cpu_count()} cores; digits / cnn / {args.seeds} seeds")
    for name, (preset, methods) in RUNS.items():
        df = run(name, preset, methods, args.seeds, Path(args.cache_dir), out)
        sizes = df.iloc[0][["n_forget", "n_retain", "n_val", "n_test"]].to_dict()
        print(f"\n## {name} (preset {preset}; sizes {sizes})")
        print(summary(df).to_string())
    print(f"\nmachine load (1 min) after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
