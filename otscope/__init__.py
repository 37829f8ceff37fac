"""otscope: passive OT asset discovery.

The code lives in the top-level folders agent/, dissectors/, collector/ and api/, installed as
otscope.agent, otscope.dissectors, otscope.collector and otscope.api. This package holds only the
version and the bottom layer every part shares: the domain (roles, protocol specs, OT ports, caps:
domain.py) and the observation contract between sensor and collector (contract.py).
"""

__version__ = "0.1.0"
