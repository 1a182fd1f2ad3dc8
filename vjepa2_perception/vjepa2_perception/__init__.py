"""V-JEPA 2 on camera topics: the lifecycle encoder node, its model wrapper, buffers and lifecycle client."""
