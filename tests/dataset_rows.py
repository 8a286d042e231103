"""Building test rows of the EHPS / SMPL dataset schemas by hand."""

import datasets
import numpy as np


def empty_value(feature):
    """The blank value of a `datasets` feature (zeros, empty lists, "" or False), for columns a test leaves unused."""
    if isinstance(feature, datasets.Array2D):
        return np.zeros(feature.shape, np.float32)
    if isinstance(feature, datasets.List):
        return [] if feature.length == -1 else [0.0] * feature.length
    return {"string": "", "bool": False}.get(feature.dtype, 0)
