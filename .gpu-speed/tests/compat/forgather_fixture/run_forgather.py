"""Run a filled-in fixture config with Forgather itself (for goldens and the bench):

    PYTHON_OF_FORGATHER run_forgather.py CONFIG.yaml

It loads the preprocessed YAML with Forgather's own loader and calls the TrainingScript's
run(), as `forgather train` does after preprocessing.
"""
import sys

from forgather.config import ConfigEnvironment
from forgather.latent import Latent

config = ConfigEnvironment().load_from_ppstring(open(sys.argv[1]).read()).config
Latent.materialize(config["main"], pp_config="").run()
