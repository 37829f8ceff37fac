"""fakeproto's codes and its typed anomaly kinds."""

from enum import StrEnum


class FakeAnomaly(StrEnum):
    BAD_ANSWER = "bad-answer"
