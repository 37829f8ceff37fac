"""Build the optional C fast path (agent/_fastscan.c). If it cannot be compiled, otscope runs the same
pipeline in pure Python (slower); everything else is configured in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("otscope.agent._fastscan", ["agent/_fastscan.c"], optional=True,
                             extra_compile_args=["-O2"])])
