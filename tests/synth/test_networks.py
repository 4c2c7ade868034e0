import torch

from synth.networks import BlockLayout, FrozenGenerator, Generator


def test_frozen_generator_computes_the_eval_mode_generator():
    torch.manual_seed(0)
    generator = Generator(20, (16, 8), 12)
    generator.train()
    for _ in range(3):  # give batch norm running statistics that are not the identity
        generator(torch.randn(64, 20) * 3 + 1)
    generator.eval()
    x = torch.randn(50, 20)
    with torch.no_grad():
        expected = generator(x)
    assert torch.allclose(FrozenGenerator(generator, torch.float32)(x), expected, atol=1e-5)
    assert torch.allclose(FrozenGenerator(generator, torch.bfloat16)(x), expected, atol=0.1, rtol=0.05)


def test_draw_follows_the_block_softmax():
    layout = BlockLayout(1, [2, 3], torch.device("cpu"))
    raw = torch.tensor([[0.0, 0.0, 0.0, 2.0, 0.0, -1e9]]).repeat(40_000, 1)  # block 0: 50/50; block 1: e^2:1:0
    codes = layout.draw(raw, torch.Generator().manual_seed(0))
    assert abs(codes[:, 0].float().mean().item() - 0.5) < 0.01
    share = torch.bincount(codes[:, 1], minlength=3).float() / len(codes)
    expected = torch.softmax(torch.tensor([2.0, 0.0, -1e9]), 0)
    assert torch.allclose(share, expected, atol=0.01)
    one_hot = layout.activate(raw[:3], torch.Generator().manual_seed(0))
    assert one_hot.shape == (3, 6) and torch.allclose(one_hot[:, 1:3].sum(1), torch.ones(3))
