"""A fast trial for adapter tests: its score is a known function of the parameters.

``mode`` (a parameter) switches behaviour: ``ok`` reports normally, ``nan`` reports NaN through
NNI directly, ``text`` reports a string, ``fail`` exits non-zero, ``silent`` reports nothing.
``curve`` = ``bad`` makes the intermediate curve clearly worse than the others.
"""
import math
import sys
import time

from toy_objective import score  # noqa: E402  (sys.path[0] is this folder)

from trial_templates.report import start

if "--nni-first" in sys.argv:      # a script that asks NNI itself before calling start()
    import nni
    nni.get_next_parameter()
trial = start(defaults={"x": 0.5, "steps": 3, "mode": "ok", "curve": "good", "sleep": 0.3})
cfg = trial.config
value = score(cfg)
mode = cfg["mode"]["_name"] if isinstance(cfg["mode"], dict) else cfg["mode"]
for step in range(int(cfg["steps"])):
    factor = 0.1 if cfg["curve"] == "bad" else 1.0
    trial.report(factor * value * (step + 1) / int(cfg["steps"]))
    time.sleep(float(cfg["sleep"]))
if mode == "fail":
    sys.exit(3)
if mode == "silent":
    sys.exit(0)
if mode in ("nan", "text"):
    import nni
    nni.report_final_result(math.nan if mode == "nan" else "not a number")
    sys.exit(0)
trial.final(value)
