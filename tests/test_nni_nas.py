"""Our strategies as NNI NAS strategies on a user's ModelSpace (tuners/hosts/nni_nas.py).

Real ``NasExperiment`` runs on ``DigitsNet`` (tuners/hosts/nni_nas_spaces.py): every strategy that can
search a model space through the in-process (sequential) engine, and one per kind of strategy through
NNI's manager and local training service (trials in subprocesses); the mutable conversion round-trips for
every supported mutable; unsupported mutables and strategies fail with precise errors.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

nni = pytest.importorskip("nni")
from tuners.hosts import nni_nas_compat  # noqa: E402  (before nni.nas and pytorch_lightning: see its docstring)

nni_nas_compat.apply()
pytest.importorskip("pytorch_lightning")

import torch  # noqa: E402
from nni.mutable import Categorical, CategoricalMultiple, ExpressionConstraint, MutableDict, Numerical  # noqa: E402
from nni.nas.experiment import NasExperiment  # noqa: E402
from nni.nas.experiment.config import NasExperimentConfig  # noqa: E402
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace  # noqa: E402
from torch import nn  # noqa: E402

import tuners  # noqa: E402
from nas_plugins.space import Choice, Float, Normal  # noqa: E402
from tuners.hosts import nni_nas  # noqa: E402
from tuners.hosts.nni_nas import (MutableSpace, UnsupportedMutableError, UnsupportedStrategyError,  # noqa: E402
                                  nas_strategy, nas_strategy_names)
from tuners.hosts.nni_nas_spaces import DigitsNet, digits_evaluator  # noqa: E402
from tuners.hosts.nni_experiment import free_port  # noqa: E402

# Options that keep each strategy's model-based phase inside a few trials.
SMALL = {"evolution": {"population_size": 3, "sample_size": 2}, "weaknas": {"n_init": 2},
         "bo": {"n_initial_points": 2}, "reinforce": {}, "tapas": {"n_init": 2, "population_size": 4, "generations": 2},
         "xfernas": {"n_init": 2}}


def _options(name: str) -> dict:
    return {"seed": 0, **SMALL.get(name, {})}


# -- the conversion ---------------------------------------------------------------------------------------

ROUND_TRIP = {
    "categorical": (Categorical([2, 4, 8], label="c"), Choice),
    "categorical of strings": (Categorical(["relu", "tanh"], label="c"), Choice),
    "categorical of objects": (Categorical([nn.ReLU, nn.Tanh, (1, 2)], label="c"), Choice),
    "multiple, n_chosen=2": (CategoricalMultiple([1, 2, 3, 4], n_chosen=2, label="c"), Choice),
    "multiple, any number": (CategoricalMultiple(["a", "b", "c"], label="c"), Choice),
    "uniform": (nni.uniform("c", 0.1, 0.9), Float),
    "quniform": (nni.quniform("c", 0.0, 10.0, 2.5), Float),
    "loguniform": (nni.loguniform("c", 1e-4, 1e-1), Float),
    "qloguniform": (nni.qloguniform("c", 1.0, 100.0, 1.0), Float),
    "normal": (nni.normal("c", 1.0, 2.0), Normal),
    "qnormal": (nni.qnormal("c", 1.0, 2.0, 0.5), Normal),
}


@pytest.mark.parametrize("kind", list(ROUND_TRIP))
def test_every_supported_mutable_round_trips(kind):
    mutable, param_type = ROUND_TRIP[kind]
    ms = MutableSpace({"c": mutable})
    assert isinstance(ms.space["c"], param_type)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):                          # ours -> NNI: a sample NNI accepts, and back
        config = ms.space.sample(rng)
        sample = ms.to_sample(config)
        assert mutable.check_contains(sample) is None, (config, sample)
        assert mutable.freeze(sample) == sample["c"]
        assert ms.from_sample(sample) == config
        seen.add(repr(sample["c"]))
    assert len(seen) > 1
    for _ in range(30):                          # NNI -> ours: every sample NNI draws lies in our space
        sample = {}
        mutable.random(memo=sample, random_state=np.random.RandomState(len(seen)))
        seen.add(repr(sample))
        config = ms.from_sample(sample)
        assert ms.space.contains(config), (sample, config)
        assert ms.to_sample(config) == sample or math.isclose(ms.to_sample(config)["c"], sample["c"])


def test_each_value_type_is_the_json_type_of_the_nni_shortcut_that_made_it():
    expected = {"categorical": {"_type": "choice", "_value": [2, 4, 8]},
                "uniform": {"_type": "uniform", "_value": [0.1, 0.9]},
                "quniform": {"_type": "quniform", "_value": [0.0, 10.0, 2.5]},
                "loguniform": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
                "qloguniform": {"_type": "qloguniform", "_value": [1.0, 100.0, 1.0]},
                "normal": {"_type": "normal", "_value": [1.0, 2.0]},
                "qnormal": {"_type": "qnormal", "_value": [1.0, 2.0, 0.5]}}
    for kind, spec in expected.items():
        mutable, _ = ROUND_TRIP[kind]
        assert MutableSpace({"c": mutable}).space.to_nni()["c"] == spec, kind


def test_subsets_of_a_multiple_choice_are_every_allowed_one():
    ms = MutableSpace({"c": CategoricalMultiple([1, 2, 3, 4], n_chosen=2, label="c")})
    assert ms.space.size == 6 and [1, 2] in ms.space["c"].options
    assert MutableSpace({"c": CategoricalMultiple(["a", "b", "c"], label="c")}).space.size == 8


def test_a_layer_choice_and_an_input_choice_become_choices_of_their_names():
    ms = MutableSpace.of(DigitsNet())
    assert {p.name for p in ms.space} == {"width", "act", "depth", "block0_act", "block1_act", "skip", "dropout"}
    assert ms.space["act"].options == (0, 1)        # LayerChoice of a list: candidate indices
    assert ms.space["depth"].options == (0, 1, 2)   # Repeat depth
    assert ms.space["skip"].options == ([0], [1])   # InputChoice(n_chosen=1): lists of one input index
    assert isinstance(ms.space["dropout"], Float)


class _Named(ModelSpace):
    def __init__(self):
        super().__init__()
        self.op = LayerChoice({"conv": nn.Linear(4, 4), "id": nn.Identity()}, label="op")
        self.pick = InputChoice(3, 2, label="pick")

    def forward(self, x):
        return self.op(x)


def test_named_layer_choices_and_multi_input_choices_freeze_into_the_chosen_modules():
    space = _Named()
    ms = MutableSpace.of(space)
    assert ms.space["op"].options == ("conv", "id")
    assert ms.space["pick"].options == ([0, 1], [0, 2], [1, 2])
    model = space.freeze(ms.to_sample({"op": "id", "pick": [0, 2]}))
    assert isinstance(model.op, nn.Identity)


def test_a_nested_space_flattens_as_nni_does_and_every_config_freezes():
    space = DigitsNet()
    ms = MutableSpace.of(space)
    rng = np.random.default_rng(1)
    for _ in range(5):
        config = ms.space.sample(rng)
        model = space.freeze(ms.to_sample(config))
        assert len(model.blocks) == config["depth"]
        assert model(torch.zeros(3, 64)).shape == (3, 10)


def test_an_unsupported_mutable_is_named():
    from scipy.stats import expon
    with pytest.raises(UnsupportedMutableError, match=r"mutable 'rate' \(Numerical.*distribution \(expon\)"):
        MutableSpace({"rate": Numerical(0, 10, distribution=expon(), label="rate")})
    with pytest.raises(UnsupportedMutableError, match=r"mutable 'many' .*1048576 subsets \(2\*\*20\); at most 4096"):
        MutableSpace({"many": CategoricalMultiple(list(range(20)), label="many")})


class _Opaque(nni.mutable.LabeledMutable):
    label = "opaque"

    def leaf_mutables(self, is_leaf):
        yield self


def test_a_mutable_of_an_unknown_kind_is_named():
    with pytest.raises(UnsupportedMutableError, match=r"mutable 'opaque' \(_Opaque.*supported: Categorical"):
        MutableSpace({"opaque": _Opaque()})


def test_a_constraint_is_kept_and_checked():
    x = Categorical([1, 2, 3], label="x")
    c = ExpressionConstraint(x != 2, label="not2")
    ms = MutableSpace(MutableDict({"x": x, "c": c}).simplify())
    assert list(ms.constraints) == ["not2"] and ms.space.names == ["x"]
    assert ms.violated({"x": 2}) and ms.violated({"x": 3}) is None


# -- strategies -------------------------------------------------------------------------------------------

def test_every_registered_tuner_has_a_generated_class():
    names = {info.name for info in tuners.algorithms("tuner")}
    classes = {name: nni_nas.strategy_class(name) for name in names}
    assert all(issubclass(c, nni_nas.SpaceStrategy) for c in classes.values())
    assert getattr(nni_nas, "EvolutionStrategy") is classes["evolution"]
    assert nni_nas.strategy_class("NaspWeakNAS") is classes["weaknas"]     # NNI names resolve too
    assert set(nas_strategy_names()) == names - {"hyperband", "asha"}


@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_a_multi_fidelity_strategy_is_refused_with_the_reason(name):
    with pytest.raises(UnsupportedStrategyError, match="multi-fidelity.*budget"):
        nas_strategy(name)


def test_bad_options_and_mode_min_are_refused():
    with pytest.raises(ValueError, match="unknown option 'populaton_size'"):
        nas_strategy("evolution", populaton_size=3)
    with pytest.raises(UnsupportedStrategyError, match="higher is better"):
        nas_strategy("random", mode="min")


def _sequential(strategy, trials: int, folder, space=None):
    """A NasExperiment on NNI's in-process engine (no manager, no subprocess), run and stopped."""
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = trials
    config.execution_engine.max_model_count = trials
    config.experiment_working_directory = str(folder)
    exp = NasExperiment(space or DigitsNet(), digits_evaluator(steps=15), strategy, config)
    try:
        exp.run(port=free_port())
    finally:
        exp.stop()
    return exp


