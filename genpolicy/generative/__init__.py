"""The generative core: probability paths, networks, ODE/SDE solvers, the exact trace of
the velocity field's Jacobian, and the models built from them (diffusion, flow, flow map).

Nothing here knows about rewards: a model maps a state and noise to an action along a path.
"""
