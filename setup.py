"""nas-plugins: HPO and NAS strategies for NNI and AutoGluon.

Install torch first (``pip install torch==2.13.0``: the CPU wheel here), then this package;
``make demo`` / ``make test`` do both in ``.venv``.
"""
from setuptools import find_packages, setup

setup(
    name="nas-plugins",
    version="0.1.0",
    description="HPO and NAS strategies that plug into NNI and AutoGluon",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.12",
    packages=find_packages(include=["nas_plugins*", "tuners*", "trial_templates*"]),
    package_data={"tuners.hosts": ["*.yml"], "trial_templates": ["*.yml", "*.json"]},
    install_requires=[
        "torch==2.13.0",
        "torchvision==0.28.0",
        "nni==3.0",
        "setuptools>=77.0.3,<81",  # nnictl imports pkg_resources
        "autogluon.core==1.6.3",
        "autogluon.tabular[lightgbm]==1.6.3",
        "scikit-learn",
        "numpy",
        "pyyaml",
    ],
    # bench: the anchors. Syne Tune 0.16.0 is installed by the Makefile with --no-deps (its xgboost
    # dependency pulls a 350 MB NCCL wheel and only its BORE searcher uses it); statsmodels and dill are
    # the dependencies of it that we use. HEBO lives in its own environment (bench/hebo_env.sh).
    # ray: the Ray Tune host (tuners/hosts/ray_host.py).
    # nas: NNI's NAS package (nni.nas: NasExperiment, ModelSpace) imports pytorch-lightning; 2.6.6 works with
    # nni 3.0 and torch 2.13.0 given the work-arounds of tuners/hosts/nni_nas_compat.py.
    extras_require={"test": ["pytest"],
                    "bench": ["optuna==5.0.0", "hyperopt==0.3.0", "matplotlib", "smac==2.4.1", "statsmodels",
                              "dill"],
                    "ray": ["ray[tune]==2.60.0"],
                    "nas": ["pytorch-lightning==2.6.6"]},
    entry_points={"console_scripts": ["nas-plugins = tuners.cli:main"]},
)
