"""The person front end end to end on real photos (scikit-image's bundled astronaut) and on non-people."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.data import astronaut, brick, chelsea

from bodynet_cli.errors import BodyNetError
from bodynet_cli.geometry.space import Crop
from bodynet_cli.people import FrontEnd, Person


@pytest.fixture(scope="module")
def front():
    return FrontEnd()


@pytest.fixture(scope="module")
def photos(front):
    a = astronaut()
    two = np.concatenate([a, a], axis=1)
    return {"astronaut": a, "two": two}, front.detect([a, two])


def _inside(points, box, margin=0.0):
    return np.all((points[:, 0] >= box[0] - margin) & (points[:, 0] <= box[2] + margin)
                  & (points[:, 1] >= box[1] - margin) & (points[:, 1] <= box[3] + margin))


def test_astronaut_is_one_person(photos):
    images, (people, _) = photos
    assert len(people) == 1
    p = people[0]
    assert isinstance(p, Person) and p.score >= 0.5 and p.pose_score >= 0.5
    assert p.landmarks.shape == (33, 3) and p.joints2d.shape == (16, 2) and p.joints2d_score.shape == (16,)
    # She fills the photo: her box covers most of it; every confident joint lies in her box.
    x0, y0, x1, y1 = p.box
    assert x0 < 60 and y1 > 480 and x1 - x0 > 300 and y1 - y0 > 400
    assert _inside(p.joints2d[p.joints2d_score > 0.5], p.box)
    # Her face: the nose near (222, 128) (MediaPipe's own pipeline puts it at 222.7, 128.0).
    assert np.linalg.norm(p.landmarks[0, :2] - [222.7, 128.0]) < 8
    # The head joint is above the neck, the neck above the thorax (she stands upright).
    assert p.joints2d[9, 1] < p.joints2d[8, 1] < p.joints2d[7, 1]
    # Her mask: high on her chest, low in the sky left of her head.
    m = p.mask_in(Crop(0.0, 0.0, 512.0, 512))
    assert m[300, 250] > 0.9 and m[40, 40] < 0.1


def test_two_astronauts_side_by_side(photos):
    images, (_, people) = photos
    assert len(people) == 2
    boxes = sorted((p.box for p in people), key=lambda b: b[0])
    assert boxes[0][2] <= boxes[1][0]  # disjoint
    for b, x_off in zip(boxes, (0, 512), strict=True):
        # Within its copy (the mask may blur a few pixels across the seam, where her arm meets it).
        assert b[0] >= x_off - 8 and b[2] <= x_off + 512 + 8
        assert b[2] - b[0] > 250 and b[3] - b[1] > 350  # and covering it
    areas = [(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]) for p in people]
    assert areas == sorted(areas, reverse=True)


def test_batched_detection_equals_one_by_one(front, photos):
    images, batched = photos
    alone = front.detect([images["two"]])[0]
    assert len(alone) == len(batched[1])
    for p, q in zip(alone, batched[1], strict=True):
        np.testing.assert_allclose(p.landmarks, q.landmarks, atol=1e-2)
    assert front.detect([]) == []


@pytest.mark.parametrize("kind", ["noise", "wall", "brick", "cat"])
def test_no_person_in_noise_walls_or_a_cat(front, kind):
    rng = np.random.default_rng(0)
    image = {
        "noise": lambda: rng.integers(0, 256, (360, 480, 3), dtype=np.uint8),
        "wall": lambda: np.full((300, 500, 3), (200, 190, 170), np.uint8),
        "brick": lambda: np.repeat(brick()[..., None], 3, axis=-1),
        "cat": chelsea,
    }[kind]()
    assert front.detect([image]) == [[]]


def test_wrong_image_type_is_a_user_error(front):
    with pytest.raises(BodyNetError, match="uint8"):
        front.detect([np.zeros((10, 10, 3), np.float32)])


def test_missing_networks_say_how_to_build_them(tmp_path):
    with pytest.raises(BodyNetError, match="build_blazepose"):
        FrontEnd(assets=tmp_path)
