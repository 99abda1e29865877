"""IQL critic: expectile loss in closed form, batched twin Q, TD target, Polyak update."""

from __future__ import annotations

import torch

from genpolicy.rl.critics import (
    CriticConfig,
    EnsembleLinear,
    EnsembleMLP,
    IQLCritic,
    expectile_loss,
)


def test_expectile_loss_matches_closed_form() -> None:
    u = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    tau = 0.7
    expected = torch.tensor([0.3 * 4.0, 0.3 * 0.25, 0.0, 0.7 * 0.25, 0.7 * 9.0])
    torch.testing.assert_close(expectile_loss(u, tau), expected)


def test_expectile_minimiser_is_the_expectile() -> None:
    # The tau-expectile m of samples x solves tau E[(x-m)+] = (1-tau) E[(m-x)+]; fitting a
    # scalar by gradient descent on the expectile loss must land on it.
    x = torch.tensor([0.0, 1.0, 2.0, 10.0])
    tau = 0.9
    m = torch.zeros((), requires_grad=True)
    opt = torch.optim.SGD([m], lr=0.05)
    for _ in range(3000):
        opt.zero_grad()
        expectile_loss(x - m, tau).mean().backward()
        opt.step()
    # closed form on the bracket where 2 < m < 10: 0.9 (10 - m) = 0.1 (3m - 3)
    m_star = (9.0 + 0.3) / (0.9 + 0.3)
    assert abs(m.item() - m_star) < 1e-3


def test_ensemble_equals_separate_mlps() -> None:
    torch.manual_seed(0)
    ens = EnsembleMLP(3, 5, 1, hidden=8, depth=2)
    x = torch.randn(7, 5)
    out = ens(x)
    assert out.shape == (3, 7, 1)
    for i in range(3):
        h = x
        for j, layer in enumerate(ens.layers):
            assert isinstance(layer, EnsembleLinear)
            h = h @ layer.weight[i].T + layer.bias[i]
            if j < len(ens.layers) - 1:
                h = torch.relu(h)
        torch.testing.assert_close(out[i], h)
    # per-member inputs (n, B, d) and EnsembleLinear alone agree with the same sums
    xs = torch.randn(3, 7, 5)
    layer = ens.layers[0]
    assert isinstance(layer, EnsembleLinear)
    torch.testing.assert_close(layer(xs)[1], xs[1] @ layer.weight[1].T + layer.bias[1])
    torch.testing.assert_close(ens(xs)[2], ens(xs[2])[2])


def test_td_target_and_polyak() -> None:
    torch.manual_seed(0)
    critic = IQLCritic(3, 2, CriticConfig(hidden=16, gamma=0.9, polyak=0.5))
    obs, act, nxt = torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 3)
    rew, term = torch.tensor([1.0, 0.0, -1.0, 2.0]), torch.tensor([0.0, 1.0, 0.0, 1.0])
    _, q_loss = critic.losses(obs, act, rew, nxt, term)
    with torch.no_grad():
        target = rew + 0.9 * (1 - term) * critic.value(nxt)
        expected = ((critic.q_values(obs, act) - target) ** 2).mean(1).sum()
    torch.testing.assert_close(q_loss, expected)
    before = [p.clone() for p in critic.q_target.parameters()]
    online = [p.clone() for p in critic.q.parameters()]
    critic.update(obs, act, rew, nxt, term)
    online_after = list(critic.q.parameters())
    for b, t, o in zip(before, critic.q_target.parameters(), online_after, strict=True):
        torch.testing.assert_close(t, 0.5 * b + 0.5 * o.detach())
    assert any(not torch.equal(a, b) for a, b in zip(online, online_after, strict=True))
    assert all(not p.requires_grad for p in critic.q_target.parameters())
