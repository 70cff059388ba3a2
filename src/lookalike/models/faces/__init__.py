"""Faces: dlib detection + 5-point alignment, the ``face:dlib`` encoder (pip extra ``faces``).

Importing this package does not import dlib; that happens when a face model is built or an image searched.
"""

from lookalike.models.faces.detect import (
    Face,
    FaceCheck,
    FaceChipTransform,
    FaceEmbedding,
    FaceOptions,
    face_detection_rate,
    find_faces,
    looks_like_faces,
)
from lookalike.models.faces.encoder import DlibFaceEncoder, face_encoder

__all__ = [
    "DlibFaceEncoder",
    "Face",
    "FaceCheck",
    "FaceChipTransform",
    "FaceEmbedding",
    "FaceOptions",
    "face_detection_rate",
    "face_encoder",
    "find_faces",
    "looks_like_faces",
]
