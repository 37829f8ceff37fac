"""otscope: passive OT asset discovery.

The code lives in the top-level folders agent/, dissectors/, collector/ and api/, installed as
otscope.agent, otscope.dissectors, otscope.collector and otscope.api. This package holds only the
version and the observation contract that sensor and collector share.
"""

__version__ = "0.1.0"
