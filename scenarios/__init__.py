"""scenarios: scenario files, the harness that runs them, and the ``mestwin`` command line."""

from scenarios.build import plant_config
from scenarios.loader import ScenarioError, load_scenario
from scenarios.model import Scenario

__all__ = ["Scenario", "ScenarioError", "load_scenario", "plant_config"]
