"""The hidden half of an instructor's own exercise (README "Your own exercise"): the grader
reads it from the --source folder; students never get it."""

import numpy as np

CHECKS = {
    "mean_colour": {
        "what": "the mean colour",
        # hidden inputs: a list of argument tuples, drawn from the grading run's generator
        "inputs": lambda rng: [(rng.integers(0, 256, (h, w, 3)).astype(np.uint8),)
                               for h, w in [(4, 5), (7, 3), (16, 9)]],
        "reference": lambda image: np.asarray(image, np.float64).mean(axis=(0, 1)),
        "points": 2,
        "mistakes": [
            ("you averaged over the channels too: average over the rows and columns only, "
             "axis=(0, 1)", lambda image: np.asarray(image, np.float64).mean()),
            ("you summed: divide by the number of pixels (or use .mean)",
             lambda image: np.asarray(image, np.float64).sum(axis=(0, 1))),
        ],
    },
}
