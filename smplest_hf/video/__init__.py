"""Videos: reading and writing frames, tracking people across frames, temporal smoothing, and video runs
into an output directory (`smplest-x infer VIDEO`)."""
