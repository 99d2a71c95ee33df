"""Benchmarks for GridCity: `python -m bench [routing|intake]`. Not tests: they print numbers."""
