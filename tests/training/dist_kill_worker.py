"""A `stylegen` entry point for tests that SIGKILLs one rank mid-run (started by torchrun).

Usage: torchrun ... dist_kill_worker.py RANK NIMG train --data ...
Rank RANK kills itself right after the minibatch that reaches NIMG images, as a crashed GPU or
lost node would; every other argument goes to `stylegen`.
"""

import os
import signal
import sys

from stylegen.commands import main
from stylegen.training.stylegan import StyleGANStep


def _install(kill_rank: int, kill_nimg: int) -> None:
    step = StyleGANStep.train_step

    def train_step_then_maybe_die(self, cur_nimg: int, batch_idx: int) -> int:
        skipped = step(self, cur_nimg, batch_idx)
        if self.dist.rank == kill_rank and cur_nimg + self.batch >= kill_nimg:
            os.kill(os.getpid(), signal.SIGKILL)
        return skipped

    StyleGANStep.train_step = train_step_then_maybe_die


if __name__ == "__main__":
    _install(int(sys.argv[1]), int(sys.argv[2]))
    raise SystemExit(main(sys.argv[3:]))
