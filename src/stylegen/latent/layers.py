"""Which entries of ws drive which layers: the coarse / middle / fine style groups of Karras et al.
2019 ("A Style-Based Generator Architecture for Generative Adversarial Networks", section 3.1), and
the style-affine layers that SeFa factorises.

StyleGAN2 (Karras et al. 2020): a style scales the *input* channels of its convolution, so ws index
i acts on feature maps of 4 * 2**(i // 2) pixels: index 0 drives the 4x4 convolution, index 1 the
upsampling convolution of the 8x8 block (its input is 4x4) and the 4x4 ToRGB, index 2 the second
8x8 convolution, and so on; the last index drives only the final ToRGB. This reproduces the paper's
grouping exactly: coarse = 4-8 px = indices 0-3, middle = 16-32 px = 4-7, fine = 64 px and up =
8 onwards (for 1024x1024, num_ws = 18: 0-3, 4-7, 8-17). A 32x32 network has no fine styles.

StyleGAN3 (Karras et al. 2021) has no per-resolution blocks: index 0 drives the Fourier input and
index i >= 1 synthesis layer i - 1 (the last one is ToRGB). Cutoff frequencies grow geometrically
with the layer index (alias-free paper, section 3.2), so equal spans of indices are equal octave
bands: we split the num_ws indices into thirds, coarse = [0, round(n/3)), middle =
[round(n/3), round(2n/3)), fine = the rest (n = 16: 0-4, 5-10, 11-15).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stylegen.errors import UserError

if TYPE_CHECKING:  # no torch at import: the CLI's --help reads STYLE_GROUPS_HELP
    from torch import nn

__all__ = [
    "GROUP_NAMES",
    "STYLE_GROUPS_HELP",
    "StyleAffine",
    "describe_groups",
    "family",
    "format_indices",
    "parse_styles",
    "style_affines",
    "style_groups",
    "ws_resolutions",
]

GROUP_NAMES = ("coarse", "middle", "fine")

STYLE_GROUPS_HELP = (
    "coarse/middle/fine: StyleGAN2 by the resolution each style acts on, coarse = 4-8 px "
    "(ws 0-3), middle = 16-32 px (ws 4-7), fine = 64 px and up (ws 8 and up); StyleGAN3 by "
    "index, the num_ws styles split in thirds (16 ws: 0-4, 5-10, 11-15)"
)

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def family(G: nn.Module) -> str:
    """'stylegan2' or 'stylegan3' from the synthesis network's structure; UserError otherwise."""
    synthesis = getattr(G, "synthesis", None)
    if synthesis is not None and hasattr(synthesis, "block_resolutions"):
        return "stylegan2"
    if synthesis is not None and hasattr(synthesis, "layer_names"):
        return "stylegan3"
    raise UserError(
        f"style control needs a StyleGAN2 or StyleGAN3 generator; got {type(G).__name__} "
        "(a CycleGAN translator or a discriminator?)"
    )


def ws_resolutions(G: nn.Module) -> list[int]:
    """StyleGAN2: the feature-map size (pixels) each ws index modulates (see module docstring)."""
    if family(G) != "stylegan2":
        raise UserError("ws resolutions exist only for StyleGAN2; StyleGAN3 groups by index")
    return [min(4 * 2 ** (i // 2), G.img_resolution) for i in range(G.num_ws)]


def style_groups(G: nn.Module) -> dict[str, list[int]]:
    """{'coarse': [...], 'middle': [...], 'fine': [...]}: ws indices per group (maybe empty)."""
    kind = family(G)
    n = int(G.num_ws)
    if kind == "stylegan2":
        res = ws_resolutions(G)
        return {
            "coarse": [i for i in range(n) if res[i] <= 8],
            "middle": [i for i in range(n) if 16 <= res[i] <= 32],
            "fine": [i for i in range(n) if res[i] >= 64],
        }
    a, b = round(n / 3), round(2 * n / 3)
    return {"coarse": list(range(a)), "middle": list(range(a, b)), "fine": list(range(b, n))}


def format_indices(indices: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'; [] -> 'none'."""
    if not indices:
        return "none"
    spans = [[indices[0], indices[0]]]
    for cur in indices[1:]:
        if cur == spans[-1][1] + 1:
            spans[-1][1] = cur
        else:
            spans.append([cur, cur])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def describe_groups(G: nn.Module) -> str:
    """One line: 'num_ws 8: coarse 0-3, middle 4-7, fine none'."""
    groups = style_groups(G)
    text = ", ".join(f"{name} {format_indices(groups[name])}" for name in GROUP_NAMES)
    return f"num_ws {G.num_ws}: {text}"


def parse_styles(text: str | list[int], G: nn.Module, what: str = "--styles") -> list[int]:
    """'0-6', '0,2,4-5', 'coarse', 'middle,fine' or 'all' -> sorted ws indices, checked."""
    n = int(G.num_ws)
    valid = f"use indices 0-{n - 1} or coarse/middle/fine/all ({describe_groups(G)})"
    if isinstance(text, list | tuple):
        indices = [int(i) for i in text]
    else:
        groups = style_groups(G)
        indices = []
        for part in str(text).split(","):
            part = part.strip().lower()
            m = _RANGE.match(part)
            if part == "all":
                indices.extend(range(n))
            elif part in groups:
                if not groups[part]:
                    raise UserError(f"{what} {text!r}: this network has no {part} styles; {valid}")
                indices.extend(groups[part])
            elif m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise UserError(f"{what} range {part!r} is backwards; write it as {hi}-{lo}")
                indices.extend(range(lo, hi + 1))
            elif part.isdigit():
                indices.append(int(part))
            else:
                raise UserError(f"{what} {text!r} is malformed (bad part {part!r}); {valid}")
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise UserError(f"{what} {text!r}: index {bad[0]} is out of range; {valid}")
    if not indices:
        raise UserError(f"{what} is empty; {valid}")
    return sorted(set(indices))


@dataclass(frozen=True)
class StyleAffine:
    """One style affine layer (w -> per-channel scales): its ws index and module name in G."""

    ws_index: int
    name: str
    module: nn.Module
    is_torgb: bool


def style_affines(G: nn.Module) -> list[StyleAffine]:
    """Every style affine of the synthesis network in ws order (the StyleGAN3 input's affine,
    which predicts a transform rather than channel scales, is left out)."""
    out: list[StyleAffine] = []
    synthesis = G.synthesis
    if family(G) == "stylegan2":
        w_idx = 0
        for res in synthesis.block_resolutions:
            block = getattr(synthesis, f"b{res}")
            idx = w_idx
            for conv in ("conv0", "conv1"):
                if hasattr(block, conv):
                    layer = getattr(block, conv)
                    out.append(StyleAffine(idx, f"b{res}.{conv}.affine", layer.affine, False))
                    idx += 1
            if hasattr(block, "torgb"):
                out.append(StyleAffine(idx, f"b{res}.torgb.affine", block.torgb.affine, True))
            w_idx += block.num_conv
        return out
    for i, name in enumerate(synthesis.layer_names):
        layer = getattr(synthesis, name)
        out.append(StyleAffine(i + 1, f"{name}.affine", layer.affine, bool(layer.is_torgb)))
    return out
