"""The PyTorch bridge's old import path: the bridge is the package ``snn_bridge`` (it imports
torch; ``import theory`` never does). Everything here is ``snn_bridge``'s."""
from snn_bridge import *  # noqa: F401,F403
from snn_bridge import __all__  # noqa: F401
