"""The NNI tuner adapter driven the way NNI's own tuner unit tests drive a tuner: direct calls with
the caller's own parameter ids, no dispatcher. Real NNI classes, no experiment."""
from __future__ import annotations

import pytest
from nni.runtime import msg_dispatcher

from tuners.hosts.nni_host import ADAPTERS

SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}}


def tuner(name: str, **class_args):
    t = ADAPTERS[name]["class"](**class_args)
    t.update_search_space(SPACE)
    return t


def test_owed_trials_never_reuse_an_id_the_caller_numbered(monkeypatch):
    """Hyperband refuses a request while its rung waits, then sends the owed trial itself with an id
    from the dispatcher's counter, which a caller numbering its own ids (0, 1, 2, ...) has not
    advanced: that id must not overwrite a trial's record (a lost rung-0 result, a trial pending
    for ever)."""
    monkeypatch.setattr(msg_dispatcher, "_next_parameter_id", 0)
    sent: dict[int, dict] = {}
    t = tuner("hyperband", R=3, eta=3, seed=0, optimize_mode="maximize")
    configs = t.generate_multiple_parameters(list(range(6)), st_callback=lambda pid, p: sent.setdefault(pid, p))
    assert len(configs) == 5 and t._owed == 1            # 3 at budget 1, 2 of the next bracket; 1 owed
    for pid, config in enumerate(configs):
        t.receive_trial_result(pid, config, config["x"])
        t.trial_end(pid, True)
    assert len(sent) == 1
    (owed_id, promoted), = sent.items()
    assert owed_id not in range(5) and promoted["epochs"] == 3
    t.receive_trial_result(owed_id, promoted, promoted["x"])
    t.trial_end(owed_id, True)
    assert not t.strategy._pending
    assert sorted((o.config["epochs"], o.value) for o in t.strategy.history) == \
        sorted([(c["epochs"], c["x"]) for c in configs] + [(3, promoted["x"])])


def test_a_request_with_an_id_already_used_is_refused_not_overwritten():
    t = tuner("random", seed=0)
    first = t.generate_parameters(5)
    with pytest.raises(Exception, match="parameter_id 5 is already used"):
        t.generate_parameters(5)
    assert t._params[5] == first


@pytest.mark.parametrize("name", ["random", "bo", "evolution", "hyperband", "asha"])
def test_a_result_after_the_trial_end_replaces_the_failure_mark(name):
    """NNI's dispatcher may hand the tuner a trial's end before its final result (two threads)."""
    t = tuner(name, seed=0)
    config = t.generate_parameters(0)
    t.trial_end(0, True)                                 # no result yet: recorded as failed
    assert [o.value for o in t.strategy.history] == [None]
    t.receive_trial_result(0, config, 0.75)              # the real result replaces the failure
    assert [(o.config, o.value) for o in t.strategy.history] == [(config, 0.75)]
    t.receive_trial_result(0, config, 0.5)               # a second final result is ignored
    assert [o.value for o in t.strategy.history] == [0.75]


def test_hyperband_promotes_a_result_that_replaced_a_failure():
    t = tuner("hyperband", R=3, eta=3, seed=0)
    configs = t.generate_multiple_parameters([0, 1, 2])
    best = max(range(3), key=lambda i: configs[i]["x"])
    for pid, config in enumerate(configs):
        if pid != best:
            t.receive_trial_result(pid, config, config["x"])
    t.trial_end(best, True)                              # the best one's end comes first...
    t.receive_trial_result(best, configs[best], configs[best]["x"])   # ...then its result
    promoted = t.generate_parameters(3)
    assert promoted == {**configs[best], "epochs": 3}
