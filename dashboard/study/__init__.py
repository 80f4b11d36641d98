"""The study format: schema, writer, reader, validation, provenance."""

from dashboard.study.reader import Study
from dashboard.study.validate import Problem, StudyValidationError, validate_study
from dashboard.study.writer import StudyExistsError, StudyWriter

__all__ = [
    "Problem",
    "Study",
    "StudyExistsError",
    "StudyValidationError",
    "StudyWriter",
    "validate_study",
]
