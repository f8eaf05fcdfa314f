"""Ollama API double: a faithful stand-in for ``ollama serve`` used by tests, the local twin and load tests.

See README.md in this directory.
"""