@pytest.mark.parametrize("name", sorted(set(nas_strategy_names())))
def test_each_strategy_searches_a_model_space_in_a_real_nas_experiment(name, tmp_path):
    strategy = nas_strategy(name, **_options(name))
    exp = _sequential(strategy, 5, tmp_path)
    history = strategy.strategy.history
    assert len(history) == 5 and all(o.value is not None for o in history), history
    assert strategy.strategy.trial_budget == 5
    top = exp.export_top_models(top_k=1, formatter="dict")[0]
    assert math.isclose(max(o.value for o in history), max(m.metric for m in exp.strategy.list_models()))
    assert max(o.value for o in history) > 0.3                          # trained beyond chance (10 classes)
    with nni.nas.space.model_context(top):                              # NNI's way to rebuild the winner
        model = DigitsNet()
    assert model(torch.zeros(2, 64)).shape == (2, 10)
    assert strategy.mutable_space.from_sample(top) in [o.config for o in history]


# Through NNI's manager and local training service: trials are subprocesses (started through the work-around
# of nni_nas_compat) that rebuild the model from the sample our strategy proposed. The adapter is the same
# for every strategy (checked above on the in-process engine); one run here, its trials started together.
def test_a_strategy_drives_nnis_training_service(tmp_path):
    strategy = nas_strategy("evolution", seed=0, population_size=2, sample_size=2)
    config = NasExperimentConfig("ts", "simplified", "local")
    config.max_trial_number = 3
    config.trial_concurrency = 3
    config.experiment_working_directory = str(tmp_path / "nni")
    exp = NasExperiment(DigitsNet(), digits_evaluator(steps=15), strategy, config)
    try:
        assert exp.run(port=free_port()) is True
        models = list(exp.strategy.list_models(sort=False))
        history = strategy.strategy.history
        assert len(models) == 3 and len(history) == 3, (models, history)
        assert all(o.value is not None and 0.0 <= o.value <= 1.0 for o in history), history
        for model in models:                 # each result was told with the configuration that produced it
            config_ = strategy.mutable_space.from_sample(model.sample)
            assert [o.value for o in history if o.config == config_] == [model.metric]
        top = exp.export_top_models(top_k=1, formatter="dict")[0]
        assert strategy.mutable_space.from_sample(top) == strategy.strategy.best.config
        assert "-m tuners.hosts.nni_nas_trial -m nni.nas.execution.training_service trial" in exp.config.canonical_copy().trial_command
    finally:
        exp.stop()


