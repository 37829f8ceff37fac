"""Build the optional C fast path (agent/_fastscan.c). If it cannot be compiled, otscope runs the same
pipeline in pure Python (slower); everything else is configured in pyproject.toml. The packages are listed
here: the fixed ones, and every dissector package found under dissectors/ (one folder per protocol)."""

from setuptools import Extension, find_packages, setup

PACKAGES = ["otscope", "otscope.agent", "otscope.dissectors", "otscope.collector", "otscope.collector.advisories",
            "otscope.collector.migrations",
            "otscope.collector.migrations.versions", "otscope.api", "otscope.api.routes", "otscope.api.static",
            "otscope.active"]
PACKAGES += ["otscope.dissectors." + p for p in find_packages("dissectors")]

setup(packages=PACKAGES,
      ext_modules=[Extension("otscope.agent._fastscan", ["agent/_fastscan.c"], optional=True,
                             extra_compile_args=["-O2"])])
