"""``lookalike fit``: a learned distance for any dataset, chosen on training classes only, within a budget."""

from lookalike.fitting.fit import FitResult, detect_modality, fit
from lookalike.fitting.space import Candidate, SearchSpace, load_space

__all__ = ["Candidate", "FitResult", "SearchSpace", "detect_modality", "fit", "load_space"]
