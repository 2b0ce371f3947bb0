"""Temporary progress bar (replaced by the tqdm one)."""

import sys


class ProgressBar:
    def __init__(self, total, stream=None, **kwargs):
        self.total, self.stream = total, stream or sys.stderr

    def update(self, evaluations, losses, note=""):
        print(
            f"{evaluations}/{self.total} evals loss {losses['total']:.4g} {note}", file=self.stream
        )

    def close(self):
        pass
