"""History of generated images for discriminator updates (Shrivastava et al. 2017, used by
CycleGAN, Zhu et al. 2017, section 4): the discriminator sees a mix of the newest fakes and fakes
from earlier generator versions, which damps oscillation.

Rule, per image of the incoming batch: while the pool holds fewer than `size` images, store the
image and return it. Once full, with probability 1/2 return the image unchanged; otherwise return
a uniformly chosen stored image and put the new one in its place. All randomness comes from the
pool's own `torch.Generator`, and `state_dict()` holds the stored images and that generator's
state, so a resumed run makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch

from stylegen.errors import UserError

__all__ = ["ImagePool"]


class ImagePool:
    """A buffer of up to `size` past generated images; `size = 0` turns the history off."""

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise UserError(f"image pool size {size} must be >= 0 (50 in the paper, 0 = off)")
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Images [N, C, H, W] (detached) -> N images to show the discriminator."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand((), generator=self.rng) < 0.5:
                out.append(img)
            else:
                i = int(torch.randint(self.size, (), generator=self.rng))
                out.append(self.images[i])
                self.images[i] = img.clone()
        return torch.stack(out)

    def state_dict(self) -> dict[str, Any]:
        stored = torch.stack(self.images).cpu() if self.images else torch.zeros(0)
        return {"images": stored, "rng": self.rng.get_state(), "size": self.size}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.size = int(state["size"])
        stored = state["images"]
        self.images = [img.to(device) for img in stored] if stored.ndim == 4 else []
        self.rng.set_state(state["rng"])
