"""WorldSim: learn a game or driving world from recorded frames and actions, then play inside it.

Importing :mod:`worldsim` is cheap: heavy modules (torch, simulators) load only when used.
"""

__version__ = "0.1.0"
