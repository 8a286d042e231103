"""Online multi-person tracking: a stable id for each person across the frames of a video.

`PersonTracker.update` takes one frame's person boxes (and optionally their 2D keypoints) and returns a track id
per box. Each track remembers its last box and a smoothed box velocity, so where a person will be is predicted
even across a few frames without a detection (occlusion, a missed detection):

1. predict every live track's box: last box + velocity x frames since it was last seen (constant velocity on
   centre and size, so people approaching the camera keep matching too);
2. similarity of every (track, box) pair: IoU of the predicted and detected boxes, optionally blended with a
   keypoint similarity (OKS-like: `exp(-d^2 / (2 (k s)^2))` averaged over joints, `s` the box's diagonal) that
   separates people whose boxes overlap;
3. greedy matching on the whole similarity matrix: repeatedly take the most similar remaining pair (ties: lower
   track id, then lower box index), stop below `min_similarity`. It gives the optimal assignment whenever every
   track's best box is also that box's best track (the normal case at video frame rates), needs no solver, and
   is exactly reproducible;
4. matched tracks take the new box (velocity updated by exponential smoothing); unmatched boxes start new tracks
   (ids 0, 1, 2, ... in order of appearance, never reused); tracks unmatched for more than `max_age` frames end.

Everything per frame is a handful of NumPy operations on (tracks, boxes) arrays; the only loop is the greedy
matching, one iteration per matched pair.

```python
>>> from smplest_hf.video.tracking import PersonTracker
>>> tracker = PersonTracker(max_age=5)
>>> tracker.update([[10, 10, 50, 100], [200, 10, 50, 100]]).tolist()   # xywh boxes of frame 0
[0, 1]
>>> tracker.update([[204, 12, 50, 100], [14, 11, 50, 100]]).tolist()   # frame 1, listed in the other order
[1, 0]

```
"""

import numpy as np

from ..inference.detection import box_iou_xyxy

# Keypoint similarity falls to exp(-1/2) at a distance of this share of the box diagonal (COCO's OKS uses
# per-joint constants of 0.025-0.107 of the object scale; one value keeps it simple for 137 joints).
KEYPOINT_SIGMA = 0.1


