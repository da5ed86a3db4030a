"""Style groups and style affines against what the synthesis network actually feeds each layer."""

import pytest
import torch

from stylegen.errors import UserError
from stylegen.latent.layers import (
    describe_groups,
    format_indices,
    parse_styles,
    style_affines,
    style_groups,
    ws_resolutions,
)
from tests.latent.conftest import tiny_generator


def _affine_inputs(G):
    """Run synthesis with ws[:, i] = i and record the w each affine sees: {name: ws index}."""
    seen = {}
    hooks = []
    for name, module in G.synthesis.named_modules():
        if name.endswith("affine"):

            def hook(mod, args, out, name=name):
                seen[name] = int(round(float(args[0][0, 0])))

            hooks.append(module.register_forward_hook(hook))
    ws = torch.arange(G.num_ws, dtype=torch.float32).view(1, -1, 1).repeat(1, 1, G.w_dim)
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3-t"])
def test_style_affines_match_the_ws_rows_the_network_feeds(arch):
    G = tiny_generator(
        arch=arch, **({"num_layers": 4, "num_critical": 1} if arch != "stylegan2" else {})
    )
    seen = _affine_inputs(G)
    listed = {a.name[: -len(".affine")] + ".affine": a.ws_index for a in style_affines(G)}
    if arch == "stylegan3-t":
        assert seen.pop("input.affine") == 0  # the Fourier input's transform, not a style
    assert listed == seen
    assert [a.is_torgb for a in style_affines(G)].count(True) == (3 if arch == "stylegan2" else 1)


def test_stylegan2_groups_follow_the_paper_by_resolution():
    G32 = tiny_generator(resolution=32)
    assert ws_resolutions(G32) == [4, 4, 8, 8, 16, 16, 32, 32]
    assert style_groups(G32) == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": []}
    G128 = tiny_generator(resolution=128)
    assert G128.num_ws == 12
    groups = style_groups(G128)
    assert groups["coarse"] == [0, 1, 2, 3] and groups["middle"] == [4, 5, 6, 7]
    assert groups["fine"] == [8, 9, 10, 11]
    assert describe_groups(G128) == "num_ws 12: coarse 0-3, middle 4-7, fine 8-11"


def test_stylegan3_groups_are_thirds_by_index(G3):
    G = tiny_generator(arch="stylegan3-t")  # the paper's 14 layers: num_ws 16
    assert G.num_ws == 16
    assert style_groups(G) == {
        "coarse": list(range(0, 5)),
        "middle": list(range(5, 11)),
        "fine": list(range(11, 16)),
    }
    assert style_groups(G3) == {"coarse": [0, 1], "middle": [2, 3], "fine": [4, 5]}
    with pytest.raises(UserError, match="only for StyleGAN2"):
        ws_resolutions(G3)


def test_parse_styles(G2):
    assert G2.num_ws == 6
    assert parse_styles("0-2", G2) == [0, 1, 2]
    assert parse_styles("0,2,4-5", G2) == [0, 2, 4, 5]
    assert parse_styles("coarse", G2) == [0, 1, 2, 3]
    assert parse_styles("middle", G2) == [4, 5]
    assert parse_styles("all", G2) == list(range(6))
    assert parse_styles([5, 1], G2) == [1, 5]
    assert format_indices([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


@pytest.mark.parametrize(
    "text, msg",
    [
        ("0-9", r"index 6 is out of range; use indices 0-5 .*coarse 0-3, middle 4-5, fine none"),
        ("fine", "this network has no fine styles"),
        ("4-2", "backwards; write it as 2-4"),
        ("x", "malformed"),
        ("", "malformed"),
    ],
)
def test_parse_styles_errors(G2, text, msg):
    with pytest.raises(UserError, match=msg):
        parse_styles(text, G2)


def test_non_stylegan_is_refused():
    with pytest.raises(UserError, match="needs a StyleGAN2 or StyleGAN3 generator"):
        style_groups(torch.nn.Linear(2, 2))
