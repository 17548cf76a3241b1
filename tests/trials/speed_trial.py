"""A trial of two speeds for the pairing tests: NNI 3.0 swaps parameter sets between trials started together.

Trials with an even sequence number wait 2.5 s before asking for their parameters, so the trial
submitted second asks first and NNI's local training service hands it the first trial's set. The
parameter id the trial then runs decides its speed (even: 2 s, odd: 0.3 s), so the swapped partner
of a fast trial is still running when the fast one ends. ``--plain`` asks NNI directly
(``nni.get_next_parameter()``) instead of through our trial API. The final metric is
``toy_objective.score`` of the configuration the trial really ran.
"""
import os
import sys
import time

import nni
import nni.trial
from toy_objective import score  # noqa: E402  (sys.path[0] is this folder)

from trial_templates.report import start

plain = "--plain" in sys.argv
if int(os.environ.get("NNI_TRIAL_SEQ_ID", "0")) % 2 == 0:
    time.sleep(2.5)       # long enough for the odd partner to start and ask first, even on a loaded machine
trial = None if plain else start()
config = nni.get_next_parameter() if plain else trial.config
parameter_id = nni.trial._params["parameter_id"]
print(f"running parameter_id {parameter_id}: {config}", flush=True)
time.sleep(2.0 if parameter_id % 2 == 0 else 0.3)
if plain:
    nni.report_final_result(score(config))
else:
    trial.final(score(config))
