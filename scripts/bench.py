#!/usr/bin/env python3
"""Wrapper: python scripts/bench.py ... == python -m otscope.agent.bench ..."""
import sys

from otscope.agent.bench import main

sys.exit(main())
