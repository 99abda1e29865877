"""Reinforcement learning: critics, the optimiser helpers and the algorithms that combine
a generative model with a critic."""
