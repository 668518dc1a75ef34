"""
The demo and its tools, apart from the node: nothing here is imported by ``depth_node``.

- ``run``: ``ros2-depth demo``, the sample bags replayed through a live depth_node, results on
  disk;
- ``bag_source``: camera frames read from rosbag2 files;
- ``depth_client``: starts depth_node, publishes camera frames to it and collects what it
  publishes;
- ``visualize``: colour maps, labelled picture sheets and PLY point clouds;
- ``scene``: a ray-cast corridor with exact depth, for tests;
- ``bag_processing``: ``ros2-depth process-bag``, a bag copied with the node's outputs added;
- ``image_files``: ``ros2-depth infer``, depth, normals, labels and point clouds of image files.
"""
