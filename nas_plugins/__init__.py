"""nas-plugins: HPO and NAS strategies that plug into NNI and AutoGluon.

The host-agnostic core lives here (:mod:`nas_plugins.space`, :mod:`nas_plugins.strategy`);
strategies and host adapters live in the ``tuners`` package, trial scripts in ``trial_templates``.
"""
from .space import Branch, Choice, Float, Integer, Normal, SearchSpaceError, Space, config_key
from .strategy import EarlyStopper, Observation, SpaceExhausted, Strategy

__version__ = "0.1.0"
__all__ = ["Branch", "Choice", "Float", "Integer", "Normal", "SearchSpaceError", "Space", "config_key",
           "EarlyStopper", "Observation", "SpaceExhausted", "Strategy"]
