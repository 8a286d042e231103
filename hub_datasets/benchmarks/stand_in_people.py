"""Synthetic people for the benchmark stand-ins: posed, placed and rendered SMPL-X bodies with their parameters.

The stand-ins (``write_stand_in`` of each format) write these people in a benchmark's own file format; this module
only makes them, with the synthetic EHPS generator's pieces (``hub_datasets.synthetic``: random scenes, the body
model, placement in front of the camera, the rasteriser), so a stand-in person looks like a synthetic-dataset one.

Example::

    >>> people = pose_stand_in_people(seed=0, people_per_image=[2, 1], image_size=(240, 320),
    ...                               body_model_dir="body_model")                  # doctest: +SKIP
    >>> people.vertices.shape, people.image_of_person.tolist()                       # doctest: +SKIP
    ((3, 10475, 3), [0, 0, 1])
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from smplest_hf.export.rasterizer import render_meshes
from smplest_hf.models.smplest_x.body_model import SmplxBodyModel, resolve_smplx_directory

from ..synthetic import SyntheticScene, place_people, pose_people, sample_scene, scene_background


@dataclass
class StandInPeople:
    """People of several images, posed in each image's camera frame (metres, OpenCV axes).

    Attributes:
        scenes: one ``SyntheticScene`` per image (camera, colours, light, background seed).
        image_size: ``(height, width)`` the scenes were placed for.
        parameters: float32 SMPL-X parameters per person (``global_orient`` (P, 3), ``body_pose`` (P, 21, 3),
            ``left_hand_pose`` / ``right_hand_pose`` (P, 15, 3) relative to the mean hand, ``jaw_pose`` (P, 3),
            ``betas`` (P, 10), ``expression`` (P, 10), ``transl`` (P, 3)).
        gender: (P,) body model of each person.
        vertices: (P, 10475, 3) float32, translated; ``joints``: (P, 144, 3) float32 ``smplx_144`` joints, translated.
        image_of_person: (P,) index of the person's image.
        faces: (F, 3) mesh triangles.
    """

    scenes: list
    image_size: tuple
    parameters: dict
    gender: np.ndarray
    vertices: np.ndarray
    joints: np.ndarray
    image_of_person: np.ndarray
    faces: np.ndarray

    def people_of_image(self, image: int) -> np.ndarray:
        """Indices of the people in image ``image``."""
        return np.flatnonzero(self.image_of_person == image)

    def move(self, person: int, offset) -> None:
        """Translate one person by ``offset`` (3,) metres (parameters, vertices and joints together)."""
        offset = np.asarray(offset, np.float32)
        self.parameters["transl"][person] += offset
        self.vertices[person] += offset
        self.joints[person] += offset

    def set_camera(self, image: int, focal_length, principal_point) -> None:
        """Give image ``image`` another camera and place its people anew for it (same drawn places in pixels)."""
        scene: SyntheticScene = self.scenes[image]
        scene.focal_length = np.asarray(focal_length, np.float64)
        scene.principal_point = np.asarray(principal_point, np.float64)
        people = self.people_of_image(image)
        old = self.parameters["transl"][people]
        transl = place_people(self.vertices[people] - old[:, None], [scene], self.image_size)
        for person, offset in zip(people, transl - old):
            self.move(person, offset)

    def render(self, image: int, focal_length=None, principal_point=None, image_size=None) -> np.ndarray:
        """(H, W, 3) uint8: the people of ``image`` over its procedural background, through the scene's camera or
        the one given (e.g. a crop's camera, with ``image_size`` the crop's size)."""
        scene: SyntheticScene = self.scenes[image]
        size = tuple(image_size or self.image_size)
        people = self.people_of_image(image)
        return render_meshes(
            self.vertices[people], self.faces,
            scene.focal_length if focal_length is None else focal_length,
            scene.principal_point if principal_point is None else principal_point,
            size, background=scene_background(scene, size), colors=scene.colors,
            light_direction=scene.light_direction, ambient=scene.ambient,
        ).image  # fmt: skip


def pose_stand_in_people(
    seed: int,
    people_per_image: Sequence[int],
    image_size: Sequence[int],
    body_model_dir,
    genders=("neutral",),
) -> StandInPeople:
    """Random people (``synthetic.sample_scene``), posed by the body model and placed in view of each image's camera.

    ``genders``: the body models people are drawn from (each must exist in ``body_model_dir``).
    """
    image_size = tuple(int(side) for side in image_size)
    scenes = [sample_scene(seed, index, int(count), image_size, tuple(genders)) for index, count in enumerate(people_per_image)]
    posed = pose_people(scenes, body_model_dir)
    transl = place_people(posed["vertices"], scenes, image_size)
    parameters = {name: posed[name] for name in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose",
                                                  "jaw_pose", "betas", "expression")}  # fmt: skip
    parameters["transl"] = transl
    faces = SmplxBodyModel.from_directory(resolve_smplx_directory(body_model_dir), "neutral").faces.numpy()
    return StandInPeople(
        scenes=scenes,
        image_size=image_size,
        parameters=parameters,
        gender=np.asarray(posed["gender"]),
        vertices=posed["vertices"] + transl[:, None],
        joints=posed["smplx_joints"] + transl[:, None],
        image_of_person=np.repeat(np.arange(len(scenes)), [scene.num_people for scene in scenes]),
        faces=faces,
    )


__all__ = ["StandInPeople", "pose_stand_in_people"]
