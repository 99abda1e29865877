"""Making D4RL-layout datasets: behaviour agents, rollouts, the v5 suite and maze data."""
