"""Grading answers: the rubric, the judges, their quotes, the scorecards."""
