"""A fast trial for adapter tests: the score is a known function of the parameters.

Behaviour switches (through the parameter ``mode`` when present): ``nan`` reports NaN through
NNI directly, ``fail`` exits non-zero, ``silent`` reports nothing, ``text`` reports a string.
"""
import math
import sys
import time

from trial_templates.report import start

trial = start(defaults={"x": 0.5, "steps": 3, "mode": "ok"})
cfg = trial.config
x = float(cfg.get("x", 0.5))
score = 1.0 - (x - 0.3) ** 2 + 0.01 * len(str(cfg.get("label", "")))
mode = cfg.get("mode", "ok")
if isinstance(mode, dict):          # nested choice: {"_name": ..., ...}
    mode = mode["_name"]
for step in range(int(cfg.get("steps", 3))):
    trial.report(score * (step + 1) / 4)
    time.sleep(float(cfg.get("sleep", 0.2)))
if mode == "fail":
    sys.exit(3)
if mode == "silent":
    sys.exit(0)
if mode in ("nan", "text"):
    import nni
    nni.report_final_result(math.nan if mode == "nan" else "not a number")
    sys.exit(0)
trial.final(score)
