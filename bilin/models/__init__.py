"""The networks (bilinear and ReLU MLPs, the CNN) and their checkpoints: saved with a checksum,
loaded verified."""