# -- the work-arounds of nni_nas_compat (one test each) -------------------------------------------------

def _python(code: str, *args: str):
    import subprocess
    import sys
    return subprocess.run([sys.executable, *args, "-c", code], capture_output=True, text=True, timeout=300)


def test_torchvision_imports_and_its_nms_runs_on_the_cpu():
    import torchvision  # noqa: F401  (fails with "operator torchvision::nms does not exist" without the fix)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert torch.ops.torchvision.nms(boxes, scores, 0.5).tolist() == [3, 2]     # 0 and 1 overlap 3
    assert torch.ops.torchvision.nms(boxes, scores, 0.99).tolist() == [3, 0, 1, 2]


def test_nni_nas_imports_only_with_the_work_arounds_and_without_warnings():
    fixed = _python("from tuners.hosts import nni_nas_compat; nni_nas_compat.apply(); import nni.nas.experiment, "
                    "nni.nas.nn.pytorch, nni.nas.evaluator.pytorch, nni.nas.strategy", "-W", "error::RuntimeWarning")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    if not nni_nas_compat._op_missing("nms") and nni_nas_compat._LIBRARY is None:
        pytest.skip("this torchvision has its compiled ops: nothing to work around")
    bare = _python("import nni.nas.experiment")
    assert bare.returncode != 0 and "torchvision::nms does not exist" in bare.stderr, bare.stderr[-3000:]


