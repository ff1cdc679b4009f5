"""ImageNet's per-channel normalisation: what pretrained encoders expect and what the data transforms apply.

A module of constants with no imports, so models and data both depend on it rather than on each other.
"""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
