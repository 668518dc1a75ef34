"""
Datasets for training and evaluation.

Every dataset returns samples as dicts of tensors with these keys (absent when the dataset has no
such ground truth):

- ``image``: float32 (3, H, W), RGB in [0, 1] (normalisation happens at the model's input);
- ``depth``: float32 (1, H, W), metres, 0 where invalid;
- ``normals``: float32 (3, H, W), unit vectors in the camera optical frame, 0 where invalid;
- ``labels``: int64 (H, W), class ids, 0 = unlabelled;
- ``intrinsics``: float32 (4,), fx, fy, cx, cy of this (cropped, scaled) image in pixels.
"""