class PersonTracker:
    """Assigns stable ids to people across video frames (see the module docstring).

    Args:
        min_similarity: a track and a box are matched only when their similarity (IoU, or its blend with the
            keypoint similarity) is at least this.
        max_age: a track survives this many consecutive frames without a matching box, then ends.
        keypoint_weight: weight in [0, 1] of the keypoint similarity in the blend (0 = boxes only); keypoints
            must then be passed to `update`.
        velocity_smoothing: in [0, 1): how much of the previous velocity a track keeps at each match (the rest
            comes from the latest displacement).
    """

    def __init__(self, min_similarity: float = 0.2, max_age: int = 15, keypoint_weight: float = 0.0, velocity_smoothing: float = 0.5):
        if not 0.0 < min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be in (0, 1], got {min_similarity}.")
        if not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age must be a non-negative integer (frames), got {max_age!r}.")
        if not 0.0 <= keypoint_weight <= 1.0:
            raise ValueError(f"keypoint_weight must be in [0, 1], got {keypoint_weight}.")
        if not 0.0 <= velocity_smoothing < 1.0:
            raise ValueError(f"velocity_smoothing must be in [0, 1), got {velocity_smoothing}.")
        self.min_similarity = float(min_similarity)
        self.max_age = max_age
        self.keypoint_weight = float(keypoint_weight)
        self.velocity_smoothing = float(velocity_smoothing)
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start from 0 again."""
        self.frame_index = -1
        self._next_id = 0
        self._ids = np.zeros(0, dtype=np.int64)
        self._boxes = np.zeros((0, 4))  # centre x, centre y, width, height
        self._velocity = np.zeros((0, 4))  # per frame
        self._missed = np.zeros(0, dtype=np.int64)  # frames since the last match
        self._keypoints = None  # (tracks, K, 2) when keypoints are used

    @property
    def active_ids(self) -> np.ndarray:
        """Ids of the tracks still alive (matched within the last `max_age` frames), ascending."""
        return self._ids.copy()

    def predicted_boxes(self) -> np.ndarray:
        """(tracks, 4) xywh boxes where the live tracks are expected in the next frame."""
        return _centre_to_xywh(self._predict())

    def update(self, boxes_xywh, keypoints=None) -> np.ndarray:
        """Advance one frame with its person boxes; returns the (K,) int64 track id of each box.

        Args:
            boxes_xywh: (K, 4) person boxes `(x, y, width, height)` in pixels (K may be 0).
            keypoints: (K, J, 2) 2D keypoints of the same people in pixels; required when `keypoint_weight > 0`,
                ignored otherwise.
        """
        boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all() or (boxes[:, 2:] <= 0).any():
            raise ValueError("Person boxes must be finite with positive width and height.")
        if self.keypoint_weight > 0:
            if keypoints is None:
                raise ValueError("This tracker blends in keypoint similarity (keypoint_weight > 0): pass each box's keypoints.")
            keypoints = np.asarray(keypoints, dtype=np.float64)
            if keypoints.ndim != 3 or keypoints.shape[0] != len(boxes) or keypoints.shape[2] != 2:
                raise ValueError(f"keypoints must have shape ({len(boxes)}, J, 2), got {keypoints.shape}.")
        self.frame_index += 1
        detections = _xywh_to_centre(boxes)
        track_rows, box_rows = self._match(detections, keypoints)

        ids = np.empty(len(boxes), dtype=np.int64)
        ids[box_rows] = self._ids[track_rows]
        # Matched tracks: new box, velocity blended with the displacement per frame since the last match.
        steps = (self._missed[track_rows] + 1)[:, None]
        displacement = (detections[box_rows] - self._boxes[track_rows]) / steps
        keep = self.velocity_smoothing
        self._velocity[track_rows] = keep * self._velocity[track_rows] + (1 - keep) * displacement
        self._boxes[track_rows] = detections[box_rows]
        self._missed += 1
        self._missed[track_rows] = 0
        if self.keypoint_weight > 0 and len(track_rows):
            self._keypoints[track_rows] = keypoints[box_rows]

        # Unmatched boxes start tracks, in box order.
        new_rows = np.setdiff1d(np.arange(len(boxes)), box_rows)
        new_ids = self._next_id + np.arange(len(new_rows))
        self._next_id += len(new_rows)
        ids[new_rows] = new_ids
        self._ids = np.concatenate((self._ids, new_ids))
        self._boxes = np.concatenate((self._boxes, detections[new_rows]))
        self._velocity = np.concatenate((self._velocity, np.zeros((len(new_rows), 4))))
        self._missed = np.concatenate((self._missed, np.zeros(len(new_rows), dtype=np.int64)))
        if self.keypoint_weight > 0:
            previous = self._keypoints if self._keypoints is not None else np.zeros((0, *keypoints.shape[1:]))
            self._keypoints = np.concatenate((previous, keypoints[new_rows]))

        # Tracks unseen for more than max_age frames end.
        alive = self._missed <= self.max_age
        self._ids, self._boxes, self._velocity, self._missed = self._ids[alive], self._boxes[alive], self._velocity[alive], self._missed[alive]
        if self._keypoints is not None:
            self._keypoints = self._keypoints[alive]
        return ids

    # ------------------------------------------------------------------------------------------ helpers
    def _predict(self) -> np.ndarray:
        predicted = self._boxes + self._velocity * (self._missed + 1)[:, None]
        predicted[:, 2:] = np.maximum(predicted[:, 2:], 1.0)  # a shrinking box never vanishes
        return predicted

    def _similarity(self, detections: np.ndarray, keypoints) -> np.ndarray:
        """(tracks, boxes) similarity in [0, 1]."""
        similarity = box_iou_xyxy(_centre_to_xyxy(self._predict()), _centre_to_xyxy(detections))
        if self.keypoint_weight > 0 and len(self._ids) and len(detections):
            scale = np.hypot(detections[:, 2], detections[:, 3]) * KEYPOINT_SIGMA  # (boxes,)
            squared = ((self._keypoints[:, None] - keypoints[None]) ** 2).sum(-1)  # (tracks, boxes, J)
            keypoint_similarity = np.exp(-squared / (2 * scale[None, :, None] ** 2)).mean(-1)
            similarity = (1 - self.keypoint_weight) * similarity + self.keypoint_weight * keypoint_similarity
        return similarity

    def _match(self, detections: np.ndarray, keypoints) -> tuple[np.ndarray, np.ndarray]:
        """Greedy matching: (matched track rows, matched box rows)."""
        if not len(self._ids) or not len(detections):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        similarity = self._similarity(detections, keypoints)
        # Rows ordered by track id (already ascending: ids are appended in increasing order), so argmax's
        # first-occurrence rule breaks ties towards the older track, then the earlier box.
        similarity = np.where(similarity >= self.min_similarity, similarity, -np.inf)
        track_rows, box_rows = [], []
        for _ in range(min(similarity.shape)):
            flat = int(np.argmax(similarity))
            row, column = divmod(flat, similarity.shape[1])
            if similarity[row, column] == -np.inf:
                break
            track_rows.append(row)
            box_rows.append(column)
            similarity[row, :] = -np.inf
            similarity[:, column] = -np.inf
        return np.array(track_rows, dtype=np.int64), np.array(box_rows, dtype=np.int64)


def _xywh_to_centre(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate((boxes[:, :2] + boxes[:, 2:] / 2, boxes[:, 2:]), axis=1)


def _centre_to_xywh(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate((boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, 2:]), axis=1)


def _centre_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    return np.concatenate((boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2), axis=1)


__all__ = ["KEYPOINT_SIGMA", "PersonTracker"]
