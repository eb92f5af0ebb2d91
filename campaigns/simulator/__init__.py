"""A Mobizon simulator owned by the project: the Campaign, Message, TaskQueue and User
modules served over real HTTP, behaving as the documents say, with a simulated clock and
fault injection. It also serves the ``sandbox`` provider.

    from campaigns.simulator import SimConfig, SimulatorServer
    with SimulatorServer(SimConfig.sandbox()) as server:
        url = server.base_url
"""

from campaigns.simulator.app import Simulator, create_app
from campaigns.simulator.clock import SimClock
from campaigns.simulator.config import SimConfig
from campaigns.simulator.control import SimulatorControl
from campaigns.simulator.faults import FaultRule
from campaigns.simulator.server import SimulatorServer

__all__ = ["FaultRule", "SimClock", "SimConfig", "Simulator", "SimulatorControl", "SimulatorServer", "create_app"]
