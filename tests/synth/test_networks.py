import pytest
import torch

from synth.networks import BlockLayout, Discriminator, FrozenGenerator, Generator, gradient_penalty


@pytest.mark.parametrize("cond_dim", [0, 5])
def test_frozen_generator_computes_the_eval_mode_generator(cond_dim):
    torch.manual_seed(0)
    generator = Generator(15 + cond_dim, (16, 8), 12, cond_dim=cond_dim)
    generator.train()
    for _ in range(3):  # give batch norm running statistics that are not the identity
        generator(torch.randn(64, 15 + cond_dim) * 3 + 1)
    generator.eval()
    noise, cond = torch.randn(50, 15), torch.randint(5, (50,)) if cond_dim else None
    x = noise if cond is None else torch.cat([noise, torch.nn.functional.one_hot(cond, cond_dim).float()], dim=1)
    with torch.no_grad():
        expected = generator(x)
    assert torch.allclose(FrozenGenerator(generator, torch.float32)(noise, cond), expected, atol=1e-5)
    assert torch.allclose(FrozenGenerator(generator, torch.bfloat16)(noise, cond), expected, atol=0.1, rtol=0.05)


def test_draw_follows_each_blocks_softmax_with_its_bias():
    widths = [3, 2, 3, 5]  # blocks 0 and 2 share a draw bucket, so buckets are not in layout order
    layout = BlockLayout(1, widths, torch.device("cpu"))
    logits = [torch.tensor(v) for v in ([0.0, 1.0, -1.0], [0.5, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 2.0, -1.0, 0.5])]
    bias = torch.zeros(4, 5)
    bias[0, :3] = torch.tensor([1.0, -1.0, 0.0])
    bias[3, :5] = torch.tensor([0.0, 0.0, -2.0, 1.0, 0.0])
    raw = torch.cat([torch.zeros(1)] + logits).repeat(60_000, 1)
    codes = layout.draw(raw, torch.Generator().manual_seed(0), layout.draw_bias(bias))
    for b, w in enumerate(widths):
        share = torch.bincount(codes[:, b], minlength=w).float() / len(codes)
        assert torch.allclose(share, torch.softmax(logits[b] + bias[b, :w], 0), atol=0.01), b
    one_hot = layout.activate(raw[:3], torch.Generator().manual_seed(0))
    start = 1
    for w in widths:  # every block a distribution over its own columns
        assert torch.allclose(one_hot[:, start:start + w].sum(1), torch.ones(3), atol=1e-5)
        start += w


@pytest.mark.parametrize("cond_dim", [0, 5])
def test_generator_with_looked_up_one_hots_matches_the_dense_input(cond_dim):
    torch.manual_seed(0)
    generator = Generator(8 + cond_dim, (16, 8), 12, cond_dim=cond_dim)
    noise, cond = torch.randn(30, 8), torch.randint(5, (30,)) if cond_dim else None
    dense = noise if cond is None else torch.cat([noise, torch.nn.functional.one_hot(cond, 5).float()], dim=1)
    out = generator.forward_one_hot(noise, cond)
    assert torch.allclose(out, generator(dense), atol=1e-5)
    out.square().sum().backward()
    looked_up = [p.grad.clone() for p in generator.parameters()]
    generator.zero_grad()
    generator(dense).square().sum().backward()
    for a, b in zip(looked_up, (p.grad for p in generator.parameters()), strict=True):
        assert torch.allclose(a, b, atol=1e-4)


def _dense_critic_input(data, cond, cond_dim, pac):
    """A pac group as [its rows' data | their one-hots], the layout the critic's two weights stand for."""
    one_hot = torch.nn.functional.one_hot(cond, cond_dim).float()
    return torch.cat([data.reshape(-1, pac * data.shape[1]), one_hot.reshape(-1, pac * cond_dim)], dim=1)


def _grad(parameter):
    """The gradient, zeros where the loss does not reach (the penalty does not depend on the first bias)."""
    return torch.zeros_like(parameter) if parameter.grad is None else parameter.grad.clone()


def test_critic_penalty_is_the_gradient_norm_over_the_whole_input():
    torch.manual_seed(0)
    data_dim, cond_dim, pac = 6, 4, 2
    critic = Discriminator(data_dim, cond_dim, (16, 8), pac).eval()  # no dropout: both sides see one function
    real, fake, cond = torch.randn(20, data_dim), torch.randn(20, data_dim), torch.randint(cond_dim, (20,))
    part = critic.one_hot_part(cond)
    penalty = gradient_penalty(critic, critic.first_layer(real, part), critic.first_layer(fake, part),
                               torch.Generator().manual_seed(3))
    penalty.backward()
    ours = [_grad(p) for p in critic.parameters()]
    critic.zero_grad()

    # The same penalty by autograd through a dense first layer over the whole input, as CTGAN computes it.
    weight = torch.cat([critic.data_weight, critic.cond_weight.t()], dim=1)
    t = torch.rand(10, 1, generator=torch.Generator().manual_seed(3))
    t = t[:, :, None].expand(10, pac, data_dim).reshape(20, -1)
    mixed = _dense_critic_input(t * real + (1 - t) * fake, cond, cond_dim, pac).requires_grad_(True)
    score = critic.seq(mixed @ weight.t() + critic.bias)
    (grad,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    expected = 10 * ((grad.norm(2, dim=1) - 1) ** 2).mean()
    assert torch.allclose(penalty, expected, atol=1e-5)
    expected.backward()
    for a, b in zip(ours, (_grad(p) for p in critic.parameters()), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    x = _dense_critic_input(real, cond, cond_dim, pac)
    assert torch.allclose(critic(real, critic.one_hot_part(cond)), critic.seq(x @ weight.t() + critic.bias),
                          atol=1e-5)
