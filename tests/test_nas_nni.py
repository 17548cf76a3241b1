"""NAS strategies by name in real NNI experiments whose trials build and train sampled networks."""
from __future__ import annotations

from conftest import ROOT, nni_config

from nas_plugins.space import Space
from nas_plugins.spaces import nb201
from tuners.hosts.nni_experiment import free_port, run

MAX_PARAMS = 400_000


def test_evolution_with_a_size_budget_trains_nb201_cells_on_digits(tmp_path):
    space = {**nb201.SEARCH_SPACE, "lr": {"_type": "choice", "_value": [0.02, 0.05]}}
    config = nni_config(tmp_path, space, tuner="NaspEvolution", trials=4,
                        tuner_args={"seed": 0, "population_size": 2, "sample_size": 2,
                                    "cost": "nas_plugins.spaces.nb201:params", "max_cost": MAX_PARAMS})
    config.trial_command = "python -m trial_templates.nas_trial --space nb201"
    config.trial_code_directory = str(ROOT)
    exp, records, status = run(config, port=free_port(), timeout=300)
    assert status == "DONE", [(r.status, r.parameters) for r in records]
    assert len(records) == 4 and all(r.status == "SUCCEEDED" for r in records)
    for r in records:
        assert Space.from_nni(space).contains(r.parameters)
        assert nb201.params(r.parameters) <= MAX_PARAMS            # the constraint held
        assert 0.0 <= r.final <= 1.0 and len(r.intermediate) == 1  # one epoch, reported
    assert max(r.final for r in records) > 0.1                     # trained beyond chance (10 classes)
