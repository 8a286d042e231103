"""Images in, people out: the inference pipeline, the transformers pipeline task, person detection, image
reading, camera placement, and folder runs into an output directory (`smplest-x infer`)."""
