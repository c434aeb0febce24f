"""Subnet search: evolution under a latency constraint, accuracy predictors, OFA latency tables."""
