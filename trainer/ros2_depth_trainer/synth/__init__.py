"""
Procedural RGB-D scenes with exact depth, surface normals and labels (the generated data).

Modules, from geometry to files: ``raycast`` (vectorised ray casting of boxes with recessed
openings, cylinders, spheres and planes), ``camera`` (poses, intrinsics, tiled camera rays),
``materials`` and ``textures`` (procedural albedo), ``shading`` (lights, shadows), ``scene``
(the scene and its sky), ``indoor``, ``street`` and ``robot`` (random scene builders; robot:
close-range desks, shelves, kitchens, floors, corridors), ``scenes`` (a
random scene with a camera in it, and the ranges they are drawn from), ``sensor`` (camera and
depth-sensor effects), ``render`` (one frame), ``sample`` (one numbered sample of a seed),
``writer`` (the folder format), ``trajectory`` (camera paths for bags), ``preview`` (the
sheet), ``classes`` (the one class list) and ``frame`` (the Frame handed to the bag writer).
See docs/synthetic_data.md.
"""