def test_the_trial_launcher_runs_a_module_as_python_dash_m_would(monkeypatch, capsys):
    import platform
    import sys
    from tuners.hosts import nni_nas_trial
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    try:
        nni_nas_trial.main(["-m", "platform", "terse"])  # as NNI's "<python> -m MODULE ARGS" would run it
    except SystemExit as exc:                            # platform's __main__ exits 0 when done
        assert exc.code in (0, None)
    assert capsys.readouterr().out.strip() == platform.platform(terse=True)
    with pytest.raises(SystemExit, match="usage"):
        nni_nas_trial.main(["platform"])


def test_an_unsupported_mutable_stops_a_real_experiment_at_start_with_its_name(tmp_path):
    from scipy.stats import expon

    class Space(ModelSpace):
        def __init__(self):
            super().__init__()
            self.rate = self.add_mutable(Numerical(0, 10, distribution=expon(), label="rate"))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(UnsupportedMutableError, match="mutable 'rate'"):
        _sequential(nas_strategy("random", seed=0), 2, tmp_path, space=Space())


# -- our spaces as NNI ModelSpaces (part 3) ------------------------------------------------------------

from nas_plugins.spaces import get_space  # noqa: E402
from tuners.hosts.nni_nas_spaces import SPACE_CLASSES, model_space, table_evaluator  # noqa: E402

SMALL_SIZES = {"nb201": {"C": 4, "N": 1}, "darts": {"C": 4, "layers": 2}, "mobilenet": {"width_mult": 0.25},
               "mini201": {}}


@pytest.mark.parametrize("name", ["nb201", "darts", "mobilenet", "mini201"])
def test_our_space_as_a_model_space_freezes_into_the_network_of_our_configuration(name):
    space = model_space(name, **SMALL_SIZES[name])
    assert type(space) is SPACE_CLASSES[name] and isinstance(space, ModelSpace)
    ours = get_space(name).space()
    converted = MutableSpace.of(space).space
    if name != "mobilenet":                          # a flat space: the very same parameters
        assert converted == ours
    else:                                            # nested choices: NNI's flat form, branch params included
        assert {"stage1_block", "stage1_block.mbconv.expand"} <= set(converted.names)
    channels, side = (1, 8) if name == "mini201" else (3, 32)
    for seed in range(2):
        sample = {}
        space.random(memo=sample, random_state=np.random.RandomState(seed))
        model = space.freeze(sample)
        assert ours.contains(model.config), model.config     # the architecture is a configuration of ours
        assert model.simplify() == {}                         # frozen: nothing left to choose
        expected = get_space(name).build(model.config, **SMALL_SIZES[name])
        assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in expected.parameters())
        assert model(torch.zeros(2, channels, side, side)).shape == (2, 10)


def _table_run(strategy, trials, folder):
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = trials
    config.execution_engine.max_model_count = trials
    config.experiment_working_directory = str(folder)
    exp = NasExperiment(model_space("mini201"), table_evaluator(), strategy, config)
    try:
        exp.run(port=free_port())
        return exp.export_top_models(top_k=1, formatter="dict")[0], list(exp.strategy.list_models())
    finally:
        exp.stop()


def test_nnis_own_strategies_and_ours_search_our_space_side_by_side(tmp_path):
    from nni.nas.strategy import RegularizedEvolution
    mini201 = get_space("mini201")
    for i, strategy in enumerate([RegularizedEvolution(population_size=4, sample_size=2),
                                  nas_strategy("evolution", seed=0, population_size=4, sample_size=2)]):
        top, models = _table_run(strategy, 8, tmp_path / str(i))
        assert len(models) == 8
        best = max(m.metric for m in models)
        assert math.isclose(mini201.lookup(top)["valid_acc"] / 100, best)   # the table's score, exported


