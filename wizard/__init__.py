"""The vps-wizard engine: steps as data, a plan, an apply over SSH, checks; no user interface.

Libraries' warnings about their own dependencies (dnspython's DSA support, which cryptography
51 deprecates) say nothing a user can act on and would come before the wizard's own message on
the terminal: they are silenced here, before any of those libraries is imported. Python's -W
and PYTHONWARNINGS still show them to a developer who asks.
"""

import sys
import warnings

if not sys.warnoptions:
    warnings.filterwarnings("ignore", module=r"dns(\.|$)")
