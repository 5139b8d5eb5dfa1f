"""Scaling research: ladders of model sizes under compute budgets, their results (results.jsonl), power-law
and Chinchilla fits with bootstrap intervals (fit.json), and plots. See docs/scaling.md."""