# -- our one-shot trainers on a user's ModelSpace (part 2) --------------------------------------------

from nni.nas.space import model_context  # noqa: E402
from tuners.hosts.nni_nas_oneshot import ModelSpaceSupernet, oneshot_search  # noqa: E402
from tuners.hosts.nni_nas_spaces import digits_data  # noqa: E402


class _Dead(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


class OneShotNet(ModelSpace):
    """A LayerChoice with one useless candidate (zeros) and an InputChoice between nothing and the features:
    a trained supernet should pick neither."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(64, 32)
        self.op = LayerChoice({"relu": nn.Sequential(nn.Linear(32, 32), nn.ReLU()), "dead": _Dead()}, label="op")
        self.pick = InputChoice(2, 1, label="pick")
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        h = self.op(torch.relu(self.stem(x)))
        return self.head(self.pick([torch.zeros_like(h), h]))


def _digits_batches():
    x, y, vx, vy = digits_data()
    return ([(x[i:i + 128], y[i:i + 128]) for i in range(0, len(y), 128)],
            [(vx[i:i + 200], vy[i:i + 200]) for i in range(0, len(vy), 200)])


@pytest.mark.parametrize("method", ["spos", "darts"])
def test_a_one_shot_trainer_on_a_model_space_exports_an_arch_that_model_context_freezes(method):
    train, val = _digits_batches()
    arch = oneshot_search(OneShotNet(), method, train, val, steps=60, seed=0, search_budget=4)
    assert arch == {"op": "relu", "pick": [1]}                  # the useless choices were not taken
    with model_context(arch):                                   # NNI's way to rebuild the winner
        model = OneShotNet()
    assert isinstance(model.op, nn.Sequential) and model(torch.zeros(3, 64)).shape == (3, 10)
    assert isinstance(OneShotNet().freeze(arch).op, nn.Sequential)


def test_the_supernet_runs_single_paths_and_the_relaxation_with_one_logit_vector_per_label():
    supernet = ModelSpaceSupernet(OneShotNet())
    assert supernet.search_space.names == ["op", "pick"] and [len(p) for p in supernet.arch_parameters()] == [2, 2]
    x = torch.randn(4, 64)
    dead = supernet(x, {"op": "dead", "pick": [1]})                     # zeros into the head: the bias only
    assert torch.allclose(dead, supernet.network.head.bias.expand(4, 10))
    assert supernet(x).shape == (4, 10)
    with pytest.raises(ValueError, match="'op'"):
        supernet(x, {"op": "conv", "pick": [1]})


def test_one_shot_refuses_what_it_cannot_mix_naming_the_mutable():
    with pytest.raises(UnsupportedMutableError, match="one-shot: mutable 'width'"):
        ModelSpaceSupernet(DigitsNet())                         # nni.choice widths, a Repeat: not mixable
    with pytest.raises(UnsupportedMutableError, match="'pick'.*chooses 2 inputs"):
        ModelSpaceSupernet(_Named())


def test_mini201_as_a_cell_space_freezes_into_mini201s_network_and_shares_choices_across_cells():
    from nas_plugins.spaces import mini201
    from tuners.hosts.nni_nas_spaces import Mini201Cells
    space = Mini201Cells()
    assert list(space.simplify()) == list(mini201.EDGE_KEYS)                # one choice per edge, for all 3 cells
    sample = {}
    space.random(memo=sample, random_state=np.random.RandomState(3))
    frozen, ours = space.freeze(sample), mini201.build(sample)
    assert sum(p.numel() for p in frozen.parameters()) == sum(p.numel() for p in ours.parameters())
    supernet = ModelSpaceSupernet(space)
    assert len(supernet.arch_parameters()) == 6 and supernet(torch.zeros(2, 1, 8, 8), sample).shape == (2, 10)


def test_nnis_own_one_shot_darts_runs_on_this_stack(tmp_path):
    """NNI's Lightning evaluator and one-shot strategies with pytorch-lightning 2.6.6 (nothing to work around)."""
    from torch.utils.data import TensorDataset
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.strategy import DARTS
    x, y, vx, vy = digits_data()
    evaluator = Classification(train_dataloaders=DataLoader(TensorDataset(x, y), batch_size=128),
                               val_dataloaders=DataLoader(TensorDataset(vx, vy), batch_size=200), max_epochs=2,
                               num_classes=10, enable_progress_bar=False, logger=False, enable_checkpointing=False)
    exp = NasExperiment(OneShotNet(), evaluator, DARTS())
    exp.config.experiment_working_directory = str(tmp_path)
    try:
        exp.run(port=free_port())
        arch = exp.export_top_models(formatter="dict")[0]
    finally:
        exp.stop()
    assert set(arch) == {"op", "pick"} and arch["op"] in ("relu", "dead") and arch["pick"] in ([0], [1])


class _Constrained(DigitsNet):
    """DigitsNet with a constraint: no wide network with hidden blocks."""

    def __init__(self):
        super().__init__()
        mutables = self.simplify()
        if "width" in mutables:                 # the space (frozen, a model has nothing left to constrain)
            self.add_mutable(ExpressionConstraint((mutables["width"] == 16) | (mutables["depth"] == 0), label="small"))


def test_a_constraint_of_the_model_space_holds_for_every_trained_model(tmp_path):
    strategy = nas_strategy("random", seed=0)
    exp = _sequential(strategy, 6, tmp_path, space=_Constrained())
    models = list(exp.strategy.list_models(sort=False))
    assert len(models) == 6
    assert all(m.sample["width"] == 16 or m.sample["depth"] == 0 for m in models)
    refused = [o for o in strategy.strategy.history if o.value is None]
    assert refused and all(o.config["width"] == 32 and o.config["depth"] > 0 for o in refused)
    assert len(strategy.strategy.history) == 6 + len(refused)


def test_the_state_dict_restores_the_results_into_a_new_strategy(tmp_path):
    from nni.nas.execution import SequentialExecutionEngine
    first = nas_strategy("evolution", seed=0, population_size=3, sample_size=2)
    _sequential(first, 4, tmp_path)
    second = nas_strategy("evolution", seed=0, population_size=3, sample_size=2)
    second.initialize(DigitsNet(), SequentialExecutionEngine())
    second.load_state_dict(first.state_dict())
    assert [(o.config, o.value) for o in second.strategy.history] == \
        [(o.config, o.value) for o in first.strategy.history]
    assert second.strategy.ask() not in [o.config for o in first.strategy.history]   # nothing proposed twice


@pytest.mark.parametrize("method", ["spos", "darts"])
def test_our_one_shot_trainer_is_a_nas_experiment_strategy_whose_export_model_context_freezes(method, tmp_path):
    from torch.utils.data import TensorDataset
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from tuners.hosts.nni_nas_oneshot import OneShotSearch, oneshot_config
    x, y, vx, vy = digits_data()
    evaluator = Classification(train_dataloaders=DataLoader(TensorDataset(x, y), batch_size=128),
                               val_dataloaders=DataLoader(TensorDataset(vx, vy), batch_size=200), max_epochs=6,
                               num_classes=10)
    config = oneshot_config()
    config.experiment_working_directory = str(tmp_path)
    exp = NasExperiment(OneShotNet(), evaluator, OneShotSearch(method, seed=0, search_budget=4), config)
    try:
        exp.run(port=free_port())
        arch = exp.export_top_models(formatter="dict")[0]
        model = exp.export_top_models(formatter="instance")[0]
        metric = next(exp.strategy.list_models()).metric
    finally:
        exp.stop()
    assert arch == {"op": "relu", "pick": [1]} and 0.15 < metric <= 1.0    # the supernet's accuracy of it (chance: 0.1)
    assert isinstance(model.op, nn.Sequential) and model(torch.zeros(2, 64)).shape == (2, 10)
    with model_context(arch):
        assert isinstance(OneShotNet().op, nn.Sequential)


def test_one_shot_search_needs_the_raw_format_and_says_so(tmp_path):
    from tuners.hosts.nni_nas_oneshot import OneShotSearch
    config = NasExperimentConfig("sequential", "simplified")
    config.experiment_working_directory = str(tmp_path)
    exp = NasExperiment(OneShotNet(), digits_evaluator(), OneShotSearch("darts"), config)
    with pytest.raises(ValueError, match="raw model format.*oneshot_config"):
        try:
            exp.run(port=free_port())
        finally:
            exp.stop()
    with pytest.raises(ValueError, match="unknown option 'orde'"):
        OneShotSearch("darts", orde=2)
