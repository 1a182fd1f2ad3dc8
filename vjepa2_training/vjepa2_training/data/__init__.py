"""Recording, rosbag and DROID conversion, the episode format and the clip datasets."""
